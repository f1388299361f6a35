"""The model as plain PyTorch (no Ray): backbone, per-domain LoRA adapters, towers, fusion, ranker, bundles.

One factory (``factory``) builds a :class:`CrossRecModel`; configs live in ``config``.
"""

from crossrec.utils.lazy import lazy_exports

_EXPORTS = {
    "BackboneConfig": "crossrec.model.config",
    "FusionConfig": "crossrec.model.config",
    "LoraConfig": "crossrec.model.config",
    "ModelConfig": "crossrec.model.config",
    "TowerConfig": "crossrec.model.config",
    "CrossRecModel": "crossrec.model.recommender",
    "Interests": "crossrec.model.recommender",
    "build_model": "crossrec.model.factory",
    "load_heads": "crossrec.model.factory",
    "restore_heads": "crossrec.model.factory",
    "save_heads": "crossrec.model.factory",
    "ModelBundle": "crossrec.model.bundle",
    "TargetModel": "crossrec.model.bundle",
    "save_bundle": "crossrec.model.bundle",
    "Ranker": "crossrec.model.ranker",
    "Backbone": "crossrec.model.backbone",
    "load_backbone": "crossrec.model.backbone",
    "DomainAdapters": "crossrec.model.adapters",
    "ItemTextEncoder": "crossrec.model.item_encoder",
    "ItemTextSide": "crossrec.model.text_side",
    "EmbeddingCache": "crossrec.model.embedding_cache",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
