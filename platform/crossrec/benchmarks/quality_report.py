"""The quality benchmark's results: aggregation over seeds, ratios to the best baseline, page and plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from crossrec.benchmarks.quality_config import MethodConfig, QualityConfig, ScreenConfig
from crossrec.utils.extras import require
from crossrec.utils.io import atomic_write_bytes, atomic_write_text

SLICES = ("overall", "cold", "warm")


def aggregate(rows: list[dict[str, Any]], slices: tuple[str, ...] = SLICES) -> dict[str, dict[str, dict[str, Any]]]:
    """``summary[target][method]``: mean/std over seeds of test NDCG@10 per slice of ``slices``, Recall@10 per
    slice, users, times, and the mean test ``exposure`` figures of rows that carry them."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["target"], r["method"])].append(r)
    summary: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for (target, method), rs in groups.items():
        rs = sorted({r["seed"]: r for r in rs}.values(), key=lambda r: r["seed"])
        entry: dict[str, Any] = {"kind": rs[0]["kind"], "baseline": rs[0]["baseline"], "seeds": [r["seed"] for r in rs],
                                 "fit_minutes": float(np.mean([r["fit_seconds"] for r in rs]) / 60),
                                 "valid_ndcg@10": float(np.mean([r["valid"]["overall"]["ndcg@10"] for r in rs])),
                                 "info": rs[0].get("info", {}),
                                 "per_seed": {r["seed"]: {sl: r["test"][sl]["ndcg@10"] for sl in slices} for r in rs}}
        for sl in slices:
            vals = np.array([entry["per_seed"][seed][sl] for seed in entry["seeds"]])
            entry[f"{sl}_ndcg@10"] = float(vals.mean())
            entry[f"{sl}_ndcg@10_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            entry[f"{sl}_users"] = int(rs[0]["test"][sl]["n_users"])
            entry[f"{sl}_recall@10"] = float(np.mean([r["test"][sl]["recall@10"] for r in rs]))
        exposures = [r["exposure"]["test"] for r in rs if r.get("exposure", {}).get("test")]
        if exposures:
            entry["exposure"] = {k: float(np.mean([e[k] for e in exposures])) if isinstance(v, float) else v
                                 for k, v in exposures[0].items()}
        summary[target][method] = entry
    return dict(summary)


def comparisons(summary: dict[str, dict[str, dict[str, Any]]], cfg: QualityConfig) -> dict[str, dict[str, Any]]:
    """Per target: the best baseline (by mean *valid* NDCG@10: the test split never picks it) and primary /
    best-baseline ratios of test NDCG@10."""
    out: dict[str, dict[str, Any]] = {}
    for target, methods in summary.items():
        baselines = {m: e for m, e in methods.items() if e["baseline"]}
        if not baselines:
            continue
        best = max(baselines, key=lambda m: baselines[m]["valid_ndcg@10"])
        b = baselines[best]
        others = {m: {sl: e[f"{sl}_ndcg@10"] / max(b[f"{sl}_ndcg@10"], 1e-12) for sl in SLICES}
                  for m, e in methods.items() if e["kind"] == "crossrec" and m != cfg.primary}
        if cfg.primary not in methods:  # the primary has no result yet: only the other variants' ratios
            if others:
                out[target] = {"best_baseline": best, "other_crossrec_ratios": others}
            continue
        p = methods[cfg.primary]
        ratio = {sl: p[f"{sl}_ndcg@10"] / max(b[f"{sl}_ndcg@10"], 1e-12) for sl in SLICES}
        out[target] = {"best_baseline": best, "ratio": ratio,
                       "goal_overall_met": ratio["overall"] >= cfg.goal_overall,
                       "goal_cold_met": ratio["cold"] >= cfg.goal_cold, "other_crossrec_ratios": others,
                       "vs_primary": {m: seed_matched_ratio(methods[m], p) for m in others}}
    return out


def seed_matched_ratio(variant: dict[str, Any], primary: dict[str, Any]) -> dict[str, Any]:
    """Test NDCG@10 of an ablation against the primary on the seeds both ran (means over those seeds), per slice,
    with the seeds used: seed-to-seed spread is as large as most ablation effects, so a variant run on seed 0 is
    compared with the primary's seed 0, not with its mean over three seeds. Empty seeds: no seed in common."""
    shared = sorted(set(variant["per_seed"]) & set(primary["per_seed"]))
    if not shared:
        return {"seeds": []}

    def mean(entry: dict[str, Any], sl: str) -> float:
        return float(np.mean([entry["per_seed"][s][sl] for s in shared]))

    return {"seeds": shared, **{sl: mean(variant, sl) / max(mean(primary, sl), 1e-12) for sl in SLICES}}


def _fmt(entry: dict[str, Any], sl: str) -> str:
    std = entry[f"{sl}_ndcg@10_std"]
    mean = f"{entry[f'{sl}_ndcg@10']:.4f}"
    return f"{mean} ± {std:.4f}" if len(entry["seeds"]) > 1 else mean


PROTOCOL = ["Protocol: `../shared/BENCHMARK.md` (temporal leave-one-out in the target domain, full ranking over the",
            "target catalogue, visible target history removed). Test NDCG@10 per slice; mean ± std over seeds where",
            "a method ran on several seeds. Early stopping and every choice use the valid split only; the test split is",
            "read once per result, after training, and only to fill these tables."]


def render_markdown(summary: dict, comp: dict, cfg: QualityConfig, meta: dict[str, Any]) -> str:
    lines = [f"# Quality benchmark: {cfg.name}", "", *PROTOCOL, "",
             (f"- Page rendered from the cached results by: `{meta['command']}`" if "--report-only" in meta["command"]
              else f"- Command: `{meta['command']}`"),
             f"- Machine: {meta['machine'].get('cpus')} CPUs ({meta['machine'].get('cpu_model', '?')}), "
             f"torch {meta['machine'].get('torch')}, {meta['machine'].get('platform')}",
             f"- Dataset: `{meta['dataset']}`; seeds {cfg.seeds}; budget per fit: ≤ {cfg.budget.max_epochs} epochs, "
             f"≤ {cfg.budget.max_minutes:g} min, patience {cfg.budget.patience} (method overrides below)",
             f"- Compute of all results: {meta['total_fit_eval_minutes']:.1f} min of fits + evaluations (summed over "
             f"results; per-result fit times are in the table); this invocation took {meta['wall_minutes']:.1f} min, "
             "as finished results are read from the cache",
             f"- Reproduce everything: `python bench/quality.py --config {meta.get('config', '<config>')}` "
             "(add `--targets` / `--methods` to run parts in parallel processes; they share the cache)", ""]
    lines += target_sections(summary, comp, cfg)
    lines += ["![NDCG@10 per method and slice](quality.png)", "", *methods_table(cfg), *tuning_effort(cfg)]
    if cfg.notes_file and Path(cfg.notes_file).is_file():
        lines += [Path(cfg.notes_file).read_text().rstrip(), ""]
    return "\n".join(lines)


def target_sections(summary: dict, comp: dict, cfg: QualityConfig) -> list[str]:
    """One section per target: every method's row, the test users, the primary's ratios to the best baseline."""
    lines: list[str] = []
    for target, methods in summary.items():
        lines += [f"## Target `{target}`", "",
                  "| method | kind | seeds | overall | cold | warm | Recall@10 | valid NDCG@10 | fit min/seed |",
                  "|---|---|---|---|---|---|---|---|---|"]
        users = next(iter(methods.values()))
        for name, e in sorted(methods.items(), key=lambda kv: (not kv[1]["baseline"], -kv[1]["overall_ndcg@10"])):
            bold = "**" if name == cfg.primary else ""
            lines.append(f"| {bold}{name}{bold} | {e['kind']}{' (baseline)' if e['baseline'] else ''} | "
                         f"{len(e['seeds'])} | {_fmt(e, 'overall')} | {_fmt(e, 'cold')} | {_fmt(e, 'warm')} | "
                         f"{e['overall_recall@10']:.4f} | {e['valid_ndcg@10']:.4f} | {e['fit_minutes']:.1f} |")
        lines += ["", f"Test users: {users['overall_users']:,} overall, {users['cold_users']:,} cold, "
                  f"{users['warm_users']:,} warm.", ""]
        c = comp.get(target)
        if c is None:
            continue
        if "ratio" not in c:
            lines += [f"**{cfg.primary}**: no result yet on this target.", ""]
        else:
            r = c["ratio"]
            lines += [f"**{cfg.primary} / best baseline ({c['best_baseline']})**: "
                      f"{r['overall']:.3f}× overall (goal ≥ {cfg.goal_overall:.2f}×: "
                      f"{'met' if c['goal_overall_met'] else 'missed'}), {r['cold']:.3f}× cold (goal ≥ "
                      f"{cfg.goal_cold:.2f}×: {'met' if c['goal_cold_met'] else 'missed'}), {r['warm']:.3f}× warm.", ""]
        others = c.get("other_crossrec_ratios", {})
        lines += [f"- {name} / {c['best_baseline']}: {o['overall']:.3f}× overall, {o['cold']:.3f}× cold, "
                  f"{o['warm']:.3f}× warm" for name, o in others.items()]
        lines += [""] if others else []
        matched = {m: v for m, v in c.get("vs_primary", {}).items() if v["seeds"]}
        if matched:
            lines += [f"Ablations against {cfg.primary} on the same seeds (test NDCG@10, variant / {cfg.primary}):", ""]
            lines += [f"- {name}: {v['overall']:.3f}× overall, {v['cold']:.3f}× cold, {v['warm']:.3f}× warm "
                      f"(seed{'s' if len(v['seeds']) > 1 else ''} {', '.join(map(str, v['seeds']))})"
                      for name, v in matched.items()]
            lines += [""]
    return lines


def methods_table(cfg: QualityConfig, title: str = "## Methods") -> list[str]:
    lines = [title, "", "| method | kind | overrides / params |", "|---|---|---|"]
    for m in cfg.methods:
        what = m.overrides or m.params or {}
        lines.append(f"| {m.name} | {m.kind} | `{json.dumps(what)}`{' budget ' + m.budget.model_dump_json() if m.budget else ''} |")
    lines.append("")
    return lines


def tuning_group(spec: MethodConfig) -> str:
    """What a method's settings are shared with: every crossrec variant shares one design ("crossrec"); a SASRec
    is tuned per mode ("sasrec target" / "sasrec merged"); other kinds are their own group."""
    if spec.kind == "sasrec":
        return f"sasrec {spec.params.get('mode', 'target')}"
    return spec.kind


def tuning_effort(cfg: QualityConfig) -> list[str]:
    """Markdown: per method of ``cfg``, how many candidates of its group the screens in ``cfg.screens`` fitted on
    valid before its settings were fixed (the issue's "tuning effort of every method")."""
    if not cfg.screens:
        return []
    screens = [ScreenConfig.from_yaml(path) for path in cfg.screens]
    counts: dict[str, int] = defaultdict(int)
    for screen in screens:
        for spec in screen.methods:
            counts[tuning_group(spec)] += 1
    lines = [f"## Tuning effort of {cfg.name} (valid only)", "",
             "Candidates fitted on a fixed sample of valid users before each method's settings were fixed. The "
             "settings chosen on the screened target are used unchanged on every target of the dataset. "
             "Screens: " + "; ".join(
                 f"`{Path(path).name}` ({s.target}, {s.valid_users or 'all'} valid users, "
                 f"≤ {s.budget.max_epochs} epochs unless a candidate says otherwise)"
                 for path, s in zip(cfg.screens, screens, strict=True)) + ".", "",
             "| tuned as | methods | candidates screened |", "|---|---|---|"]
    groups: dict[str, list[MethodConfig]] = defaultdict(list)
    for m in cfg.methods:
        groups[tuning_group(m)].append(m)
    for group, members in groups.items():
        n = counts.get(group, 0)
        what = str(n) if n or members[0].kind in ("crossrec", "sasrec") else (
            "0 (BENCHMARK.md's setting)" if any(m.params for m in members) else "0 (no settings)")
        lines.append(f"| {group} | {', '.join(m.name for m in members)} | {what} |")
    return [*lines, ""]


def render_plot(summary: dict, path: Path) -> None:
    """Grouped bars: NDCG@10 overall / cold / warm per method, one panel per target (PNG)."""
    import io

    matplotlib = require("matplotlib", "the quality plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(summary)
    fig, axes = plt.subplots(1, len(targets), figsize=(7 * len(targets), 4.5), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        methods = sorted(summary[target], key=lambda m: (not summary[target][m]["baseline"], m))
        x = np.arange(len(methods))
        for k, sl in enumerate(SLICES):
            means = [summary[target][m][f"{sl}_ndcg@10"] for m in methods]
            stds = [summary[target][m][f"{sl}_ndcg@10_std"] for m in methods]
            ax.bar(x + (k - 1) * 0.27, means, 0.27, yerr=stds, label=sl, capsize=2)
        ax.set_xticks(x, methods, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"target {target}: test NDCG@10")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_report(rows: list[dict[str, Any]], cfg: QualityConfig, meta: dict[str, Any]) -> dict[str, Path]:
    """Write ``quality.json``, ``quality.md`` and ``quality.png`` into ``cfg.out_dir``; returns their paths."""
    out = Path(cfg.out_dir)
    summary = aggregate(rows)
    comp = comparisons(summary, cfg)
    paths = {"json": out / f"{cfg.name}.json", "md": out / f"{cfg.name}.md", "png": out / f"{cfg.name}.png"}
    meta = {**meta, "total_fit_eval_minutes": sum(r["fit_seconds"] + r.get("eval_seconds", 0.0) for r in rows) / 60}
    payload = {**meta, "quality_config": cfg.model_dump(mode="json"), "summary": summary, "comparisons": comp, "rows": rows}
    atomic_write_text(paths["json"], json.dumps(payload, indent=2, default=float) + "\n")
    render_plot(summary, paths["png"])
    atomic_write_text(paths["md"], render_markdown(summary, comp, cfg, meta).replace("quality.png", paths["png"].name))
    return paths


def write_suite_report(parts: list[tuple[QualityConfig, list[dict[str, Any]]]], name: str, out_dir: str,
                       meta: dict[str, Any], notes_file: str | None = None) -> dict[str, Path]:
    """One page, JSON and plot for several quality configs (one per dataset): a goal table over every target,
    then each dataset's target sections and methods. ``parts``: (config, its cached rows)."""
    out = Path(out_dir)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md", "png": out / f"{name}.png"}
    summaries = [(cfg, aggregate(rows), rows) for cfg, rows in parts]
    comps = [comparisons(summary, cfg) for cfg, summary, _ in summaries]
    lines = [f"# Quality benchmark: {name}", "", *PROTOCOL, "",
             f"- Page rendered from the cached results by: `{meta['command']}`",
             f"- Machine: {meta['machine'].get('cpus')} CPUs ({meta['machine'].get('cpu_model', '?')}), "
             f"torch {meta['machine'].get('torch')}",
             "- Reproduce: " + "; ".join(f"`python bench/quality.py --config {c}`" for c in meta["configs"]), "",
             "## Goal: primary crossrec method / best baseline (test NDCG@10)", "",
             "| dataset | target | best baseline | seeds | overall | cold | warm | goal met |", "|---|---|---|---|---|---|---|---|"]
    for (cfg, summary, _), comp in zip(summaries, comps, strict=True):
        for target in cfg.targets:
            c = comp.get(target, {})
            if "ratio" not in c:
                lines.append(f"| {cfg.name} | {target} | {c.get('best_baseline', '-')} | - | no result | | | |")
                continue
            r, seeds = c["ratio"], len(summary[target][cfg.primary]["seeds"])
            met = "yes" if c["goal_overall_met"] and c["goal_cold_met"] else "no"
            lines.append(f"| {cfg.name} | {target} | {c['best_baseline']} | {seeds} | {r['overall']:.3f}× | "
                         f"{r['cold']:.3f}× | {r['warm']:.3f}× | {met} (≥ {cfg.goal_overall:.2f}× / ≥ {cfg.goal_cold:.2f}×) |")
    lines += ["", f"![NDCG@10 per method and slice]({paths['png'].name})", ""]
    for (cfg, summary, rows), comp in zip(summaries, comps, strict=True):
        minutes = sum(r["fit_seconds"] + r.get("eval_seconds", 0.0) for r in rows) / 60
        lines += [f"# Dataset {cfg.name}: `{cfg.dataset or 'synthetic'}`", "",
                  f"Seeds {cfg.seeds}; budget per fit ≤ {cfg.budget.max_epochs} epochs, patience {cfg.budget.patience}; "
                  f"compute of its results: {minutes:.1f} min of fits + evaluations.", ""]
        lines += target_sections(summary, comp, cfg) + methods_table(cfg, f"## Methods of {cfg.name}")
        lines += tuning_effort(cfg)
    if notes_file and Path(notes_file).is_file():
        lines += [Path(notes_file).read_text().rstrip(), ""]
    payload = {**meta, "parts": [{"quality_config": cfg.model_dump(mode="json"), "summary": summary,
                                  "comparisons": comp, "rows": rows}
                                 for (cfg, summary, rows), comp in zip(summaries, comps, strict=True)]}
    atomic_write_text(paths["json"], json.dumps(payload, indent=2, default=float) + "\n")
    render_plot({t: m for _, summary, _ in summaries for t, m in summary.items()}, paths["png"])
    atomic_write_text(paths["md"], "\n".join(lines))
    return paths
