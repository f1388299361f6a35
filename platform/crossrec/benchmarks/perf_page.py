"""The performance page (``docs/results/performance.md``) from the performance benchmarks' JSON files.

:func:`render` reads ``train_throughput.json``, ``backbone_memory.json``, ``item_encoding.json``,
``ranker_scaling.json`` and, when present, ``serving.json`` (rendered generically); a missing file gives a
one-line note, not an error. Every section states the command that produced it, the machine and its load
average at the time; goals and measured findings come first. ``bench/perf_report.py`` writes the page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crossrec.benchmarks.perf_goals import GOAL_1M_BATCH1_MS as GOAL_RANKER_MS
from crossrec.benchmarks.results import format_table

SECTIONS = [
    ("train_throughput", "Training: adapter fine-tuning throughput per backbone precision",
     [["precision", "threads", "samples_per_s", "steps_per_s", "slowdown_vs_fp32", "cpu_slowdown_vs_fp32",
       "peak_rss_mb", "rss_vs_fp32", "rss_after_setup_mb", "backbone_memory_mb", "backbone_tokens_per_s", "backbone_tokens_per_cpu_s", "est_epoch_s",
       "est_epoch_cpu_s", "steps_run", "steps_per_epoch"],
      ["precision", "threads", "backbone_s", "heads_s", "optimizer_s", "backbone_cpu_s", "heads_cpu_s",
       "optimizer_cpu_s", "backbone_share", "heads_share", "live_items", "live_tokens", "live_tokens_padded",
       "catalogue_refresh_s", "setup_s"]]),
    ("backbone_memory", "Memory: backbone per precision",
     [["precision", "memory_mb", "ratio_vs_fp32", "rss_growth_mb", "cosine_vs_fp32", "items_per_s", "load_s"]]),
    ("item_encoding", "Item encoding: batching by length and the embedding cache",
     [["path", "threads", "items", "seconds", "cpu_s", "items_per_s", "items_per_cpu_s", "tokens_per_s", "padded_share",
       "max_abs_diff_vs_sorted"]]),
    ("ranker_scaling", "Ranker scaling: top-k against catalogue size",
     [["items", "dtype", "threads", "batch", "p50_ms", "p90_ms", "cpu_ms", "per_user_ms", "x_time_vs_smaller", "x_vs_batch1",
       "items_mb", "peak_rss_mb", "overhead_mb"]]),
]

NOTES = {
    "train_throughput": (
        "One step = 256 windows of 50 positions through the heads (about 10k labelled positions, full softmax over "
        "the 376 family items) plus 24 live items re-encoded through the LoRA adapter with gradient. Timings are "
        "steady-state steps of a capped epoch (`--steps`); `est_epoch_s` = steps per epoch x step time + the "
        "end-of-epoch catalogue refresh. `*_cpu_s` is process CPU time: what the work costs on an idle core "
        "(at 1 thread), whereas wall time on this shared machine includes waiting for a core."),
    "item_encoding": (
        "Sorting by length before batching cuts the padded tokens the backbone computes on; the output order and "
        "the embeddings are unchanged (max_abs_diff). The cache hit path reads embeddings.npy and maps ids."),
    "ranker_scaling": (
        "Cost is one pass over the (N, D) item matrix per call: linear in N; at batch 1 it is memory-bound "
        "(1M x 384 float32 = 1.5 GB read per call), so a batch of 64 users costs far less than 64 single calls. "
        "bfloat16 items halve the bytes read (approximate scores); float32 is exact. `scoring`: the Ranker's "
        "path (bf16 batches on a CPU without native bf16 dot products score float32 slices; the `native` row "
        "beside such a row is the product it replaces). Exact scoring against an approximate (FAISS) index at "
        "100k and 1M items, with build time, memory and recall: [ranker_ann.md](ranker_ann.md) "
        "(`python bench/ranker_ann.py`)."),
}


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def machine_line(m: dict[str, Any]) -> str:
    isa = f", {'/'.join(m['cpu_vector_flags'])}" if m.get("cpu_vector_flags") else ""
    parts = [f"{m.get('cpus', '?')} CPUs ({m.get('cpu_model', '?')}{isa})", f"{m.get('mem_gib', '?')} GiB",
             f"torch {m.get('torch', '?')} ({m.get('torch_threads', '?')} threads by default)",
             f"Python {m.get('python', '?')}"]
    load_avg = m.get("loadavg_1m")
    tail = f"; load average {load_avg:.1f} at the end of the run" if isinstance(load_avg, int | float) else ""
    when = f", {m['date']}" if "date" in m else ""
    return ", ".join(parts) + tail + when


def rows_of(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The list of dict rows of a result file: its "results" or "rows" list."""
    for key in ("results", "rows"):
        if isinstance(data.get(key), list) and all(isinstance(r, dict) for r in data[key]):
            return data[key]
    return None


