"""crossrec: LLM-based cross-domain recommenders trained, tuned and served on Ray.

Subpackages
-----------
data     canonical multi-domain datasets: schema, importers, synthetic generator, benchmark split
model    shared backbone, per-domain LoRA adapters, towers, fusion, ranker, bundle (plain PyTorch)
eval     metrics, evaluation runner and baselines
train    Ray Train layer;  tune: Ray Tune layer;  serve: Ray Serve layer
cli      the ``crossrec`` command
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
