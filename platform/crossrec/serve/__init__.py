"""Ray Serve layer: plain inference classes (``inference``) wrapped by thin deployments (``deployments``)
and composed by the typed builder ``crossrec.serve.app:build_app`` (the ``import_path`` of serve_configs/)."""
