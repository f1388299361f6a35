"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """One embedded Ray runtime per test module (init costs seconds), capped for a 2-core CI machine."""
    import ray

    from crossrec.serve.app import export_serve_env

    export_serve_env()  # before ray.init: the Serve controller reads them (proxy start-up under load)
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    yield
    ray.shutdown()
