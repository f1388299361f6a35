"""The new-item benchmark (issue 18): how each method ranks items that training never saw.

Each config is a quality benchmark config (:class:`QualityConfig`) with ``item_cold_start`` set: a random share of
every target's items is hidden from training (:func:`crossrec.data.cold_start.hide_target_items`), so their
held-out examples form the new-item slice. Methods are fitted, evaluated and cached by the quality benchmark's own
machinery (:func:`crossrec.benchmarks.quality_run.run_quality`, same cache layout and keys); this module adds the
page: per dataset and target, per method, test NDCG@10 overall / on new items / on old items, Recall@10 on new
items, the share of the catalogue's new items that reach at least one user's top-10 list (beside the same share
for old items), the share of top-10 slots new items take, users per slice and fit minutes.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossrec.benchmarks.machine import machine_info
from crossrec.benchmarks.quality_config import QualityConfig, load_quality_config
from crossrec.benchmarks.quality_report import aggregate, methods_table
from crossrec.benchmarks.quality_run import cached_rows, merge_with_cache, run_quality
from crossrec.errors import ConfigError
from crossrec.utils.io import atomic_write_text

PAGE_SLICES = ("overall", "new_items", "old_items")
PROTOCOL = [
    "Protocol: `../shared/BENCHMARK.md` (temporal leave-one-out in the target domain, full ranking over the target",
    "catalogue, visible target history removed), on an item-cold-start split: a random share of each target's items",
    "(the same for every method and seed) is hidden from training: no training prefix, window, count or softmax holds",
    "them, while the held-out valid/test examples keep their items and evaluation histories keep every interaction",
    "(crossrec reads items without a training interaction by their text alone; SASRec by its untrained ID row).",
    "",
    "- **New items**: target items with no interaction in any user's training prefix (the hidden ones, and any item",
    "  that only appears in held-out examples). **New-item examples**: test examples whose item is new; **old items**",
    "  the others.",
    "- **New items in a top-10**: share of the catalogue's new items that appear in at least one test user's top-10",
    "  list (visible target history removed), beside the same share for old items; **top-10 slots to new items**:",
    "  share of all top-10 slots that new items take (about the new items' share of the catalogue when they are",
    "  ranked like the others; near 0 = always last, near 1 = always first).",
]
COLUMNS = ("| method | kind | seeds | NDCG@10 overall | NDCG@10 new items | NDCG@10 old items | Recall@10 new items "
           "| new items in a top-10 | old items in a top-10 | top-10 slots to new items | fit min/seed |")


def _num(value: float, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _ndcg(entry: dict[str, Any], sl: str) -> str:
    mean, std = entry[f"{sl}_ndcg@10"], entry[f"{sl}_ndcg@10_std"]
    return f"{_num(mean)} ± {_num(std)}" if len(entry["seeds"]) > 1 else _num(mean)


def target_table(target: str, methods: dict[str, dict[str, Any]]) -> list[str]:
    """One target's section: a row per method (baselines first, then by NDCG@10 on new items), then the users."""
    lines = [f"### Target `{target}`", "", COLUMNS, "|" + "---|" * (COLUMNS.count("|") - 1)]
    order = sorted(methods.items(), key=lambda kv: (not kv[1]["baseline"], -_sortable(kv[1]["new_items_ndcg@10"])))
    for name, e in order:
        x = e.get("exposure", {})
        lines.append(f"| {name} | {e['kind']} | {len(e['seeds'])} | {_ndcg(e, 'overall')} | {_ndcg(e, 'new_items')} | "
                     f"{_ndcg(e, 'old_items')} | {_num(e['new_items_recall@10'])} | "
                     f"{_num(x.get('new_item_coverage@10'), 3)} | {_num(x.get('old_item_coverage@10'), 3)} | "
                     f"{_num(x.get('new_item_slots@10'), 3)} | {e['fit_minutes']:.1f} |")
    first = next(iter(methods.values()))
    x = first.get("exposure", {})
    catalogue = (f" Catalogue: {x['new_items']:,} new items of {x['new_items'] + x['old_items']:,}."
                 if "new_items" in x else "")
    lines += ["", f"Test users: {first['overall_users']:,} overall, {first['new_items_users']:,} with a new item, "
              f"{first['old_items_users']:,} with an old item.{catalogue}", ""]
    return lines


def _sortable(value: float) -> float:
    return -1.0 if math.isnan(value) else value


