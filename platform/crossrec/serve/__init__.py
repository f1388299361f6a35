"""Ray Serve layer: plain inference classes (``inference``) wrapped by thin deployments (``deployments``)
and composed by the typed builder ``crossrec.serve.app:build_app`` (the ``import_path`` of serve_configs/)."""

from crossrec.utils.lazy import lazy_exports

_EXPORTS = {
    "RecommendationService": "crossrec.serve.inference",
    "RequestError": "crossrec.serve.inference",
    "BatchRequest": "crossrec.serve.schemas",
    "BatchResponse": "crossrec.serve.schemas",
    "RecommendRequest": "crossrec.serve.schemas",
    "RecommendResponse": "crossrec.serve.schemas",
    "ServeAppConfig": "crossrec.serve.app",
    "build_app": "crossrec.serve.app",
    "run_local": "crossrec.serve.app",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