def generic_tables(data: dict[str, Any]) -> list[str]:
    """Any result file as tables: its row list, else one key/value table per nested dict plus the scalars."""
    rows = rows_of(data)
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, dict | list)))
        return [format_table(rows, cols)]
    out, scalars = [], {}
    for key, value in data.items():
        if key in ("machine", "command", "goals"):
            continue
        if isinstance(value, dict):
            flat = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
            nested = {k: v for k, v in value.items() if isinstance(v, dict)}
            if nested:
                sub = [{"row": k, **{kk: vv for kk, vv in v.items() if not isinstance(vv, dict | list)}}
                       for k, v in nested.items()]
                cols = list(dict.fromkeys(k for r in sub for k in r))
                out.append(f"**{key}**\n\n" + format_table(sub, cols))
            if flat:
                out.append(f"**{key}**\n\n" + format_table([flat], list(flat)))
        elif not isinstance(value, list):
            scalars[key] = value
    if scalars:
        out.insert(0, format_table([scalars], list(scalars)))
    return out


def goal_rows(data: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, d in data.items():
        for g in d.get("goals", []):
            rows.append({"benchmark": name, "goal": g["goal"], "measured": g["measured"],
                         "ratio_to_goal": g["ratio_to_goal"], "met": "yes" if g["met"] else "**no**"})
    return rows


MAX_LEN = 50  # the ML-1M run's tower.max_len (bench/train_throughput.py ML1M_CONFIG)


def _one(rows: list[dict], **match: Any) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items()) and "error" not in r), None)


