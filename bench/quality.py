"""Quality benchmark: crossrec variants against baselines on the BENCHMARK.md protocol, side by side.

    python bench/quality.py --config bench/configs/quality_ml1m.yaml          # ML-1M family + thriller
    python bench/quality.py --config ... --targets family --methods mostpop crossrec_full
    python bench/quality.py --config ... --report-only                       # re-render from cached results

Every (target, method, seed) result is cached under the config's ``work_dir``; a rerun resumes. Writes
``<out_dir>/<name>.{md,json,png}``: the table of test NDCG@10 overall / cold / warm, ratios of crossrec to
the best baseline, wall times, the plot and this command line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from benchlib import machine_info
from crossrec.benchmarks.quality_config import QualityConfig
from crossrec.benchmarks.quality_report import aggregate, comparisons, write_report
from crossrec.benchmarks.quality_run import method_key, result_path, run_quality
from crossrec.errors import CrossrecError
from crossrec.train.config import TrainConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="quality benchmark YAML (see bench/configs/)")
    ap.add_argument("--dataset", help="override: canonical dataset dir or raw RecBole dir")
    ap.add_argument("--targets", nargs="+", help="override: target domains")
    ap.add_argument("--methods", nargs="+", help="run only these methods (others are reported from the cache)")
    ap.add_argument("--seeds", nargs="+", type=int, help="override: seeds")
    ap.add_argument("--work-dir", help="override: result cache directory")
    ap.add_argument("--out-dir", help="override: where the page, JSON and plot go")
    ap.add_argument("--report-only", action="store_true", help="render the page from cached results only")
    args = ap.parse_args(argv)
    command = "python bench/quality.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        cfg = QualityConfig.from_yaml(args.config)
        upd = {k: v for k, v in {"dataset": args.dataset, "targets": args.targets, "seeds": args.seeds,
                                 "work_dir": args.work_dir, "out_dir": args.out_dir}.items() if v is not None}
        if args.dataset:
            upd["synthetic"] = None
        cfg = QualityConfig.from_dict({**cfg.model_dump(), **upd}, source=args.config).resolve_paths(Path.cwd())
        t0 = time.perf_counter()
        if args.report_only:
            rows = cached_rows(cfg)
        else:
            rows = run_quality(cfg, args.methods)
            rows = merge_with_cache(rows, cfg)
        meta = {"command": command, "config": args.config, "machine": machine_info(),
                "wall_minutes": (time.perf_counter() - t0) / 60,
                "dataset": cfg.dataset or f"synthetic {cfg.synthetic.model_dump_json() if cfg.synthetic else ''}"}
        paths = write_report(rows, cfg, meta)
    except CrossrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for target, c in comparisons(aggregate(rows), cfg).items():
        ratios = ({cfg.primary: c["ratio"]} if "ratio" in c else {}) | c.get("other_crossrec_ratios", {})
        for name, r in ratios.items():
            print(f"{target}: {name} / {c['best_baseline']} = {r['overall']:.3f}x overall, {r['cold']:.3f}x cold")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cached_rows(cfg: QualityConfig) -> list[dict]:
    """Every cached result of the config's targets and methods."""
    rows = []
    base = TrainConfig.from_yaml(cfg.base_train_config)
    for target in cfg.targets:
        for spec in cfg.methods:
            key = method_key(cfg, spec, base)
            for seed in cfg.seeds:
                path = result_path(cfg, target, spec.name, seed, key)
                if path.is_file():
                    rows.append(json.loads(path.read_text()))
    return rows


def merge_with_cache(rows: list[dict], cfg: QualityConfig) -> list[dict]:
    """``rows`` plus cached results of methods not run this time (``--methods`` subsets)."""
    seen = {(r["target"], r["method"], r["seed"]) for r in rows}
    return rows + [r for r in cached_rows(cfg) if (r["target"], r["method"], r["seed"]) not in seen]


if __name__ == "__main__":
    raise SystemExit(main())
