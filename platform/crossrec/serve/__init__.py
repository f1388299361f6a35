"""Ray Serve layer: plain stages (``stages`` over ``inference``) exchanging typed messages (``messages``), one
request path (``pipeline``) behind one HTTP API (``http``), thin replicas (``deployments``) and the typed builder
``crossrec.serve.app:build_app`` (the ``import_path`` of serve_configs/), composed or fused."""

from crossrec.utils.lazy import lazy_exports

_EXPORTS = {
    "RecommendationService": "crossrec.serve.pipeline",
    "Pipeline": "crossrec.serve.pipeline",
    "HttpFrontend": "crossrec.serve.http",
    "plain_app": "crossrec.serve.http",
    "EncoderStage": "crossrec.serve.stages",
    "FusionStage": "crossrec.serve.stages",
    "RankerStage": "crossrec.serve.stages",
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