def findings(data: dict[str, dict[str, Any]]) -> list[str]:
    """Measured explanations: where the training step goes, threads on a shared machine, ranker bandwidth."""
    out = []
    train = rows_of(data.get("train_throughput", {})) or []
    fp32 = _one(train, precision="fp32", threads=1)
    if fp32 and "backbone_cpu_s" in fp32:
        cpu = {k: fp32[f"{k}_cpu_s"] for k in ("backbone", "heads", "optimizer")}
        total = sum(cpu.values())
        gflop = 4 * 10.6e6 * fp32["live_tokens_padded"] / 1e9  # MiniLM-L6: 6 x 1.77M linear weights
        out.append(
            f"Training step (fp32, 1 thread, process CPU): backbone {cpu['backbone']:.2f} s "
            f"({cpu['backbone'] / total:.0%}: {fp32['live_items']} live items, {fp32['live_tokens']} tokens "
            f"({fp32['live_tokens_padded']} with padding) forward+backward through all 6 layers, "
            f"{fp32['backbone_tokens_per_cpu_s']:.0f} tokens per CPU-second; about 4 x 10.6M linear weights x "
            f"{fp32['live_tokens_padded']} tokens = {gflop:.0f} GFLOP, {gflop / cpu['backbone']:.0f} GFLOP/s on one "
            f"core), heads {cpu['heads']:.2f} s ({cpu['heads'] / total:.0%}: {fp32['batch_size']} windows x "
            f"{MAX_LEN} positions through the causal transformer, target pooling, fusion and a softmax over T's "
            f"catalogue; in a torch.profiler run dropout masks and the exact-GELU backward were its largest "
            f"non-matmul costs), clipping + AdamW {cpu['optimizer'] * 1000:.0f} ms. The step is "
            f"compute, not overhead: about {total:.1f} CPU-seconds x {fp32['steps_per_epoch']} steps = "
            f"{fp32['est_epoch_cpu_s']:.0f} s per epoch on one idle core; the wall time above is longer by "
            f"the time spent waiting for a core on this shared machine.")
    two = _one(train, precision="fp32", threads=2)
    if fp32 and two:
        out.append(
            f"Threads on a shared machine: fp32 with 2 torch threads took {two['step_s'] / fp32['step_s']:.2f}x the "
            f"wall time and {two['est_epoch_cpu_s'] / fp32['est_epoch_cpu_s']:.2f}x the CPU time of 1 thread. "
            f"With the cores oversubscribed (load average {data['train_throughput']['machine'].get('loadavg_1m', 0):.1f}"
            f" on {data['train_throughput']['machine'].get('cpus')} CPUs), every intra-op parallel region waits for "
            f"its slowest thread, so set `scaling.torch_threads` to the worker's `cpus_per_worker` (1) when the "
            f"machine is shared; the ~80-170 s epochs of the ML-1M run used 2 threads per worker on such a machine.")
    nf4 = _one(train, precision="nf4", threads=1)
    if fp32 and nf4:
        out.append(
            f"nf4 vs fp32 training: {nf4['cpu_slowdown_vs_fp32']:.2f}x the CPU time ({nf4['slowdown_vs_fp32']:.2f}x "
            f"wall); peak RSS {nf4['peak_rss_mb']:.0f} vs {fp32['peak_rss_mb']:.0f} MB: the process peak is the "
            f"dataset, split and activations, not the {fp32.get('backbone_memory_mb', 0):.0f} MB backbone.")
    mem = {r["precision"]: r for r in rows_of(data.get("backbone_memory", {})) or []}
    if "nf4" in mem and "fp32" in mem:
        out.append(
            f"Backbone memory: nf4 is {mem['nf4']['ratio_vs_fp32']:.3f}x fp32 ({mem['nf4']['memory_mb']:.1f} vs "
            f"{mem['fp32']['memory_mb']:.1f} MB). bitsandbytes quantises the linear layers only; MiniLM's word-"
            f"embedding table (30522 x 384 floats = 44.7 MB) stays in float, so no k-bit precision goes far below "
            f"0.5x for this model; larger models (embeddings a small share) approach 4/32.")
    out += ranker_findings(rows_of(data.get("ranker_scaling", {})) or [])
    return out


def ranker_findings(rows: list[dict[str, Any]]) -> list[str]:
    """Largest catalogue, 1 thread: batch-1 bandwidth against the goal; bf16 batches, float32 slices vs native."""
    if not rows:
        return []
    n = max(r["items"] for r in rows)
    top = [r for r in rows if r["items"] == n and r.get("threads") == 1]
    out = []
    for r in (r for r in top if r["batch"] == 1):
        gbs = r["items_mb"] / 1024 / (r["cpu_ms"] / 1000)
        line = (f"Ranker, {n} items at batch 1 ({r['dtype']}, 1 thread): {r['p50_ms']:.0f} ms wall, "
                f"{r['cpu_ms']:.0f} ms CPU for {r['items_mb']:.0f} MB of item vectors read once = {gbs:.1f} GB/s.")
        if r["p50_ms"] > GOAL_RANKER_MS:
            line += (f" At batch 1 the product is memory-bound, so the {GOAL_RANKER_MS:g} ms goal needs "
                     f"{r['items_mb'] / 1024 / (GOAL_RANKER_MS / 1000):.1f} GB/s from {r['dtype']} items; what "
                     f"remains is memory bandwidth, not work we can drop: the call reads each item once (no "
                     f"normalised copy: cached inverse norms) and the top-k costs < 5% of it.")
        out.append(line)
    for r in (r for r in top if r["batch"] > 1 and r.get("scoring") == "float32 slices"):
        native = next((x for x in top if x["batch"] == r["batch"] and x["dtype"] == r["dtype"]
                       and x.get("scoring") == "native"), None)
        if native is not None:
            out.append(
                f"Ranker, {r['dtype']} items at batch {r['batch']} (1 thread): this CPU has no native {r['dtype']} "
                f"dot product, so the native product costs {native['p50_ms']:.0f} ms, {native['x_vs_batch1']:.1f}x "
                f"batch 1 (it grows linearly with the batch). The Ranker scores float32 slices of the {r['dtype']} "
                f"items instead: {r['p50_ms']:.0f} ms ({native['p50_ms'] / r['p50_ms']:.1f}x faster, "
                f"{r['x_vs_batch1']:.1f}x batch 1), the same bytes read and float32's GEMM.")
    return out


