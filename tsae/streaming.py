"""Score points one at a time as they arrive, with memory bounded by the window.

The stream uses the same point scorer as ``Detector.score`` (``tsae.scoring``), so
``update`` over a series, then ``flush``, gives the batch scores (to float32
rounding, about 1e-7 relative). In the default ``window`` mode (and in ``overlap``) a
point's score needs the ``window - 1`` points after it: each update returns the score
of the point that became final, ``delay = window - 1`` rows earlier (``event.row``
says which). A model fitted with ``score_mode="causal"`` scores the point that just
arrived (delay 0).

Missing values are those of the batch path (``None``, NaN, ``pd.NA``, and the
texts ``""``, ``NA``, ``N/A``, ``null``, ``nan``... of ``tsae.frames``) and follow
its policy (forward fill of runs up to ``max_gap``). A row that cannot be used
(text, an infinite value, a value beyond float32's range -- the model computes in
float32, where it would become infinite --, a wrong number of values, a gap longer
than ``max_gap``) raises DataError naming the channel and the stream row with
``on_error="raise"``; with ``on_error="skip"`` it is dropped and the returned event
carries a ``warning`` (``ready`` False, no score), so the stream goes on with the
next row. Scores, calibrated probabilities and flags come from ``tsae.monitor``, as in
the batch path: the threshold, and an event ``cooldown`` applied as rows arrive;
merging events and a minimum event length need later rows and are applied by the
batch path only. With continual learning the stream trains a copy of the model as
rows arrive, exactly as ``Detector.assess`` does over the same rows.

``state_dict()`` is a JSON-ready snapshot to resume after a restart. It records a
fingerprint of the model (:func:`model_fingerprint`) and is checked whole before it
is restored: a state of another model, of another layout version, with missing or
mistyped entries or with counters that disagree raises ConfigError, and the scorer
is left as it was.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .frames import _MISSING_TEXT, GapFiller, to_values
from .header import check_dict, check_int, check_numbers
from .monitor import PendingStamps
from .persist import compute_checksum
from .runtime import default_threads, torch_threads
from .scoring import MIN_BATCH

#: Layout of ``state_dict()``; 2 added the model fingerprint, 3 the calibration, the
#: alarm cool-down and the continual learner (``tsae.monitor``).
STATE_VERSION = 3
#: Largest magnitude of a value, raw or scaled: the model computes in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_STATE_KEYS = ("version", "model", "channels", "rows", "stamps", "gaps", "scorer", "calibration", "alarm", "learning")
_BEYOND_FLOAT32 = f"beyond the float32 range the model computes in (|value| and |scaled value| <= {FLOAT32_MAX:g})"


@dataclass
class StreamEvent:
    """What one ``update`` produced.

    ``score`` (raw), ``probability`` (calibrated, in [0, 1]) and ``is_anomaly`` belong
    to row ``row`` (0-based count of accepted rows) with ``timestamp``; ``ready`` is
    False (and ``score`` NaN) until enough history has arrived; ``delay`` is how many
    rows ago that point arrived; ``warning`` is set when the incoming row was skipped.
    """

    score: float
    is_anomaly: bool
    ready: bool
    row: int | None
    timestamp: Any = None
    delay: int = 0
    warning: str | None = None
    probability: float = math.nan
    parts: dict | None = None  # with explain: each channel's part of the score

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("score", "probability"):
            d[key] = None if math.isnan(d[key]) else d[key]
        if self.parts is not None:
            d["parts"] = {k: (None if math.isnan(v) else v) for k, v in self.parts.items()}
        if isinstance(self.timestamp, (pd.Timestamp, np.datetime64)):
            d["timestamp"] = pd.Timestamp(self.timestamp).isoformat()
        elif isinstance(self.timestamp, np.generic):
            d["timestamp"] = self.timestamp.item()
        return d


def model_fingerprint(detector) -> str:
    """What a stream state is valid for: a checksum (``tsae.persist.compute_checksum``)
    of the detector's weights, channels, window, score mode, scaler, channel weights
    and max_gap.

    The threshold and event rules are left out: a state holds no flags, so a stream
    resumes across a recalibration. The same model saved and loaded has the same
    fingerprint.
    """
    weights = detector.channel_weights_
    fields = {
        "channels": list(detector.channels_),
        "window": int(detector.window_),
        "score_mode": detector.score_mode,
        **(
            {"stride": int(detector.stride_)} if detector.stride_ != 1 else {}
        ),  # stride-1 fingerprints as before strides
        "scaler": detector.scaler_.to_dict(),
        "channel_weights": None if weights is None else [float(w) for w in weights],
        "max_gap": int(detector.max_gap),
    }
    tensors = dict(detector.module_.state_dict())
    neighbors = detector.neighbors_
    if neighbors is not None:  # fingerprints without it as before it existed
        fields["neighbors"] = neighbors.to_dict()
        tensors["neighbors.reference"] = neighbors.reference
    return compute_checksum(fields, tensors)


def _check_values(values, field: str, n: int) -> list[float]:
    """``n`` finite numbers within float32's range (the scorer's context, the last
    values of the gap filler); ConfigError naming ``field`` otherwise."""
    numbers = check_numbers(values, field, n)
    if any(abs(v) > FLOAT32_MAX for v in numbers):
        raise ConfigError(f"field '{field}' holds a value {_BEYOND_FLOAT32}")
    return numbers


def _is_missing(value) -> bool:
    """True for what the batch path reads as missing: null-like scalars (None, NaN,
    pd.NA, NaT) and the missing-value texts of ``tsae.frames`` (any case, padded)."""
    if isinstance(value, str):
        return value.strip().lower() in _MISSING_TEXT
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


class StreamingScorer:
    """Streaming scores for a fitted Detector: ``update(row)``, ``update_many(frame)``,
    ``flush()``, ``state_dict()``; see the module docstring for the contract.

    ``threads``: torch's CPU threads during each call (default: the detector's setting,
    else ``tsae.runtime.default_threads()``); the process's own setting is restored after
    every call, never changed behind the caller's back. One thread gives the lowest
    per-row latency. ``learning``: ``"model"`` (the detector's setting), ``"off"``,
    ``"on"`` or settings (``tsae.options.LearningSettings.parse``): with learning, a copy
    of the model keeps training on the rows (``tsae.learning``), and the state carries
    its weights. ``explain``: events (and the frames of ``update_many``/``flush``, as
    ``part:<channel>`` columns) carry each channel's part of the score
    (``Detector.explain``).
    """

    def __init__(
        self,
        detector,
        state: dict | None = None,
        on_error: str = "raise",
        threads: int | None = None,
        learning="model",
        explain: bool = False,
    ):
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        detector._check_fitted()
        self.detector, self.on_error = detector, on_error
        self.threads = threads or detector.threads or default_threads()  # set around each call, then restored
        self.channels = list(detector.channels_)
        self.center = np.asarray(detector.scaler_.center, dtype=np.float64)
        self.scale = np.asarray(detector.scaler_.scale, dtype=np.float64)
        self.gaps = GapFiller(detector.max_gap)
        # One row (update): its window, if any, unpadded for latency (float32 rounding from
        # the batch path). Blocks (update_many, flush): with a stride, padded as in the batch
        # path, so their scores are bit-identical to it; with stride 1 a block is mostly
        # one window a row, unpadded too.
        self.monitor = detector._monitor(
            min_batch=1 if detector.stride_ == 1 else MIN_BATCH, learning=learning, parts=explain
        )
        self.scorer = self.monitor.scorer
        self.delay = self.monitor.delay
        self.stamps = PendingStamps()  # timestamps of rows not yet scored (at most delay + the current block)
        self.rows = 0  # rows accepted so far
        if state is not None:
            self.load_state_dict(state)

    # ------------------------------------------------------------- one row
    def update(self, row, timestamp=None) -> StreamEvent:
        """Add one row (dict by channel name, sequence, numpy array or Series with the
        fitted channels); return the event for the point whose score became final."""
        with torch_threads(self.threads):
            return self._update(row, timestamp)

    def _update(self, row, timestamp=None) -> StreamEvent:
        """``update`` without the thread setting."""
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
        self.stamps.add([timestamp])
        # unpadded: a padded pass is 16 windows, p99 2.1 ms instead of 0.97
        result = self.monitor.push(((filled - self.center) / self.scale).astype(np.float32), min_batch=1)
        if len(result) == 0:
            return StreamEvent(math.nan, False, False, None, timestamp, self.delay)
        stamp = self.stamps.take(1)[0]
        score = float(result.score[-1])
        return StreamEvent(
            score,
            bool(result.is_anomaly[-1]),
            not math.isnan(score),
            self.scorer.n_emitted - 1,
            stamp,
            self.delay,
            probability=float(result.probability[-1]),
            parts=None if result.parts is None else dict(zip(self.channels, result.parts[-1].tolist())),
        )

    def _row_values(self, row) -> np.ndarray:
        """The row's values in channel order, NaN where missing (DataError for a row
        that cannot be used, naming the stream row and the channel)."""
        if isinstance(row, (dict, pd.Series)):
            missing = [str(c) for c in self.channels if c not in row]
            if missing:
                raise DataError(f"stream row {self.rows} lacks channel(s) {', '.join(missing)}")
            row = [row[c] for c in self.channels]
        values = np.asarray(row, dtype=object).ravel()
        if len(values) != len(self.channels):
            raise DataError(
                f"stream row {self.rows} has {len(values)} values; the model has "
                f"{len(self.channels)} channels ({', '.join(map(str, self.channels))})"
            )
        return np.array([self._cell(v, j) for j, v in enumerate(values)], dtype=np.float64)

    def _cell(self, value, j: int) -> float:
        """One value of channel ``j`` as a float (NaN if missing), checked like the batch path
        plus the float32 range the model computes in."""
        if _is_missing(value):
            return math.nan
        where = f"stream row {self.rows}: channel '{self.channels[j]}'"
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise DataError(f"{where} has text {value!r:.60} (numbers expected)") from None
        except OverflowError:  # an integer beyond any float, so beyond float32
            x = math.inf
        else:
            if math.isinf(x):
                raise DataError(f"{where} is infinite")
        if not (abs(x) <= FLOAT32_MAX and abs((x - self.center[j]) / self.scale[j]) <= FLOAT32_MAX):
            shown = f"{x:g}" if math.isfinite(x) else f"an integer of {value.bit_length()} bits"
            raise DataError(f"{where} has {shown}, {_BEYOND_FLOAT32}")
        return x

    # ------------------------------------------------------------ a batch
    def update_many(self, frame) -> pd.DataFrame:
        """Add many rows at once (a DataFrame with the fitted channels, or an array
        (n, C)), vectorised. Returns the points whose scores became final:
        columns ``row``, ``timestamp``, ``score``, ``is_anomaly``. Bad rows raise DataError
        naming the column and the stream row, and leave the stream as it was.
        Columns: ``row``, ``timestamp``, ``score``, ``probability``, ``is_anomaly``."""
        with torch_threads(self.threads):
            return self._update_many(frame)

    def _update_many(self, frame) -> pd.DataFrame:
        """``update_many`` without the thread setting."""
        frame = self._as_frame(frame)
        missing = [str(c) for c in self.channels if c not in frame.columns]
        if missing:
            raise DataError(f"stream batch lacks channel(s) {', '.join(missing)}")
        numbered = frame.set_axis(pd.RangeIndex(self.rows, self.rows + len(frame)))  # messages name stream rows
        values = to_values(numbered, self.channels, "stream batch")
        self._check_range(values)
        x = self.gaps.fill(values, self.rows, "stream batch", self.channels)
        ts_col = self.detector.timestamp_
        self.stamps.add(frame[ts_col].tolist() if ts_col in frame.columns else [None] * len(frame))
        self.rows += len(frame)
        return self._final(self.monitor.push(((x - self.center) / self.scale).astype(np.float32)))

    def _as_frame(self, block) -> pd.DataFrame:
        """``block`` as a DataFrame: as it is, or an array (n, C) (or flat, n * C values)
        with the fitted channels as columns."""
        if isinstance(block, pd.DataFrame):
            return block
        try:
            values = np.asarray(block)
        except ValueError:  # ragged rows
            raise DataError(
                "stream batch must be a DataFrame or an array (rows, channels); its rows differ in length"
            ) from None
        n = len(self.channels)
        if values.ndim == 1 and values.size % n == 0:
            values = values.reshape(-1, n)
        if values.ndim != 2 or values.shape[1] != n:
            raise DataError(
                f"stream batch has shape {values.shape}; the model has {n} channels "
                f"({', '.join(map(str, self.channels))})"
            )
        return pd.DataFrame(values, columns=self.channels)

    def _check_range(self, values: np.ndarray) -> None:
        """DataError naming the first value of a batch (rows from ``self.rows``) that, raw
        or scaled, is beyond float32's range."""
        with np.errstate(over="ignore", invalid="ignore"):
            bad = (np.abs(values) > FLOAT32_MAX) | (np.abs((values - self.center) / self.scale) > FLOAT32_MAX)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(
                f"stream batch: column '{self.channels[j]}' has {values[i, j]:g} at row "
                f"{self.rows + int(i)}, {_BEYOND_FLOAT32}"
            )

    def flush(self) -> pd.DataFrame:
        """End of stream: scores of the last ``delay`` rows (window and overlap modes), averaged
        over the windows that exist, as in the batch path. Same columns as update_many."""
        with torch_threads(self.threads):
            return self._flush()

    def _flush(self) -> pd.DataFrame:
        """``flush`` without the thread setting."""
        return self._final(self.monitor.flush())

    def _final(self, result) -> pd.DataFrame:
        """Frame of the rows whose scores just became final (the oldest pending rows)."""
        end = self.scorer.n_emitted
        rows = np.arange(end - len(result), end)
        stamps = self.stamps.take(len(result)).tolist()
        frame = pd.DataFrame(
            {
                "row": rows,
                "timestamp": stamps,
                "score": result.score,
                "probability": result.probability,
                "is_anomaly": result.is_anomaly,
            }
        )
        if result.parts is not None:
            frame[[f"part:{c}" for c in self.channels]] = result.parts
        return frame

    # ---------------------------------------------------------------- state
    @functools.cached_property
    def fingerprint(self) -> str:
        """:func:`model_fingerprint` of the detector (computed once)."""
        return model_fingerprint(self.detector)

    def state_dict(self) -> dict:
        """JSON-ready state to resume after a restart without re-warming.

        Returns
        -------
        dict
            ``version`` (:data:`STATE_VERSION`), ``model`` (:attr:`fingerprint`),
            ``channels``, ``rows`` (accepted so far), ``stamps`` (timestamps, as
            text, of the rows not scored yet), ``gaps`` (the gap filler's state),
            ``scorer`` (the point scorer's: last ``window - 1`` scaled rows,
            pending sums, counters), ``calibration`` (``tsae.calibration``),
            ``alarm`` (the cool-down's last alarm) and ``learning`` (null, or the
            continual learner's: weights, Adam's moments, recent rows).
        """
        return {
            "version": STATE_VERSION,
            "model": self.fingerprint,
            "channels": self.channels,
            "rows": self.rows,
            "stamps": [None if s is None else str(s) for s in self.stamps.tolist()],
            "gaps": self.gaps.state_dict(),
            **self.monitor.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output, checked whole before anything changes.

        Parameters
        ----------
        state : dict
            A state of this model (the same weights, channels, window, score mode,
            scaler, channel weights and max_gap; the threshold may differ).

        Raises
        ------
        ConfigError
            One line saying what is wrong: not a state of this layout version, of
            another model, a missing or mistyped entry, or counters that disagree
            (rows accepted, rows scored, pending sums, timestamps). The scorer is
            left as it was.
        """
        try:
            self._check_state(state)
            self.monitor.load_state_dict(state)  # the learner checks its part before it changes anything
        except ConfigError as exc:
            raise ConfigError(f"stream state {exc}") from None
        self.rows = state["rows"]
        self.stamps = PendingStamps(state["stamps"])
        self.gaps.load_state_dict(state["gaps"])

    def _check_state(self, state) -> None:
        """ConfigError (to be prefixed with "stream state") unless ``state`` is a
        consistent state of this model."""
        version = state.get("version") if isinstance(state, dict) else None
        if isinstance(state, dict) and (type(version) is not int or version != STATE_VERSION):
            raise ConfigError(
                f"has layout version {version!r:.20}; this tsae reads version {STATE_VERSION} (start the stream afresh)"
            )
        check_dict(state, "", _STATE_KEYS)
        if state["channels"] != self.channels:
            raise ConfigError(f"is for channels {state['channels']!r:.80}; this model has {self.channels!r:.80}")
        if state["model"] != self.fingerprint:
            raise ConfigError(
                f"is for another model (fingerprint {state['model']!r:.20}, this model's is "
                f"{self.fingerprint:.20}): other weights, scaler, window, score mode or max_gap"
            )
        rows = check_int(state["rows"], "rows")
        emitted = self._check_scorer_state(state["scorer"], rows)
        self._check_gap_state(state["gaps"], rows)
        stamps = state["stamps"]
        if not isinstance(stamps, list) or not all(s is None or isinstance(s, str) for s in stamps):
            raise ConfigError(f"field 'stamps' must be a list of timestamps (text or null), got {stamps!r:.60}")
        if len(stamps) != rows - emitted:
            raise ConfigError(f"is inconsistent: {len(stamps)} timestamps for the {rows - emitted} rows not scored yet")
        self.monitor.check_extra_state(state)

    def _check_scorer_state(self, scorer, rows: int) -> int:
        """Check the point scorer's state against ``rows`` accepted; return its scored rows."""
        keys = ("mode", "window", "context", "pending", "n_seen", "n_emitted")
        check_dict(scorer, "scorer", keys + (("pending_parts",) if self.scorer.parts else ()), optional=("stride",))
        stride = scorer.get("stride", 1)
        if (scorer["mode"], scorer["window"], stride) != (self.scorer.mode, self.scorer.window, self.scorer.stride):
            raise ConfigError(
                f"field 'scorer' is for mode {scorer['mode']!r:.20}, window {scorer['window']!r:.20}, "
                f"stride {stride!r:.20}; this model has mode {self.scorer.mode!r}, window {self.scorer.window}, "
                f"stride {self.scorer.stride}"
            )
        seen = check_int(scorer["n_seen"], "scorer.n_seen")
        emitted = check_int(scorer["n_emitted"], "scorer.n_emitted")
        expected = rows if self.scorer.mode == "causal" else max(0, rows - self.delay)
        if (seen, emitted) != (rows, expected):
            raise ConfigError(
                f"is inconsistent: {rows} rows accepted, but the scorer saw {seen} and scored "
                f"{emitted} (expected {rows} and {expected})"
            )
        context = scorer["context"]
        n_context = min(rows, self.scorer.keep)
        if not isinstance(context, list) or len(context) != n_context:
            raise ConfigError(
                f"field 'scorer.context' must hold the last {n_context} rows, got "
                f"{len(context) if isinstance(context, list) else repr(context)[:40]}"
            )
        for i, values in enumerate(context):
            _check_values(values, f"scorer.context[{i}]", len(self.channels))
        pending = check_numbers(scorer["pending"], "scorer.pending", rows - emitted)
        if any(p < 0 for p in pending):
            raise ConfigError("field 'scorer.pending' holds a negative sum of squared errors")
        if self.scorer.parts:
            parts = scorer["pending_parts"]
            if not isinstance(parts, list) or len(parts) != rows - emitted:
                raise ConfigError(f"field 'scorer.pending_parts' must hold {rows - emitted} rows of channel parts")
            for i, values in enumerate(parts):
                if any(v < 0 for v in check_numbers(values, f"scorer.pending_parts[{i}]", len(self.channels))):
                    raise ConfigError("field 'scorer.pending_parts' holds a negative sum of squared errors")
        return emitted

    def _check_gap_state(self, gaps, rows: int) -> None:
        """Check the gap filler's state against ``rows`` accepted."""
        check_dict(gaps, "gaps", ("max_gap", "last", "open"))
        if type(gaps["max_gap"]) is not int or gaps["max_gap"] != self.gaps.max_gap:
            raise ConfigError(
                f"field 'gaps.max_gap' is {gaps['max_gap']!r:.20}; this model fills gaps of at most {self.gaps.max_gap}"
            )
        if (gaps["last"] is None) != (gaps["open"] is None) or (rows and gaps["last"] is None):
            raise ConfigError(
                f"field 'gaps' does not fit {rows} rows accepted (last {gaps['last']!r:.40}, open {gaps['open']!r:.40})"
            )
        if gaps["last"] is None:
            return
        n = len(self.channels)
        if not isinstance(gaps["last"], list) or len(gaps["last"]) != n or (rows and None in gaps["last"]):
            raise ConfigError(
                f"field 'gaps.last' must hold the last value of each of the {n} channels, got {gaps['last']!r:.60}"
            )
        _check_values([v for v in gaps["last"] if v is not None], "gaps.last", n - gaps["last"].count(None))
        runs = gaps["open"]
        if not isinstance(runs, list) or len(runs) != n:
            raise ConfigError(f"field 'gaps.open' must hold {n} run lengths, got {runs!r:.60}")
        for j, run in enumerate(runs):
            check_int(run, f"gaps.open[{j}]")
            if run > min(self.gaps.max_gap, rows):
                raise ConfigError(
                    f"field 'gaps.open[{j}]' is a run of {run} missing values; at most "
                    f"{min(self.gaps.max_gap, rows)} can be open after {rows} rows"
                )
