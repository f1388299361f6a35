"""Library side of the ``jobs/*.py`` entrypoints: typed job configs and the work each job does.

``jobs/<name>.py`` only parses ``--config``, loads the typed config from here and calls :func:`run_job`.
"""
