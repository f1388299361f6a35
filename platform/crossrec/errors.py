"""User-facing errors.

Every error that a user can cause (a bad file, a bad config value, an unknown domain) is raised as a
:class:`CrossrecError` subclass whose message is one line naming the file/field and quoting the bad value.
The CLI prints that line and exits non-zero; Serve maps it to an HTTP 4xx.
"""

from __future__ import annotations


class CrossrecError(Exception):
    """Base class for errors caused by user input (never by a bug in crossrec)."""


class DataValidationError(CrossrecError):
    """A dataset file is malformed: missing column, wrong type, null ids, unknown items, ..."""


class ConfigError(CrossrecError):
    """A config file or value is invalid."""


class BundleError(CrossrecError):
    """A model bundle is missing, corrupted or does not match the requested backbone."""


class ModelInputError(CrossrecError):
    """A request to the model API cannot be served (e.g. a user with no history at all)."""
