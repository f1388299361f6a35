"""Bundle integrity: a ``manifest.json`` listing every file with its size and sha256, the backbone identity
and format version; :func:`verify_bundle` refuses a missing, truncated or altered file by name."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from crossrec import __version__
from crossrec.errors import BundleError
from crossrec.utils.io import atomic_write_json

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_manifest(directory: Path, backbone_identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """Checksum every file under ``directory`` (except the manifest) and write ``manifest.json``."""
    directory = Path(directory)
    files = {
        str(p.relative_to(directory)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    bundle_hash = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    manifest = {
        "manifest_format": MANIFEST_FORMAT,
        "crossrec_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backbone": backbone_identity,
        "bundle_hash": bundle_hash,
        "files": files,
    }
    atomic_write_json(directory / MANIFEST, manifest)
    return manifest


def verify_bundle(directory: Path) -> dict[str, Any]:
    """Check every listed file exists with the recorded size and checksum. Returns the manifest."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path}: manifest missing; not a complete crossrec bundle")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise BundleError(f"{path}: unreadable manifest ({err})") from None
    for rel, entry in files.items():
        f = directory / rel
        if not f.is_file():
            raise BundleError(f"{f}: listed in the manifest but missing")
        if f.stat().st_size != entry["bytes"]:
            raise BundleError(f"{f}: size {f.stat().st_size} bytes, manifest says {entry['bytes']} (truncated?)")
        if sha256_file(f) != entry["sha256"]:
            raise BundleError(f"{f}: checksum mismatch (corrupted or modified)")
    return manifest


BACKBONE_KEYS = ("model_type", "hidden_size", "config_sha256")


def same_backbone(recorded: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
    """Whether two backbone identities (see ``crossrec.model.backbone.backbone_identity``) are the same model."""
    recorded, current = recorded or {}, current or {}
    return all(recorded.get(k) == current.get(k) for k in BACKBONE_KEYS)


def describe_backbone(identity: dict[str, Any] | None) -> str:
    """``'path' (bert, hidden 384)`` for error messages."""
    identity = identity or {}
    return f"{identity.get('name_or_path')!r} ({identity.get('model_type')}, hidden {identity.get('hidden_size')})"
