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

The recurrences run over the rows in order (vectorised: ``update_many``), so feeding
the scores in one block or one at a time gives bit-identical probabilities, and the
probability of row ``t`` depends on rows ``0..t`` only. NaN raw scores (rows that have no score yet) give
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
#: Largest count of rows a setting may hold (``short`` sizes a buffer).
MAX_ROWS = 2**31 - 1


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
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_ROWS:
                raise ConfigError(
                    f"calibration {key} must be a whole number of rows from 1 to {MAX_ROWS}, got {value!r:.40}"
                )
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
        return float(self.update_many(np.array([raw], dtype=np.float64))[0])

    def update_many(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities for consecutive raw scores, vectorised.

        Every element goes through the same arithmetic whatever the block it comes in
        (element-wise functions of scipy.special, which loop in scalar C, and first-order
        ``lfilter`` recurrences whose state is carried exactly between blocks), so feeding
        scores in blocks of any size, or one at a time, gives bit-identical probabilities.
        """
        from scipy.signal import lfilter
        from scipy.special import cbrt, ndtr

        raw = np.asarray(raw, dtype=np.float64).ravel()
        if len(raw) == 1 and self.n >= self.settings.long:  # a stream's row: scalars, ~10x faster
            return np.array([self._update_one(float(raw[0]))])
        out = np.full(len(raw), np.nan)
        finite = np.isfinite(raw)
        if not finite.any():
            return out
        s = self.settings
        short = self._short_means(cbrt(np.maximum(raw[finite], 0.0)))  # (k,)
        k = len(short)
        before_mean, before_var = np.empty(k), np.empty(k)  # the state each row is scored against
        # while fewer than `long` rows were seen, the weight 1/n changes every row: a loop
        warm = min(k, max(0, s.long - self.n))
        for i in range(warm):
            before_mean[i], before_var[i] = self.mean, self.var
            self.n += 1
            alpha = 1.0 / self.n
            delta = short[i] - self.mean
            self.mean += alpha * delta
            self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
        if warm < k:  # then a constant weight: two first-order linear filters
            a = 1.0 / s.long
            keep = [1.0, -(1.0 - a)]
            rest = short[warm:]
            means = lfilter([a], keep, rest, zi=[(1.0 - a) * self.mean])[0]
            before_mean[warm:] = np.concatenate([[self.mean], means[:-1]])
            delta = rest - before_mean[warm:]
            variances = lfilter([1.0], keep, a * (1.0 - a) * delta * delta, zi=[(1.0 - a) * self.var])[0]
            before_var[warm:] = np.concatenate([[self.var], variances[:-1]])
            self.n += k - warm
            self.mean, self.var = float(means[-1]), float(variances[-1])
        seen = self.n - k + np.arange(k)  # rows of history before each row
        spread = np.maximum(np.sqrt(before_var), s.min_std * np.abs(before_mean))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(spread > 0, (short - before_mean) / spread, np.where(short > before_mean, np.inf, 0.0))
        out[finite] = np.where(seen < s.warmup, 0.5, ndtr(z))
        return out

    def _update_one(self, raw: float) -> float:
        """``update_many`` of one score after the warm-up weights (``n >= long``), in
        Python floats: the same operations in the same order as the vectorised path
        (``lfilter``'s first output is ``b0 * x + zi``), so the same bits."""
        from scipy.special import cbrt, ndtr

        if not math.isfinite(raw):
            return math.nan
        s = self.settings
        short = float(self._short_means(np.array([cbrt(max(raw, 0.0))]))[0])
        a = 1.0 / s.long
        before_mean, before_var, seen = self.mean, self.var, self.n
        delta = short - before_mean
        self.mean = a * short + (1.0 - a) * before_mean
        self.var = a * (1.0 - a) * delta * delta + (1.0 - a) * before_var
        self.n += 1
        spread = max(math.sqrt(before_var), s.min_std * abs(before_mean))
        if spread > 0:
            z = (short - before_mean) / spread
        else:
            z = math.inf if short > before_mean else 0.0
        return 0.5 if seen < s.warmup else float(ndtr(z))

    def _short_means(self, cube: np.ndarray) -> np.ndarray:
        """The mean of the last ``short`` cube roots at each row (``recent`` carried over)."""
        if self.settings.short == 1:
            self.recent.append(float(cube[-1]))
            return cube
        means = np.empty(len(cube))
        for i, value in enumerate(cube.tolist()):
            self.recent.append(value)
            means[i] = math.fsum(self.recent) / len(self.recent)
        return means

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
