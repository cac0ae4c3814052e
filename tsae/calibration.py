"""Raw anomaly scores -> a calibrated anomaly probability in [0, 1], causally.

A raw score is in units of one model's validation error: its scale differs between
series and drifts within one. :class:`ScoreCalibrator` turns it into the probability
that the recent scores are *higher than usual for this series*, the idea behind HTM's
anomaly likelihood (Ahmad et al., Neurocomputing 2017):

* ``x_t = raw_t ** (1/3)``: raw scores are mean squared errors, skewed like a chi-square
  variable, and the cube root of a chi-square variable is close to normal
  (Wilson & Hilferty, 1931). The log, tried first, spreads the *left* tail of a
  single point's squared error so wide that a spike 150 times the typical score got a
  probability of 0.97; on NAB the cube root scores 44 (standard profile) where the log
  scored 29 (``benchmarks/results/nab-tried.md``);
* ``m_t`` = mean of the last ``short`` values of ``x`` (1 by default: each row on its
  own; a longer mean lets a burst count more than one spike of the same height);
* a long-running mean ``mu`` and variance ``var`` of ``m``, exponentially weighted over
  about ``long`` rows (so the estimate follows drift), updated *after* row ``t`` is scored;
* ``probability_t = Phi((m_t - mu) / max(sqrt(var), min_std * mu))``, the normal CDF
  (the spread is at least ``min_std`` of the mean, so a flat history does not divide
  by zero); during the first ``warmup`` rows (too little history) it is 0.5.

Every step is unchanged when all raw scores are multiplied by a constant, so the
probability does not depend on a series' scale: one cutoff serves many series.

Everything is a scalar recurrence over the rows in order, so feeding the scores in one
block or one at a time gives bit-identical probabilities, and the probability of row
``t`` depends on rows ``0..t`` only. NaN raw scores (rows that have no score yet) give
NaN and leave the state unchanged.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ConfigError

__all__ = ["CalibrationSettings", "ScoreCalibrator"]

STATE_VERSION = 2


@dataclass(frozen=True)
class CalibrationSettings:
    """How raw scores become probabilities (see the module docstring)."""

    short: int = 1  # rows in the short-term mean
    long: int = 1000  # about this many rows weigh in the long-running estimate
    warmup: int = 100  # rows of history before a probability other than 0.5
    min_std: float = 0.05  # floor of the long-running spread, as a share of the long-running mean

    def validate(self) -> CalibrationSettings:
        """ConfigError naming the first setting out of range; returns self."""
        for key in ("short", "long", "warmup"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"calibration {key} must be a positive integer, got {value!r}")
        value = self.min_std
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise ConfigError(f"calibration min_std must be a positive number, got {value!r}")
        return self


class ScoreCalibrator:
    """Causal raw score -> anomaly probability, with a JSON-ready state.

    Parameters
    ----------
    settings : CalibrationSettings, optional
        The recurrences' constants; the defaults scored best on NAB
        (``benchmarks/results/nab-tried.md``).
    state : dict, optional
        A :meth:`state_dict` to resume from.

    Examples
    --------
    >>> import numpy as np
    >>> raw = np.r_[np.random.default_rng(0).gamma(4, 0.25, 500), np.full(10, 20.0)]
    >>> p = ScoreCalibrator().update_many(raw)
    >>> bool(p[:100].max() == 0.5), bool(p[-1] > 0.999), bool(p[200:500].mean() < 0.8)
    (True, True, True)
    """

    def __init__(self, settings: CalibrationSettings | None = None, state: dict | None = None):
        self.settings = (settings or CalibrationSettings()).validate()
        self.n = 0  # rows with a score seen so far
        self.mean = 0.0  # long-running mean of the short-term means
        self.var = 0.0  # long-running variance of the short-term means
        self.recent: deque[float] = deque(maxlen=self.settings.short)  # last `short` cube roots
        if state is not None:
            self.load_state_dict(state)

    def update(self, raw: float) -> float:
        """The probability for one new raw score (NaN in, NaN out)."""
        if not math.isfinite(raw):
            return math.nan
        s = self.settings
        self.recent.append(max(raw, 0.0) ** (1.0 / 3.0))
        short_mean = math.fsum(self.recent) / len(self.recent)
        if self.n < s.warmup:
            probability = 0.5
        else:
            spread = max(math.sqrt(self.var), s.min_std * abs(self.mean))
            z = (short_mean - self.mean) / spread if spread > 0 else (math.inf if short_mean > self.mean else 0.0)
            probability = 0.5 * math.erfc(-z / math.sqrt(2.0))
        # Exponentially weighted update (plain running mean while n < long), after scoring.
        self.n += 1
        alpha = 1.0 / min(self.n, s.long)
        delta = short_mean - self.mean
        self.mean += alpha * delta
        self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
        return probability

    def update_many(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities for consecutive raw scores (same as calling :meth:`update` on each)."""
        return np.array([self.update(float(r)) for r in np.asarray(raw, dtype=np.float64).ravel()], dtype=np.float64)

    @classmethod
    def from_state(cls, state: dict | None) -> ScoreCalibrator:
        """A calibrator resumed from a :meth:`state_dict` (with the settings it records),
        or a fresh one with the default settings for None. ConfigError (one line) if the
        state does not make sense."""
        if state is None:
            return cls()
        settings = state.get("settings") if isinstance(state, dict) else None
        if not isinstance(settings, dict) or set(settings) != set(CalibrationSettings.__dataclass_fields__):
            raise ConfigError("calibration state lacks its settings (short, long, warmup, min_std)")
        try:
            return cls(CalibrationSettings(**settings), state=state)
        except TypeError:
            raise ConfigError("calibration settings have values of the wrong type") from None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """JSON-ready state: resuming from it continues bit-identically."""
        return {
            "version": STATE_VERSION,
            "settings": asdict(self.settings),
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "recent": list(self.recent),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output; ConfigError (one line) if it does not fit."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ConfigError(f"calibration state is not a version-{STATE_VERSION} state dict")
        if state.get("settings") != asdict(self.settings):
            raise ConfigError("calibration state was made with other settings")
        try:
            n, mean, var = int(state["n"]), float(state["mean"]), float(state["var"])
            recent = [float(x) for x in state["recent"]]
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                "calibration state lacks n, mean, var or recent, or has values of the wrong type"
            ) from None
        if (
            n < 0
            or var < 0
            or not (math.isfinite(mean) and math.isfinite(var))
            or len(recent) > self.settings.short
            or len(recent) > n
            or (n > 0 and not recent)
            or not all(math.isfinite(x) for x in recent)
        ):
            raise ConfigError("calibration state is inconsistent (counts, variance or recent scores)")
        self.n, self.mean, self.var = n, mean, var
        self.recent = deque(recent, maxlen=self.settings.short)
