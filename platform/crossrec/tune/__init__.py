"""Ray Tune layer: fusion/head hyper-parameter sweeps (fast trials on cached item embeddings by default)."""
