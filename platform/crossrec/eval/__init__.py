"""Evaluation: metrics, the Recommender protocol, the evaluation runner and baselines."""
