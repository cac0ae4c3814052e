"""Start monitoring with no history: the first rows train the model, then every row is scored.

NAB's protocol, and a new series in a fleet, begin with nothing to fit on.
:class:`ColdStartScorer` answers the first ``warmup`` rows with "no score yet" (the
probationary period) while it keeps them, fits a copy of the given (unfitted)
``Detector`` on them when the last one arrives, pushes them through a fresh
:class:`tsae.streaming.StreamingScorer` (so the window, the calibration and the
learner's buffer start with that history) and from then on behaves as that scorer.
With continual learning on (the default here) the model goes on learning as rows arrive.

Memory: the ``warmup`` rows until the fit, then the stream's.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .frames import _MISSING_TEXT, TIMESTAMP_NAMES
from .streaming import StreamEvent

__all__ = ["ColdStartScorer", "MONITORING"]

#: Detector settings for monitoring a stream (``benchmarks/results/nab.md``): causal scores,
#: continual learning, alerts when the calibrated probability exceeds 1 - 1e-9 (about six
#: standard deviations), at most one alarm per 50 rows of an incident.
MONITORING = dict(score_mode="causal", learning="on", threshold="probability:0.999999999", events={"cooldown": 50})


class ColdStartScorer:
    """A stream that fits its own model on its first ``warmup`` rows.

    Parameters
    ----------
    detector : Detector, optional
        Unfitted settings to fit with. Default: :data:`MONITORING` (a decision for each
        row as it arrives, a model that keeps learning, alerts on the calibrated
        probability with a cool-down: the settings that scored best on NAB). It is
        copied, never modified.
    warmup : int
        Rows to fit on (at least what ``Detector.fit`` needs for the window; NAB uses
        ``min(floor(0.15 n), 750)``).
    on_error, threads :
        As :class:`tsae.streaming.StreamingScorer`.
    on_fit : callable, optional
        Called with the fitted detector as soon as it exists (e.g. to save it).
    explain : bool
        Events carry each channel's part of the score (``StreamingScorer``'s ``explain``).

    Attributes
    ----------
    detector : Detector or None
        The fitted detector once ``warmup`` rows have arrived (save it to keep it).
    scorer : StreamingScorer or None
        The stream after the fit.
    """

    def __init__(
        self,
        detector=None,
        warmup: int = 750,
        on_error: str = "raise",
        threads: int | None = None,
        on_fit=None,
        explain: bool = False,
    ):
        from .detector import Detector

        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 1:
            raise ConfigError(f"warmup must be a positive number of rows, got {warmup!r}")
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.template = copy.deepcopy(detector) if detector is not None else Detector(**MONITORING)
        self.warmup, self.on_error, self.threads, self.on_fit = int(warmup), on_error, threads, on_fit
        self.explain = explain
        self.pending: list = []  # the warm-up rows, until the fit
        self.detector = None
        self.scorer = None

    @property
    def rows(self) -> int:
        """Rows accepted so far."""
        return len(self.pending) if self.scorer is None else self.scorer.rows

    @property
    def channels(self) -> list | None:
        """The fitted channels (None before the fit)."""
        return None if self.scorer is None else self.scorer.channels

    def update(self, row, timestamp=None) -> StreamEvent:
        """Add one row (a dict by column name, as the fit needs names); return its event:
        not ready (no score, row numbered) during the warm-up, then as
        ``StreamingScorer.update``."""
        if self.scorer is not None:
            return self.scorer.update(row, timestamp)
        if not isinstance(row, (dict, pd.Series)):
            raise DataError("a cold-start stream needs rows as dicts by column name (the fit names the channels)")
        self.pending.append(dict(row))
        if len(self.pending) == self.warmup:
            self._start()
        if timestamp is None and self.template.timestamp is not None:
            timestamp = row.get(self.template.timestamp)
        elif timestamp is None:
            timestamp = next((row[k] for k in row if str(k).lower() in TIMESTAMP_NAMES), None)
        return StreamEvent(math.nan, False, False, self.rows - 1, timestamp, 0)

    def _start(self) -> None:
        """Fit on the warm-up rows, then replay them through a fresh stream."""
        frame = _as_numbers(pd.DataFrame(self.pending))
        try:
            detector = copy.deepcopy(self.template).fit(frame, source=f"the first {self.warmup} stream rows")
        except DataError as exc:  # not a bad row that the stream could skip: it cannot start
            raise ConfigError(f"cold start: {exc}") from None
        scorer = detector.streaming(on_error=self.on_error, threads=self.threads, explain=self.explain)
        scorer.update_many(frame)  # their events were answered already (not ready)
        self.detector, self.scorer, self.pending = detector, scorer, []
        if self.on_fit is not None:
            self.on_fit(detector)

    def flush(self) -> pd.DataFrame:
        """End of stream: as ``StreamingScorer.flush`` (nothing before the fit)."""
        if self.scorer is None:
            return pd.DataFrame(columns=["row", "timestamp", "score", "probability", "is_anomaly"])
        return self.scorer.flush()


def _as_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns whose values are all numbers or missing (as text, from a CSV line) become
    floats; others stay as they are (the timestamp, or text that the fit then names)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype != object:
            continue
        missing = column.map(
            lambda v: (
                v is None
                or (isinstance(v, str) and v.strip().lower() in _MISSING_TEXT)
                or (isinstance(v, float) and math.isnan(v))
            )
        )
        numbers = pd.to_numeric(column.where(~missing), errors="coerce")
        if numbers.notna().sum() == (~missing).sum() and (~missing).any():
            out[name] = numbers.astype(np.float64)
    return out
