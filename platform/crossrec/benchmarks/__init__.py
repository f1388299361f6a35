"""Benchmark machinery behind ``bench/*.py``: typed benchmark configs, method runners, result pages."""