def serving_findings(serving: dict[str, Any]) -> list[str]:
    """The serving layouts side by side, and where a request's CPU goes, from serve_load.py's rows."""
    rows = serving.get("results", [])
    at = {(r.get("layout"), r.get("mode"), r.get("clients")): r for r in rows}
    cpu = {(c.get("layout"), c.get("clients")): c for c in serving.get("cpu_ms_per_request", [])}
    local, plain, comp = (at.get((layout, "recommend", 1)) for layout in ("in-process", "plain", "composed"))
    fused, ray_refs = at.get(("fused", "recommend", 1)), at.get(("composed-ray", "recommend", 1))
    if not (local and plain and comp and fused):
        return []
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(((k, v) for k, v in cpu.get(("composed", 1), {}).items()
                                                          if k not in ("layout", "clients")), key=lambda kv: -kv[1]))
    out = [f"Serving at 1 client, p50: in-process {local['p50_ms']:.1f} ms, plain FastAPI app {plain['p50_ms']:.1f} ms, "
           f"fused Serve layout {fused['p50_ms']:.1f} ms ({fused['p50_ms'] / plain['p50_ms']:.1f}x plain), composed "
           f"graph {comp['p50_ms']:.1f} ms ({comp['p50_ms'] / plain['p50_ms']:.1f}x plain). CPU per request: "
           f"{local['cpu_ms_per_request']:.1f} ms in-process, {plain['cpu_ms_per_request']:.1f} plain, "
           f"{fused['cpu_ms_per_request']:.1f} fused, {comp['cpu_ms_per_request']:.1f} composed ({parts}). Each Serve "
           f"hop costs a few ms of CPU on both ends (routing, Ray's task path, serialisation), more than the model's "
           f"own work: the fused layout pays one hop (proxy → replica), the composed graph four."]
    if ray_refs:
        out.append(f"Stage transport: Serve's replica-to-replica gRPC (the default) against Ray object references: "
                   f"p50 {comp['p50_ms']:.1f} vs {ray_refs['p50_ms']:.1f} ms, CPU per request "
                   f"{comp['cpu_ms_per_request']:.1f} vs {ray_refs['cpu_ms_per_request']:.1f} ms at 1 client.")
    direct = {layout: at.get((f"{layout}-direct", "recommend", 1)) for layout in ("fused", "composed")}
    if all(direct.values()):
        out.append(f"Direct ingress (Ray Serve's throughput-optimised mode: clients reach the entry replica's own port, "
                   f"no proxy hop; `crossrec serve --direct-ingress`): fused p50 {direct['fused']['p50_ms']:.1f} ms "
                   f"(was {fused['p50_ms']:.1f}), composed {direct['composed']['p50_ms']:.1f} ms (was "
                   f"{comp['p50_ms']:.1f}, {direct['composed']['p50_ms'] / plain['p50_ms']:.1f}x plain); CPU per request "
                   f"fused {direct['fused']['cpu_ms_per_request']:.1f} ms, composed "
                   f"{direct['composed']['cpu_ms_per_request']:.1f} ms.")
    top = serving.get("top_clients")
    layouts = ("plain", "fused", "composed", "fused-direct", "composed-direct")
    if top and all((layout, "recommend", top) in at for layout in layouts):
        r = {layout: at[(layout, "recommend", top)] for layout in layouts}
        out.append(f"Throughput at {top} clients: plain {r['plain']['rps']:.0f} req/s, fused {r['fused']['rps']:.0f}, "
                   f"composed {r['composed']['rps']:.0f}; with direct ingress fused {r['fused-direct']['rps']:.0f} and "
                   f"composed {r['composed-direct']['rps']:.0f} ({r['composed-direct']['rps'] / r['plain']['rps']:.1f}x "
                   f"plain), at {r['composed-direct']['cpu_ms_per_request']:.1f} ms of CPU per request against "
                   f"{r['plain']['cpu_ms_per_request']:.1f} for the plain app. `@serve.batch` runs one Encoder → Fusion "
                   f"→ Ranker chain per batch, so the model and the hops are paid once per batch; behind the proxy, "
                   f"the per-request HTTP relay (proxy, and the ASGI messages into the Ingress) is what stays per "
                   f"request and caps it.")
    explained, local_explained = at.get(("composed", "explain", 1)), at.get(("in-process", "explain", 1))
    if explained and local_explained:
        out.append(f"Explanations (`explain: true`, top-10 with 3 reasons each): composed p50 {explained['p50_ms']:.1f} ms "
                   f"vs {comp['p50_ms']:.1f} ms at 1 client ({explained['p50_ms'] / comp['p50_ms']:.2f}x), "
                   f"{local_explained['p50_ms']:.1f} vs {local['p50_ms']:.1f} ms in-process "
                   f"({local_explained['p50_ms'] / local['p50_ms']:.2f}x): one extra Encoder call that runs the history's "
                   f"leave-one-out variants as one batch; requests without it take no extra step.")
    return out


