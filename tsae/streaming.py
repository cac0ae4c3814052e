"""Score points one at a time as they arrive, with memory bounded by the window.

The stream uses the same point scorer as ``Detector.score`` (``tsae.scoring``), so
``update`` over a series, then ``flush``, gives the batch scores (to float32
rounding, about 1e-7 relative). In the default ``window`` mode (and in ``overlap``) a
point's score needs the ``window - 1`` points after it: each update returns the score
of the point that became final, ``delay = window - 1`` rows earlier (``event.row``
says which). A model fitted with ``score_mode="causal"`` scores the point that just
arrived (delay 0).

Missing values follow the batch policy (forward fill of runs up to ``max_gap``).
A row that cannot be used (text, inf, a wrong number of values, a gap longer than
``max_gap``) raises DataError with ``on_error="raise"``; with ``on_error="skip"``
it is dropped and the returned event carries a ``warning`` (``ready`` False, no
score), so the stream goes on with the next row. Event rules (min length, merge,
cool-down) are applied by the batch path only; the stream flags by the threshold.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .errors import ConfigError, DataError
from .frames import GapFiller, to_values
from .runtime import default_threads

STATE_VERSION = 1


@dataclass
class StreamEvent:
    """What one ``update`` produced.

    ``score``/``is_anomaly`` belong to row ``row`` (0-based count of accepted rows)
    with ``timestamp``; ``ready`` is False (and ``score`` NaN) until enough history
    has arrived; ``delay`` is how many rows ago that point arrived; ``warning`` is set
    when the incoming row was skipped.
    """

    score: float
    is_anomaly: bool
    ready: bool
    row: int | None
    timestamp: Any = None
    delay: int = 0
    warning: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = None if math.isnan(self.score) else self.score
        if isinstance(self.timestamp, (pd.Timestamp, np.datetime64)):
            d["timestamp"] = pd.Timestamp(self.timestamp).isoformat()
        elif isinstance(self.timestamp, np.generic):
            d["timestamp"] = self.timestamp.item()
        return d


class StreamingScorer:
    """Streaming scores for a fitted Detector: ``update(row)``, ``update_many(frame)``,
    ``flush()``, ``state_dict()``; see the module docstring for the contract.

    ``threads`` sets torch's CPU threads for the process (default: the detector's
    setting, else ``tsae.runtime.default_threads()``); one thread gives the lowest
    per-row latency.
    """

    def __init__(self, detector, state: dict | None = None, on_error: str = "raise", threads: int | None = None):
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        detector._check_fitted()
        self.detector, self.on_error = detector, on_error
        torch.set_num_threads(threads or detector.threads or default_threads())
        self.channels = list(detector.channels_)
        self.center = np.asarray(detector.scaler_.center, dtype=np.float64)
        self.scale = np.asarray(detector.scaler_.scale, dtype=np.float64)
        self.gaps = GapFiller(detector.max_gap)
        self.scorer = detector.point_scorer(min_batch=1)
        self.delay = self.scorer.delay
        self.stamps: deque = deque()  # timestamps of rows not yet scored (at most delay + the current block)
        self.rows = 0  # rows accepted so far
        if state is not None:
            self.load_state_dict(state)

    # ------------------------------------------------------------- one row
    def update(self, row, timestamp=None) -> StreamEvent:
        """Add one row (dict by channel name, sequence, numpy array or Series with the
        fitted channels); return the event for the point whose score became final."""
        try:
            x = self._row_values(row)
            if timestamp is None and isinstance(row, (dict, pd.Series)):
                timestamp = row.get(self.detector.timestamp_) if self.detector.timestamp_ else None
            filled = self.gaps.fill(x[None, :], self.rows, "stream row", self.channels)
        except DataError as exc:
            if self.on_error == "raise":
                raise
            return StreamEvent(math.nan, False, False, None, timestamp, self.delay, warning=str(exc))
        self.rows += 1
        self.stamps.append(timestamp)
        scores = self.scorer.push(((filled - self.center) / self.scale).astype(np.float32))
        if len(scores) == 0:
            return StreamEvent(math.nan, False, False, None, timestamp, self.delay)
        stamp = self.stamps.popleft()
        score = float(scores[-1])
        if math.isnan(score):  # causal mode before the first full window
            return StreamEvent(score, False, False, self.scorer.n_emitted - 1, stamp, self.delay)
        return StreamEvent(score, bool(score > self.detector.threshold_.cutoff_), True,
                           self.scorer.n_emitted - 1, stamp, self.delay)

    def _row_values(self, row) -> np.ndarray:
        if isinstance(row, (dict, pd.Series)):
            missing = [c for c in self.channels if c not in row]
            if missing:
                raise DataError(f"stream row {self.rows} lacks channel(s) {', '.join(missing)}")
            row = [row[c] for c in self.channels]
        values = np.asarray(row, dtype=object).ravel()
        if len(values) != len(self.channels):
            raise DataError(f"stream row {self.rows} has {len(values)} values; the model has "
                            f"{len(self.channels)} channels ({', '.join(self.channels)})")
        out = np.empty(len(values))
        for j, v in enumerate(values):
            if v is None or v is pd.NA or (isinstance(v, str) and v.strip() in ("", "NA", "NaN", "nan", "null")):
                out[j] = np.nan
                continue
            try:
                out[j] = float(v)
            except (TypeError, ValueError):
                raise DataError(f"stream row {self.rows}: channel '{self.channels[j]}' has text {v!r} "
                                f"(numbers expected)") from None
            if math.isinf(out[j]):
                raise DataError(f"stream row {self.rows}: channel '{self.channels[j]}' is infinite")
        return out

    # ------------------------------------------------------------ a batch
    def update_many(self, frame) -> pd.DataFrame:
        """Add many rows at once (a DataFrame with the fitted channels, or an array
        (n, C)), vectorised. Returns the points whose scores became final:
        columns ``row``, ``timestamp``, ``score``, ``is_anomaly``. Bad rows raise."""
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(np.asarray(frame, dtype=np.float64).reshape(-1, len(self.channels)),
                                 columns=self.channels)
        missing = [c for c in self.channels if c not in frame.columns]
        if missing:
            raise DataError(f"stream batch lacks channel(s) {', '.join(missing)}")
        x = self.gaps.fill(to_values(frame, self.channels, "stream batch"), self.rows, "stream batch", self.channels)
        ts_col = self.detector.timestamp_
        self.stamps.extend(frame[ts_col].tolist() if ts_col in frame.columns else [None] * len(frame))
        self.rows += len(frame)
        return self._final(self.scorer.push(((x - self.center) / self.scale).astype(np.float32)))

    def flush(self) -> pd.DataFrame:
        """End of stream: scores of the last ``delay`` rows (window and overlap modes), averaged
        over the windows that exist, as in the batch path. Same columns as update_many."""
        return self._final(self.scorer.flush())

    def _final(self, scores: np.ndarray) -> pd.DataFrame:
        """Frame of the rows whose scores just became final (the oldest pending rows)."""
        end = self.scorer.n_emitted
        rows = np.arange(end - len(scores), end)
        stamps = [self.stamps.popleft() for _ in range(len(scores))]
        valid = ~np.isnan(scores)
        return pd.DataFrame({"row": rows, "timestamp": stamps, "score": scores,
                             "is_anomaly": np.where(valid, scores > self.detector.threshold_.cutoff_, False)})

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """JSON-ready state to resume after a restart without re-warming."""
        return {"version": STATE_VERSION, "channels": self.channels, "rows": self.rows,
                "stamps": [None if s is None else str(s) for s in self.stamps],
                "gaps": self.gaps.state_dict(), "scorer": self.scorer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output (for the same model)."""
        if state.get("version") != STATE_VERSION or state.get("channels") != self.channels:
            raise ConfigError("stream state does not match this model (other channels or state version)")
        self.rows = int(state["rows"])
        self.stamps = deque(state["stamps"])
        self.gaps.load_state_dict(state["gaps"])
        self.scorer.load_state_dict(state["scorer"])