def render_page(parts: list[tuple[QualityConfig, dict[str, Any]]], meta: dict[str, Any]) -> str:
    """The Markdown page over ``parts`` (each config and its :func:`aggregate` summary over :data:`PAGE_SLICES`)."""
    m = meta["machine"]
    lines = ["# New items on day one: item cold start", "", *PROTOCOL, "",
             (f"- Page rendered from the cached results by: `{meta['command']}`" if "--report-only" in meta["command"]
              else f"- Command: `{meta['command']}`"),
             f"- Machine: {m.get('cpus')} CPUs ({m.get('cpu_model', '?')}), torch {m.get('torch')}, {m.get('platform')}",
             "- Reproduce: `python bench/new_items.py --config " + " ".join(meta["configs"]) + "` (one process per "
             "config or per `--targets` / `--methods` runs parts in parallel; they share the cache, and "
             "`--report-only` renders this page from it)", ""]
    for cfg, summary in parts:
        cold = cfg.item_cold_start
        split = (f"{cold.share:.0%} of each target's items hidden from training (seed {cold.seed})" if cold
                 else "the plain split (no item hidden)")
        lines += [f"## Dataset {cfg.name}: `{cfg.dataset or 'synthetic'}`", "",
                  f"Split: {split}; seeds {cfg.seeds}; budget per fit ≤ {cfg.budget.max_epochs} epochs, "
                  f"≤ {cfg.budget.max_minutes:g} min, patience {cfg.budget.patience}.", ""]
        for target in cfg.targets:
            if target in summary:
                lines += target_table(target, summary[target])
            else:
                lines += [f"### Target `{target}`", "", "No result yet.", ""]
        lines += methods_table(cfg, f"### Methods of {cfg.name}")
    return "\n".join(lines)


def write_page(parts: list[tuple[QualityConfig, list[dict[str, Any]]]], name: str, out_dir: str,
               meta: dict[str, Any]) -> dict[str, Path]:
    """Write ``<out_dir>/<name>.{md,json}`` over ``parts`` (config, its result rows); returns their paths."""
    out = Path(out_dir)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    summaries = [(cfg, aggregate(rows, PAGE_SLICES)) for cfg, rows in parts]
    payload = {**meta, "parts": [{"quality_config": cfg.model_dump(mode="json"), "summary": summary, "rows": rows}
                                 for (cfg, summary), (_, rows) in zip(summaries, parts, strict=True)]}
    atomic_write_text(paths["json"], json.dumps(payload, indent=2, default=float) + "\n")
    atomic_write_text(paths["md"], render_page(summaries, meta))
    return paths


def bench_command(configs: list[str], **options: Any) -> str:
    """The ``python bench/new_items.py`` command line of these options."""
    args = ["--config", *configs]
    for key, value in options.items():
        if value is True:
            args.append(f"--{key.replace('_', '-')}")
        elif value not in (None, False):
            args += [f"--{key.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value])]
    return "python bench/new_items.py " + " ".join(shlex.quote(a) for a in args)


def run_new_items(configs: list[str], targets: list[str] | None = None, methods: list[str] | None = None,
                  report_only: bool = False, name: str = "new_items", out_dir: str = "docs/results",
                  command: str | None = None, log: Callable[[str], None] = print) -> int:
    """``bench/new_items.py``: run every config (only ``targets`` / ``methods`` if given; configs without any of
    those targets are only reported), unless ``report_only``, then write the page over every config's cached
    results. Returns the exit status (0); a config without ``item_cold_start`` or with no result at all raises
    :class:`ConfigError`."""
    command = command or bench_command(configs, targets=targets, methods=methods, report_only=report_only)
    t0 = time.perf_counter()
    parts: list[tuple[QualityConfig, list[dict[str, Any]]]] = []
    for path in configs:
        cfg = load_quality_config(path)
        if cfg.item_cold_start is None:
            raise ConfigError(f"{path}: item_cold_start is not set (the new-item benchmark hides items from training)")
        run_cfg = cfg.model_copy(update={"targets": [t for t in cfg.targets if targets is None or t in targets]})
        if not report_only and run_cfg.targets:
            rows = merge_with_cache(run_quality(run_cfg, methods, log), cfg)
        else:
            rows = cached_rows(cfg)
        if rows:
            parts.append((cfg, rows))
        else:
            log(f"{path}: no cached result yet (left out of the page)")
    if not parts:
        raise ConfigError(f"none of {configs} has a cached result: run without --report-only first")
    meta = {"command": command, "configs": configs, "machine": machine_info(),
            "wall_minutes": (time.perf_counter() - t0) / 60}
    paths = write_page(parts, name, out_dir, meta)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
