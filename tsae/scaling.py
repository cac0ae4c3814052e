"""Per-channel scaling fitted on training data and stored in the model file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import ConfigError
from .header import check_choice, check_dict, check_numbers
from .options import SCALINGS

METHODS = SCALINGS


@dataclass
class Scaler:
    """Per-channel affine scaling ``(x - center) / scale``.

    ``method``: ``standard`` (mean, std), ``robust`` (median, inter-quartile range:
    insensitive to outliers left in the training data), ``minmax`` or ``none``.
    A constant channel gets scale 1 so it never divides by zero.
    """

    method: str = "standard"
    center: list = field(default_factory=list)
    scale: list = field(default_factory=list)

    def fit(self, x: np.ndarray) -> Scaler:
        """Learn center and scale from ``x`` of shape (n, channels); returns self."""
        if self.method not in METHODS:
            raise ConfigError(f"scaling must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.method == "standard":
            center, scale = x.mean(0), x.std(0)
        elif self.method == "robust":
            q1, center, q3 = np.percentile(x, [25, 50, 75], axis=0)
            scale = q3 - q1
            fallback = x.std(0)  # a channel that is constant half the time has IQR 0
            scale = np.where(scale > 0, scale, fallback)
        elif self.method == "minmax":
            center, scale = x.min(0), x.max(0) - x.min(0)
        else:
            center, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(center)), scale, 1.0)
        self.center, self.scale = center.tolist(), scale.tolist()
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scaled copy of ``x`` (n, channels) as float32."""
        return ((x - np.asarray(self.center)) / np.asarray(self.scale)).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, n_channels: int) -> Scaler:
        """Rebuild a fitted scaler from :meth:`to_dict` output (the model header's
        ``scaler``), checking every field.

        Parameters
        ----------
        d : dict
            ``method``, ``center`` and ``scale``.
        n_channels : int
            The number of channels the scaler must have.

        Returns
        -------
        Scaler

        Raises
        ------
        ConfigError
            Naming the field (``scaler.method``, ``scaler.center``, ``scaler.scale``):
            a missing or unknown key, an unknown method, or ``center`` and ``scale``
            that are not ``n_channels`` finite numbers (``scale`` positive).
        """
        check_dict(d, "scaler", ("method", "center", "scale"))
        method = check_choice(d["method"], "scaler.method", METHODS)
        center = check_numbers(d["center"], "scaler.center", n_channels)
        scale = check_numbers(d["scale"], "scaler.scale", n_channels, positive=True)
        return cls(method, center, scale)
