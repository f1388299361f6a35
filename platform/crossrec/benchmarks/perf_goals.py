"""The performance goals the CPU benchmarks check (2 CPUs), in one place for the scripts and the page.

``bench/backbone_memory.py``, ``bench/train_throughput.py`` and ``bench/ranker_scaling.py`` report each goal
as measured / met; :mod:`crossrec.benchmarks.perf_page` explains a missed ranker goal with them.
"""

from __future__ import annotations

GOAL_NF4_RATIO = 0.6  # nf4 backbone memory <= this x fp32
GOAL_NF4_SLOWDOWN = 3.0  # nf4 training step <= this x the fp32 step
GOAL_1M_BATCH1_MS = 100.0  # 1M items, top-10 at batch 1, in at most this many ms
GOAL_BATCH64_OVER_BATCH1 = 10.0  # batch 64 <= this x the batch-1 time
