"""tsae: anomaly detection in time series with denoising autoencoders.

Fit a :class:`Detector` on normal data, then ``score`` / ``predict`` new data;
``save`` it to a model file and ``load`` it back. See README.md.
"""

__version__ = "0.1.0"

from .detector import Detector, load  # noqa: E402
from .errors import ConfigError, DataError, ModelFileError, NotFittedError, TsaeError  # noqa: E402
from .models import list_models  # noqa: E402

__all__ = ["Detector", "load", "list_models", "TsaeError", "ConfigError", "DataError", "ModelFileError",
           "NotFittedError", "__version__"]
