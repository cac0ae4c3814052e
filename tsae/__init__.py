"""tsae: anomaly detection in time series with denoising autoencoders.

Fit a :class:`Detector` on normal data, then ``score`` / ``predict`` new data;
``save`` it to a model file and ``load`` it back. See README.md.

torch is imported on first use of ``Detector``, ``load`` or ``list_models``, so the
errors and light modules (``tsae.io``, ``tsae.metrics``, ...) import fast.
"""

__version__ = "0.1.0"

from .errors import ConfigError, DataError, ModelFileError, NotFittedError, TsaeError, TsaeWarning  # noqa: E402

__all__ = [
    "Detector",
    "load",
    "loads",
    "list_models",
    "TsaeError",
    "ConfigError",
    "DataError",
    "ModelFileError",
    "NotFittedError",
    "TsaeWarning",
    "__version__",
]


def __getattr__(name):
    if name in ("Detector", "load", "loads"):
        from . import detector

        return getattr(detector, name)
    if name == "list_models":
        from .models import list_models

        return list_models
    raise AttributeError(f"module 'tsae' has no attribute {name!r}")