def render(results: Path) -> str:
    """The page's Markdown from the result files in ``results``."""
    data = {name: d for name, *_ in SECTIONS if (d := load(results, name)) is not None}
    serving = load(results, "serving")
    lines = ["# Performance", "",
             "Generated by `python bench/perf_report.py` from the JSON files in this directory; each section gives "
             "the command that produced it. CPU figures; on a machine shared with other jobs wall times are upper "
             "bounds, so process-CPU times are shown beside them.", ""]
    first = next(iter(data.values()), None)
    if first and "machine" in first:
        lines += [f"**Machine:** {machine_line(first['machine'])}.", ""]
    goals = goal_rows({**data, "serving": serving} if serving else data)
    if goals:
        lines += ["## Goals", "", format_table(goals, ["benchmark", "goal", "measured", "ratio_to_goal", "met"]),
                  "", "`ratio_to_goal` = measured / goal for a ceiling, goal / measured for a floor (<= 1 is met).", ""]
    notes = findings(data) + (serving_findings(serving) if serving else [])
    if notes:
        lines += ["## Findings", ""] + [f"- {n}" for n in notes] + [""]
    for name, title, tables in SECTIONS:
        lines += [f"## {title}", ""]
        d = data.get(name)
        if d is None:
            lines += [f"No `{name}.json` yet: run `python bench/{name}.py`.", ""]
            continue
        lines += [f"Command: `{d.get('command', f'python bench/{name}.py')}`", ""]
        if "machine" in d:
            lines += [f"Measured on: {machine_line(d['machine'])}.", ""]
        rows = rows_of(d) or []
        for cols in tables:
            present = [c for c in cols if any(c in r for r in rows)]
            lines += [format_table(rows, present), ""]
        if name in NOTES:
            lines += [NOTES[name], ""]
        extra = {k: v for k, v in d.items() if k in ("sorted_speedup", "cache_hit_speedup")}
        if extra:
            lines += [", ".join(f"{k}: {v:.3g}" for k, v in extra.items()), ""]
        for r in rows:
            if "error" in r:
                lines += [f"- {r.get('precision', '?')}: failed: {r['error']}"]
    lines += ["## Serving", ""]
    if serving is None:
        lines += ["No `serving.json` yet: run `python bench/serve_load.py`.", ""]
    else:
        lines += [f"Command: `{serving.get('command', 'python bench/serve_load.py')}`", ""]
        if "machine" in serving:
            lines += [f"Measured on: {machine_line(serving['machine'])}.", ""]
        for table in generic_tables(serving):
            lines += [table, ""]
    return "\n".join(lines).rstrip() + "\n"
