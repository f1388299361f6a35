"""Baselines reported beside crossrec (BENCHMARK.md), each implementing the Recommender protocol."""
