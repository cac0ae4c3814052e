"""Exceptions raised for user-facing problems.

Every error a user can cause (bad file, bad parameter, wrong model file) is a
:class:`TsaeError`; the CLI prints its message as one line and exits with status 1.
Any other exception is a bug and keeps its traceback.
"""


class TsaeError(Exception):
    """Base class: a problem with the user's input, parameters or files."""


class ConfigError(TsaeError, ValueError):
    """A parameter has a value that is not allowed (names the parameter and the choices)."""


class DataError(TsaeError, ValueError):
    """Input data cannot be used (names the file, column and row where known)."""


class NotFittedError(TsaeError, RuntimeError):
    """A detector was used before ``fit`` or ``load``."""


class ModelFileError(TsaeError):
    """A model file is missing, not a tsae model, corrupt, truncated or of an unknown version."""


class TsaeWarning(UserWarning):
    """Something was done on the user's behalf that they should know about (a column
    left out, a constant channel, a setting adjusted). The CLI prints it as one line."""
