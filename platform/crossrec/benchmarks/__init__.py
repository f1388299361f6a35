"""Benchmark machinery behind ``bench/*.py`` (the command-line entrypoints) and the tests that run it.

quality_config / quality_methods / quality_run / quality_report / screen   the quality benchmark and screening
new_items                                       the new-item page (item cold start) over quality runs
serving, serve_load, serve_faults, serve_soak   Serve app under load, replica kills, RSS soak
train_faults, bad_inputs                        training fault drills, the bad-input matrix of the CLI
perf_goals, perf_page                           CPU performance goals and docs/results/performance.md
machine, results                                machine description and result tables/JSON of every benchmark
"""
