"""Keep deploy/kuberay/rayservice.yaml's embedded ``serveConfigV2`` equal to serve_configs/gpu.yaml.

    python -m crossrec.ops.kuberay sync     # rewrite the embedded serve config from serve_configs/gpu.yaml
    python -m crossrec.ops.kuberay check    # exit 1 when they differ (CI runs the same check as a test)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
SERVE_CONFIG = REPO / "serve_configs" / "gpu.yaml"
RAYSERVICE = REPO / "deploy" / "kuberay" / "rayservice.yaml"
# KubeRay's serveConfigV2 holds the Serve config's applications (cluster-level settings come from the CRD).
EMBEDDED_KEYS = ("applications", "proxy_location", "http_options")


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the embedded serve config) as readable ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _str)


def serve_config_for_kuberay(serve_config: dict) -> dict:
    return {k: serve_config[k] for k in EMBEDDED_KEYS if k in serve_config}


def embedded(rayservice: dict) -> dict:
    return yaml.safe_load(rayservice["spec"]["serveConfigV2"])


def sync(serve_path: Path = SERVE_CONFIG, manifest_path: Path = RAYSERVICE) -> bool:
    """Rewrite the manifest's serveConfigV2 when it differs. Returns True when it changed."""
    manifest = yaml.safe_load(manifest_path.read_text())
    want = serve_config_for_kuberay(yaml.safe_load(serve_path.read_text()))
    if embedded(manifest) == want:
        return False
    manifest["spec"]["serveConfigV2"] = yaml.safe_dump(want, sort_keys=False)
    header = "# KubeRay RayService serving crossrec with serve_configs/gpu.yaml (kept in sync by\n" \
             "# `python -m crossrec.ops.kuberay sync`; a test fails when they differ).\n"
    manifest_path.write_text(header + yaml.dump(manifest, Dumper=_BlockDumper, sort_keys=False, width=120))
    return True


def main(argv: list[str] | None = None) -> int:
    cmd = (argv or sys.argv[1:] or ["check"])[0]
    if cmd == "sync":
        print("updated" if sync() else "already in sync", RAYSERVICE)
        return 0
    same = embedded(yaml.safe_load(RAYSERVICE.read_text())) == serve_config_for_kuberay(
        yaml.safe_load(SERVE_CONFIG.read_text()))
    print("in sync" if same else f"{RAYSERVICE} differs from {SERVE_CONFIG}: run python -m crossrec.ops.kuberay sync")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
