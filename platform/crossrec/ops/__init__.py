"""Cluster operation helpers: job submission (``submit``) and KubeRay manifest sync (``kuberay``)."""
