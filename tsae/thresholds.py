"""Thresholds: small objects that turn anomaly scores into boolean flags.

Each threshold is fitted on scores (and labels, for methods that need them) with
``fit``, applied with ``__call__`` (``scores > cutoff_``), and round-trips through a
plain dict (``to_dict`` / ``threshold_from_dict``) so it can live in the model file.
``parse_threshold("percentile:99.5")`` builds one from a command-line spec.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError, NotFittedError

_THRESHOLDS: dict[str, type] = {}


def _register(cls: type) -> type:
    _THRESHOLDS[cls.name] = cls
    return cls


class Threshold:
    """Base class. Subclasses set ``name``, implement ``_cutoff`` and ``params``."""

    name = ""
    cutoff_: float | None = None

    def fit(self, scores, labels=None) -> "Threshold":
        """Learn ``cutoff_`` from ``scores`` (NaN scores are ignored); returns self."""
        scores = np.asarray(scores, dtype=np.float64)
        finite = np.isfinite(scores)
        if not finite.any():
            raise DataError(f"{self.name} threshold: no finite scores to fit on")
        self.cutoff_ = float(self._cutoff(scores[finite], None if labels is None else np.asarray(labels)[finite]))
        return self

    def __call__(self, scores) -> np.ndarray:
        """Boolean flags: ``scores > cutoff_`` (NaN scores are never flagged)."""
        if self.cutoff_ is None:
            raise NotFittedError(f"{self.name} threshold is not fitted; call fit(scores) first")
        with np.errstate(invalid="ignore"):
            return np.asarray(scores, dtype=np.float64) > self.cutoff_

    def to_dict(self) -> dict:
        return {"method": self.name, **self.params(), "cutoff": self.cutoff_}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@_register
class Percentile(Threshold):
    """Cutoff at the ``q``-th percentile of scores on normal data: about
    ``(100 - q)`` % of normal points are flagged."""

    name = "percentile"

    def __init__(self, q: float = 99.5):
        if not 0 < float(q) < 100:
            raise ConfigError(f"percentile must be between 0 and 100 (exclusive), got {q!r}")
        self.q = float(q)

    def params(self) -> dict:
        return {"q": self.q}

    def _cutoff(self, scores, labels):
        return np.percentile(scores, self.q)


def parse_threshold(spec: str) -> Threshold:
    """Build an unfitted threshold from ``"method:value"``, e.g. ``"percentile:99.9"``."""
    method, _, value = str(spec).partition(":")
    cls = _THRESHOLDS.get(method)
    if cls is None:
        raise ConfigError(f"threshold method {method!r} unknown; choose one of: {', '.join(_THRESHOLDS)}")
    if not value:
        return cls()
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"threshold value in {spec!r} is not a number") from None
    return cls(number)


def threshold_from_dict(d: dict) -> Threshold:
    """Rebuild a fitted threshold from ``Threshold.to_dict()`` output."""
    d = dict(d)
    cls = _THRESHOLDS.get(d.pop("method", None))
    if cls is None:
        raise ConfigError(f"unknown threshold method in {d!r}")
    cutoff = d.pop("cutoff", None)
    th = cls(**d)
    th.cutoff_ = None if cutoff is None else float(cutoff)
    return th
