"""The Numenta Anomaly Benchmark (NAB) score, re-implemented with numpy.

NAB (Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta
Anomaly Benchmark", ICMLA 2015, arXiv:1510.03336; github.com/numenta/NAB, MIT) rewards
a detector for flagging each labelled anomaly *window* early, and charges it for every
flagged row outside the windows. This module follows the rules of NAB's scorer
(``nab/sweeper.py``, ``nab/scorer.py``, ``nab/optimizer.py``, ``nab/runner.py`` at
commit ea702d7); it is written from those rules, not from NAB's code.

Rules, for one file of ``n`` rows and a threshold ``t`` (a row is a *detection* when
its score is ``>= t``):

* Probationary period: the first ``p = min(floor(0.15 * n), 0.15 * 5000 = 750)`` rows
  are ignored entirely (neither detections, misses nor counts).
* A window ``[s, e]`` (inclusive rows, width ``w = e - s + 1``) is worth the best
  weighted value of its detections, i.e. of its *earliest* one, or ``-fnWeight`` when
  it has none. A detection at row ``i`` has relative position ``y = -(e - i + 1) / w``
  and value ``tpWeight * sigma(y) / sigma(-1)`` with the scaled sigmoid
  ``sigma(x) = 2 / (1 + exp(5 x)) - 1`` (``sigma(x) = -1`` for ``x > 3``): exactly
  ``tpWeight`` at the first row of the window, ``~0.0063 tpWeight`` at its last row.
  Later detections in the same window add and cost nothing. A window lying wholly
  inside the probationary period is not scored.
* A detection outside every window costs ``fpWeight * sigma(|i - e'| / (w' - 1))`` with
  ``e'``, ``w'`` the end row and width of the last window that ended before row ``i``
  (``-fpWeight`` when there is none): nearly nothing just after a window, about
  ``fpWeight`` three window widths or more after it. Every such row counts.
* The raw score of a file is the sum of its window values and false-positive values;
  the raw score of a corpus is the sum over its files.
* One threshold per detector and profile is chosen for the whole corpus: the one that
  maximises the corpus raw score among the distinct scores of the scored rows plus
  1.1 ("no detection"); on ties the highest threshold wins.
* Normalised score: ``100 * (raw - raw_null) / (raw_perfect - raw_null)`` where
  ``raw_null`` is the score of a detector without detections (``-fnWeight`` per scored
  window) and ``raw_perfect = tpWeight * number of windows``.

TP/FP/FN/TN are NAB's *row* counts over the non-probationary rows (detected rows in
windows, detected rows outside, undetected rows in windows, undetected rows outside);
they are reported, not used in the score.

Choices where NAB leaves something undefined (see the function docs):

* Windows must be sorted and must not overlap (NAB's labels never do; its scorer
  misbehaves when they do). Adjacent windows are allowed as row ranges, but a 0/1
  label array cannot express them (:func:`windows_from_labels` merges them).
* A false positive after a window of width 1 (where NAB divides by zero) costs the full
  ``fpWeight``.
* When scores reach 1.1, the "no detection" threshold is the next float above the
  largest scored row's score instead of 1.1. NAB's detectors give scores in [0, 1];
  scale unbounded scores (e.g. reconstruction errors) into [0, 1] to compare thresholds
  with NAB's.
* Scores on probationary rows are ignored, so they may be NaN (a detector's warm-up);
  later rows must be finite.
* ``raw_perfect`` counts every window given, as NAB does (it counts all windows of its
  label file), while ``raw_null`` counts the scored ones; they differ only when a
  window lies wholly inside the probationary period (never the case in NAB's corpus).

Cost: preparing a file is ``O(n)``; the threshold optimiser sorts the scored rows of the
corpus once and evaluates every candidate threshold in one cumulative sweep, so the
58-file NAB corpus (~365,000 rows, as many candidates) takes a fraction of a second.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from tsae.errors import ConfigError, DataError

__all__ = [
    "PROFILES",
    "PROBATIONARY_PERCENT",
    "NO_DETECTION_THRESHOLD",
    "probationary_length",
    "windows_from_labels",
    "windows_from_timestamps",
    "scaled_sigmoid",
    "row_values",
    "FileScore",
    "CorpusScore",
    "ThresholdSweep",
    "ThresholdResult",
    "score_file",
    "score_corpus",
    "threshold_sweep",
    "optimize_threshold",
    "normalize_score",
    "nab_score",
]

#: NAB's application profiles (config/profiles.json). ``tnWeight`` is in NAB's file but
#: not used by its scorer; it is kept here only so the dicts read like NAB's.
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0, "tnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0, "tnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0, "tnWeight": 1.0},
}
#: Share of each file ignored at its start (capped at ``PROBATIONARY_PERCENT * 5000`` rows).
PROBATIONARY_PERCENT = 0.15
#: The threshold that stands for "no detection" among the optimiser's candidates.
NO_DETECTION_THRESHOLD = 1.1
# Rows in NAB's cap on the probationary period: p <= probationary_percent * 5000.
_PROBATION_CAP_ROWS = 5000
# Beyond this relative distance after a window a false positive costs the full fpWeight.
_FAR = 3.0


class _Cost(NamedTuple):
    name: str
    tp: float
    fp: float
    fn: float


# --------------------------------------------------------------------------- checks


def _cost_matrix(profile) -> _Cost:
    """A profile name or a cost-matrix mapping -> validated weights."""
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ConfigError(f"profile must be one of {sorted(PROFILES)} or a cost matrix dict, got {profile!r}")
        matrix, name = PROFILES[profile], profile
    elif isinstance(profile, Mapping):
        missing = [k for k in ("tpWeight", "fpWeight", "fnWeight") if k not in profile]
        if missing:
            raise ConfigError(f"profile cost matrix lacks {missing}; it needs tpWeight, fpWeight and fnWeight")
        matrix, name = profile, "custom"
    else:
        raise ConfigError(f"profile must be a profile name or a cost matrix dict, got {type(profile).__name__}")
    weights = []
    for key in ("tpWeight", "fpWeight", "fnWeight"):
        try:
            value = float(matrix[key])
        except (TypeError, ValueError):
            raise ConfigError(f"profile {key} must be a number, got {matrix[key]!r}") from None
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"profile {key} must be finite and >= 0, got {value}")
        weights.append(value)
    return _Cost(name, *weights)


def _probationary_percent(value) -> float:
    try:
        pp = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"probationary_percent must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= pp < 1.0:
        raise ConfigError(f"probationary_percent must be in [0, 1), got {value!r}")
    return pp


def _threshold(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold must be a number, got {value!r}") from None
    if math.isnan(t):
        raise ConfigError("threshold must not be NaN")
    return t


def _scores_array(scores, name: str, pp: float) -> np.ndarray:
    """1-D float64 scores, finite after the probationary period (which NAB ignores)."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty one-dimensional array, got shape {arr.shape}")
    p = probationary_length(arr.shape[0], pp)
    bad = ~np.isfinite(arr[p:])
    if bad.any():
        i = p + int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name} must be finite after the {p} probationary rows; row {i} is {arr[i]} ({int(bad.sum())} such rows)"
        )
    return arr


def _labels_array(labels, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{name} must be 0/1 values, got dtype {arr.dtype}")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must contain only 0 and 1; row {i} is {arr[i]!r}")
    return arr == 1


def _check_windows(starts: np.ndarray, ends: np.ndarray, n: int, name: str) -> None:
    """Windows must be inside [0, n), start <= end, sorted and not overlapping."""
    for j in range(starts.shape[0]):
        s, e = int(starts[j]), int(ends[j])
        if not 0 <= s <= e < n:
            raise DataError(f"{name}: window {j} [{s}, {e}] must satisfy 0 <= start <= end < {n} (rows)")
        if j and s <= int(ends[j - 1]):
            raise DataError(
                f"{name}: window {j} [{s}, {e}] starts at or before the end of window {j - 1} "
                f"[{int(starts[j - 1])}, {int(ends[j - 1])}]; windows must be sorted and must not overlap"
            )


def _as_windows(obj, n: int, timestamps, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,), row-range pairs (k, 2) or timestamp pairs (with ``timestamps``) -> (starts, ends)."""
    empty = np.empty(0, dtype=np.int64)
    if obj is None:
        return empty, empty.copy()
    arr = np.asarray(obj)
    if arr.ndim == 1 and arr.size == 0:
        return empty, empty.copy()
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise DataError(
                f"{name}: a 1-D array is read as per-row 0/1 labels and needs {n} rows (as many as the "
                f"scores), got {arr.shape[0]}; give windows as a list of [start, end] pairs"
            )
        pairs = windows_from_labels(_labels_array(arr, f"{name} labels"))
    elif arr.ndim == 2 and arr.shape[1] == 2:
        if np.issubdtype(arr.dtype, np.integer) or (
            np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
        ):
            pairs = arr.astype(np.int64)
        elif np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
            raise DataError(f"{name}: row-range windows must be whole numbers, got {arr.tolist()!r}")
        else:
            if timestamps is None:
                raise DataError(f"{name}: windows given as timestamps need the series' timestamps too")
            if len(timestamps) != n:
                raise DataError(f"{name}: {len(timestamps)} timestamps for {n} scores")
            pairs = windows_from_timestamps(timestamps, obj)
    else:
        raise DataError(
            f"{name}: windows must be per-row 0/1 labels of shape ({n},) or [start, end] pairs of shape (k, 2), "
            f"got shape {arr.shape}"
        )
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    starts, ends = pairs[:, 0].copy(), pairs[:, 1].copy()
    _check_windows(starts, ends, n, name)
    return starts, ends


# -------------------------------------------------------------------------- windows


def probationary_length(n_rows: int, probationary_percent: float = PROBATIONARY_PERCENT) -> int:
    """Number of leading rows NAB ignores: ``min(floor(0.15 * n), 0.15 * 5000)``.

    Computed in float64 exactly as NAB does; rows ``i >= p`` are scored.

    Parameters
    ----------
    n_rows : int
        Length of the series.
    probationary_percent : float, default 0.15
        NAB's probationary share; the cap is ``probationary_percent * 5000`` rows.

    Returns
    -------
    int

    Examples
    --------
    >>> probationary_length(4032), probationary_length(10320), probationary_length(10)
    (604, 750, 1)
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows < 0:
        raise DataError(f"n_rows must be an integer >= 0, got {n_rows!r}")
    pp = _probationary_percent(probationary_percent)
    # Rows i >= min(floor(pp * n), pp * 5000) are scored; the cap may be fractional for other pp.
    return int(min(math.floor(pp * int(n_rows)), math.ceil(pp * _PROBATION_CAP_ROWS)))


def windows_from_labels(labels) -> list[tuple[int, int]]:
    """NAB windows (0-based inclusive row ranges) from a per-row 0/1 label array.

    Each maximal run of 1s is one window, as in the shared data sets
    (``shared/datasets/nab/<id>.csv``, column ``label``), whose runs equal NAB's
    ``labels/combined_windows.json`` windows. Two windows that touch cannot be told
    apart in a label array and come back as one.

    Parameters
    ----------
    labels : array-like of {0, 1} or bool, shape (n,)

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> windows_from_labels([0, 1, 1, 0, 0, 1])
    [(1, 2), (5, 5)]
    """
    y = _labels_array(labels, "labels")
    padded = np.zeros(y.shape[0] + 2, dtype=np.int8)
    padded[1:-1] = y
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def _to_datetime(values, name: str) -> np.ndarray:
    try:
        index = pd.DatetimeIndex(pd.to_datetime(pd.Series(values)))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} could not be read as timestamps: {exc}") from None
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8


def windows_from_timestamps(timestamps, window_timestamps) -> list[tuple[int, int]]:
    """Row ranges of NAB windows given as ``[start, end]`` timestamp pairs.

    As NAB's sweeper, a window runs from the first row whose timestamp equals its
    start to the first row whose timestamp equals its end (NAB's label timestamps are
    always series timestamps; some NAB files repeat a timestamp, and the first row
    with it is the one NAB uses).

    Parameters
    ----------
    timestamps : array-like, shape (n,)
        The series' timestamps (strings or datetimes; time zones are compared in UTC).
    window_timestamps : sequence of (start, end)
        Window limits, inclusive, e.g. from NAB's ``labels/combined_windows.json``.

    Returns
    -------
    list of (int, int)

    Raises
    ------
    DataError
        When a window limit is not one of the timestamps, or a window ends before it starts.

    Examples
    --------
    >>> ts = ["2014-01-01 00:00", "2014-01-01 00:05", "2014-01-01 00:10", "2014-01-01 00:15"]
    >>> windows_from_timestamps(ts, [["2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000"]])
    [(1, 2)]
    """
    ts = _to_datetime(timestamps, "timestamps")
    pairs = list(window_timestamps)
    if not pairs:
        return []
    for j, pair in enumerate(pairs):
        if len(pair) != 2:
            raise DataError(f"window {j} must be a (start, end) pair, got {pair!r}")
    limits = _to_datetime([x for pair in pairs for x in pair], "window_timestamps")
    uniq, first = np.unique(ts, return_index=True)  # first row of each distinct timestamp
    pos = np.searchsorted(uniq, limits)
    pos_clipped = np.minimum(pos, uniq.shape[0] - 1)
    found = (pos < uniq.shape[0]) & (uniq[pos_clipped] == limits)
    if not found.all():
        k = int(np.flatnonzero(~found)[0])
        raise DataError(
            f"window {k // 2} {'start' if k % 2 == 0 else 'end'} {pairs[k // 2][k % 2]!r} "
            f"is not one of the series' timestamps"
        )
    rows = first[pos_clipped].reshape(-1, 2)
    out = []
    for j, (s, e) in enumerate(rows):
        if e < s:
            raise DataError(f"window {j} {pairs[j]!r} ends (row {e}) before it starts (row {s})")
        out.append((int(s), int(e)))
    return out


# ------------------------------------------------------------------- per-row values


def scaled_sigmoid(x):
    """NAB's scaled sigmoid: ``2 / (1 + exp(5 x)) - 1``, and ``-1`` for ``x > 3``.

    ``x`` is a relative position: ``-1`` at the first row of a window (value 0.98661),
    ``0`` at the right edge (value 0), ``> 0`` after the window (negative values).

    Parameters
    ----------
    x : float or array-like of float

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(0.0), scaled_sigmoid(3.5)
    (0.98661, 0.0, -1.0)
    """
    arr = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        val = 2.0 * (1.0 / (1.0 + np.exp(5.0 * arr))) - 1.0
    val = np.where(arr > _FAR, -1.0, val)
    return float(val) if val.ndim == 0 else val


# Value at the first row of a window; dividing by it makes that row worth exactly tpWeight.
_MAX_TP = 2.0 * (1.0 / (1.0 + math.exp(-5.0))) - 1.0


def _window_of_row(n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the window holding each row, -1 outside every window."""
    rows = np.arange(n)
    j = np.searchsorted(starts, rows, side="right") - 1
    inside = j >= 0
    inside[inside] = rows[inside] <= ends[j[inside]]
    return np.where(inside, j, -1)


def _tp_values(rows: np.ndarray, ends: np.ndarray, widths: np.ndarray, tp_weight: float) -> np.ndarray:
    """Weighted value of a detection at ``rows`` inside windows ending at ``ends``."""
    position = -(ends - rows + 1) / widths.astype(np.float64)
    return scaled_sigmoid(position) * tp_weight / _MAX_TP


def _values(n: int, starts: np.ndarray, ends: np.ndarray, win: np.ndarray, cost: _Cost) -> np.ndarray:
    """NAB's weighted value of a detection at every row (TP value in windows, FP value outside)."""
    rows = np.arange(n)
    widths = ends - starts + 1
    values = np.empty(n, dtype=np.float64)
    inside = win >= 0
    j = win[inside]
    values[inside] = _tp_values(rows[inside], ends[j], widths[j], cost.tp)
    out_rows = rows[~inside]
    prev = np.searchsorted(ends, out_rows, side="left") - 1  # last window that ended before the row
    unweighted = np.full(out_rows.shape[0], -1.0)
    has_prev = prev >= 0
    k = prev[has_prev]
    distance = np.abs(ends[k] - out_rows[has_prev]).astype(np.float64)
    with np.errstate(divide="ignore"):  # a window of width 1: NAB divides by zero; full cost here
        position = distance / (widths[k] - 1).astype(np.float64)
    unweighted[has_prev] = scaled_sigmoid(position)
    values[~inside] = unweighted * cost.fp
    return values


def row_values(n_rows: int, windows, profile="standard", *, probationary_percent: float = PROBATIONARY_PERCENT):
    """NAB's weighted value of a detection at each row of a series.

    Inside a window the value a detection would earn (before the one-per-window
    rule), outside the (negative) false-positive value; NaN on probationary rows.

    Parameters
    ----------
    n_rows : int
        Length of the series.
    windows : sequence of (start, end) or array-like of {0, 1}, shape (n_rows,)
        Anomaly windows as inclusive row ranges, or per-row labels.
    profile : str or dict, default "standard"
        A key of :data:`PROFILES` or a dict with ``tpWeight``, ``fpWeight``, ``fnWeight``.
    probationary_percent : float, default 0.15

    Returns
    -------
    numpy.ndarray of float, shape (n_rows,)

    Examples
    --------
    >>> v = row_values(20, [(10, 14)])
    >>> float(v[10]), round(float(v[14]), 4), float(v[5]), round(float(v[19]), 4)
    (1.0, 0.4684, -0.11, -0.1096)
    >>> bool(np.isnan(v[2]))  # probationary (first 3 rows)
    True
    """
    cost = _cost_matrix(profile)
    p = probationary_length(n_rows, probationary_percent)
    starts, ends = _as_windows(windows, int(n_rows), None, "windows")
    values = _values(int(n_rows), starts, ends, _window_of_row(int(n_rows), starts, ends), cost)
    values[:p] = np.nan
    return values


# ----------------------------------------------------------------- prepared files


@dataclass(eq=False)
class _File:
    """One series, prepared once per profile: scores, windows and per-row values."""

    name: object  # the caller's key
    scores: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    p: int
    win: np.ndarray
    values: np.ndarray


def _prepare(name, where: str, scores, windows, timestamps, cost: _Cost, pp: float) -> _File:
    s = _scores_array(scores, f"{where} scores", pp)
    n = s.shape[0]
    starts, ends = _as_windows(windows, n, timestamps, where)
    win = _window_of_row(n, starts, ends)
    return _File(name, s, starts, ends, probationary_length(n, pp), win, _values(n, starts, ends, win, cost))


def _prepare_corpus(files, cost: _Cost, pp: float) -> list[_File]:
    if not isinstance(files, Mapping) or not files:
        raise DataError("files must be a non-empty dict {name: (scores, labels_or_windows[, timestamps])}")
    out = []
    for name, entry in files.items():
        where = f"files[{name!r}]"
        if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
            raise DataError(f"{where} must be (scores, labels_or_windows) or (scores, labels_or_windows, timestamps)")
        timestamps = entry[2] if len(entry) == 3 else None
        out.append(_prepare(name, where, entry[0], entry[1], timestamps, cost, pp))
    return out


# ------------------------------------------------------------- score at a threshold


@dataclass(frozen=True, eq=False)
class FileScore:
    """NAB's score of one file at one threshold.

    Attributes
    ----------
    raw_score : float
        Sum of the window values and the false-positive values.
    threshold : float
        A row is a detection when its score is ``>= threshold``.
    probationary_rows : int
        Rows ignored at the start.
    tp, fp, fn, tn : int
        NAB's row counts over the non-probationary rows.
    windows : tuple of (int, int)
        The scored windows (those with a row after the probationary period).
    first_detections : tuple of (int or None)
        Earliest detected row in each scored window, None when it was missed.
    window_values : tuple of float
        Each scored window's contribution (``-fnWeight`` when missed).
    fp_rows, fp_values : numpy.ndarray
        Rows of the false positives (ascending) and their (negative) values.
    fp_sum : float
        Sum of ``fp_values``.
    """

    raw_score: float
    threshold: float
    probationary_rows: int
    tp: int
    fp: int
    fn: int
    tn: int
    windows: tuple
    first_detections: tuple
    window_values: tuple
    fp_rows: np.ndarray
    fp_values: np.ndarray
    fp_sum: float

    @property
    def n_windows(self) -> int:
        """Number of scored windows."""
        return len(self.windows)

    @property
    def windows_detected(self) -> int:
        """Number of scored windows with at least one detection."""
        return sum(r is not None for r in self.first_detections)

    @property
    def total(self) -> int:
        """Number of scored (non-probationary) rows."""
        return self.tp + self.fp + self.fn + self.tn


def _score_prepared(f: _File, threshold: float, cost: _Cost) -> FileScore:
    p = f.p
    s, v, w = f.scores[p:], f.values[p:], f.win[p:]
    detected = s >= threshold
    in_window = w >= 0
    tp = int(np.count_nonzero(detected & in_window))
    fp = int(np.count_nonzero(detected & ~in_window))
    fn = int(np.count_nonzero(in_window)) - tp
    tn = int(np.count_nonzero(~in_window)) - fp

    # Sum in NAB's order (rows by descending score; false positives first, then windows in
    # the order their first row appears) so that raw scores agree with NAB's to the last bit
    # or two, not only to rounding.
    order = np.argsort(-s, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    is_fp = detected & ~in_window
    fp_in_order = v[order][is_fp[order]]
    fp_sum = float(np.cumsum(fp_in_order)[-1]) if fp_in_order.size else 0.0

    windows, first, values, appear = [], [], [], []
    for j in np.flatnonzero(f.ends >= p):
        lo, hi = max(int(f.starts[j]), p) - p, int(f.ends[j]) - p
        hits = np.flatnonzero(detected[lo : hi + 1])
        value = -cost.fn
        if hits.size:
            value = max(value, float(v[lo : hi + 1][hits].max()))
        windows.append((int(f.starts[j]), int(f.ends[j])))
        first.append(int(hits[0]) + lo + p if hits.size else None)
        values.append(value)
        appear.append(int(rank[lo : hi + 1].min()))
    raw = 0.0 + fp_sum
    for k in np.argsort(appear, kind="stable"):
        raw += values[k]
    fp_rows = np.flatnonzero(is_fp) + p
    return FileScore(
        raw_score=float(raw),
        threshold=float(threshold),
        probationary_rows=p,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        windows=tuple(windows),
        first_detections=tuple(first),
        window_values=tuple(values),
        fp_rows=fp_rows,
        fp_values=f.values[fp_rows],
        fp_sum=fp_sum,
    )


def score_file(
    scores,
    windows,
    threshold: float,
    profile="standard",
    *,
    timestamps=None,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> FileScore:
    """NAB's raw score of one series at one threshold.

    Parameters
    ----------
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous; finite after the probationary rows
        (which are ignored and may hold NaN, e.g. a detector's warm-up).
    windows : sequence of (start, end), or array-like of {0, 1} of shape (n,)
        Anomaly windows as 0-based inclusive row ranges, per-row 0/1 labels (each run
        of 1s is a window), or ``(start, end)`` timestamp pairs when ``timestamps`` is given.
    threshold : float
        A row is a detection when its score is ``>= threshold``.
    profile : str or dict, default "standard"
        A key of :data:`PROFILES` or a dict with ``tpWeight``, ``fpWeight``, ``fnWeight``.
    timestamps : array-like, shape (n,), optional
        The series' timestamps, needed only for timestamp windows.
    probationary_percent : float, default 0.15

    Returns
    -------
    FileScore

    Examples
    --------
    A detection at the first row of the only window, and one false positive long after it:

    >>> scores = np.zeros(100); scores[[40, 95]] = 1.0
    >>> r = score_file(scores, [(40, 49)], 0.5)
    >>> round(r.raw_score, 6), r.first_detections, r.tp, r.fp, r.fn
    (0.89, (40,), 1, 1, 9)
    """
    cost = _cost_matrix(profile)
    pp = _probationary_percent(probationary_percent)
    f = _prepare("series", "series", scores, windows, timestamps, cost, pp)
    return _score_prepared(f, _threshold(threshold), cost)


@dataclass(frozen=True, eq=False)
class CorpusScore:
    """NAB's score of a corpus at one threshold.

    Attributes
    ----------
    raw_score : float
        Sum of the files' raw scores.
    threshold : float
    files : dict of str to FileScore
    tp, fp, fn, tn : int
        Row counts summed over the files.
    """

    raw_score: float
    threshold: float
    files: dict
    tp: int
    fp: int
    fn: int
    tn: int


def _corpus_at(prepared: list[_File], threshold: float, cost: _Cost) -> CorpusScore:
    per = {f.name: _score_prepared(f, threshold, cost) for f in prepared}
    raw = 0.0
    for r in per.values():
        raw += r.raw_score
    return CorpusScore(
        raw_score=raw,
        threshold=threshold,
        files=per,
        **{k: sum(getattr(r, k) for r in per.values()) for k in ("tp", "fp", "fn", "tn")},
    )


def score_corpus(
    files, threshold: float, profile="standard", *, probationary_percent: float = PROBATIONARY_PERCENT
) -> CorpusScore:
    """NAB's corpus score at one threshold: the sum of the files' raw scores.

    Parameters
    ----------
    files : dict of str to tuple
        ``{name: (scores, labels_or_windows)}`` or ``{name: (scores, labels_or_windows,
        timestamps)}``; see :func:`score_file` for the forms of windows.
    threshold : float
    profile : str or dict, default "standard"
    probationary_percent : float, default 0.15

    Returns
    -------
    CorpusScore
        ``files`` is keyed by the given names.

    Examples
    --------
    >>> a = np.zeros(50); a[20] = 0.9
    >>> b = np.zeros(50); b[45] = 0.9
    >>> c = score_corpus({"a": (a, [(20, 24)]), "b": (b, [(30, 34)])}, 0.5)
    >>> round(c.raw_score, 6), round(c.files["a"].raw_score, 6), round(c.files["b"].raw_score, 6)
    (-0.11, 1.0, -1.11)
    """
    cost = _cost_matrix(profile)
    prepared = _prepare_corpus(files, cost, _probationary_percent(probationary_percent))
    return _corpus_at(prepared, _threshold(threshold), cost)


# ---------------------------------------------------------------------- optimiser


@dataclass(frozen=True, eq=False)
class ThresholdSweep:
    """The corpus raw score at every candidate threshold.

    Attributes
    ----------
    thresholds : numpy.ndarray
        Descending: the "no detection" threshold (1.1), then every distinct score of
        the scored rows.
    raw_scores : numpy.ndarray
        Corpus raw score when rows scoring ``>= thresholds[k]`` are detections.
    tp, fp, fn, tn : numpy.ndarray of int
        Row counts over the corpus at each threshold.
    """

    thresholds: np.ndarray
    raw_scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @property
    def best(self) -> int:
        """Index of the best threshold: the highest raw score, ties to the highest threshold."""
        return int(np.argmax(self.raw_scores))  # first maximum; thresholds are descending


def _sweep(prepared: list[_File], cost: _Cost) -> ThresholdSweep:
    scores, windows, rows, values = [], [], [], []
    row_offset = window_offset = 0
    for f in prepared:
        w = f.win[f.p :]
        scores.append(f.scores[f.p :])
        windows.append(np.where(w >= 0, w + window_offset, -1))
        rows.append(np.arange(f.p, f.scores.shape[0]) + row_offset)
        values.append(f.values)
        row_offset += f.scores.shape[0]
        window_offset += f.starts.shape[0]
    s, g, r = np.concatenate(scores), np.concatenate(windows), np.concatenate(rows)
    all_values = np.concatenate(values)  # indexed by corpus-wide row number

    # Lower the threshold one row at a time, highest score first (NAB's order).
    order = np.argsort(-s, kind="stable")
    s, g, r = s[order], g[order], r[order]
    in_window = g >= 0
    fp_step = np.where(in_window, 0.0, all_values[r])
    window_step = np.zeros(s.shape[0])
    pos = np.flatnonzero(in_window)
    if pos.size:
        # A window is worth its best detection, and a detection's value falls with its row,
        # so the best is the earliest detected row so far. Group each window's rows (keeping
        # the sweep order inside a group) and take one running minimum of the rows, those of
        # window k shifted by -k * big so that no group's minimum leaks into the next group.
        pos = pos[np.argsort(g[pos], kind="stable")]
        gk, rk = g[pos], r[pos]
        big = np.int64(row_offset + 1)
        earliest = np.minimum.accumulate(rk - gk * big) + gk * big
        contribution = np.maximum(-cost.fn, all_values[earliest])
        before = np.empty_like(contribution)
        before[0] = -cost.fn
        before[1:] = contribution[:-1]
        before[np.r_[True, gk[1:] != gk[:-1]]] = -cost.fn
        window_step[pos] = contribution - before
    n_scored_windows = int(np.unique(g[in_window]).shape[0])
    total = np.cumsum(fp_step) + (-cost.fn * n_scored_windows + np.cumsum(window_step))

    last = np.append(np.flatnonzero(s[1:] != s[:-1]), s.shape[0] - 1)  # last row of each distinct score
    top = float(s[0])
    none = NO_DETECTION_THRESHOLD if top < NO_DETECTION_THRESHOLD else float(np.nextafter(top, np.inf))
    tp = np.r_[0, np.cumsum(in_window)[last]].astype(np.int64)
    fp = np.r_[0, np.cumsum(~in_window)[last]].astype(np.int64)
    n_in = int(np.count_nonzero(in_window))
    return ThresholdSweep(
        thresholds=np.r_[none, s[last]],
        raw_scores=np.r_[-cost.fn * n_scored_windows, total[last]],
        tp=tp,
        fp=fp,
        fn=n_in - tp,
        tn=(s.shape[0] - n_in) - fp,
    )


def threshold_sweep(files, profile="standard", *, probationary_percent: float = PROBATIONARY_PERCENT) -> ThresholdSweep:
    """The corpus raw score at every candidate threshold, in one pass.

    Candidates are NAB's: the distinct scores of the non-probationary rows and 1.1
    (no detection). The scored rows of all files are sorted once; lowering the
    threshold past a row adds its false-positive value, or raises its window's value
    when it is the window's earliest detection so far; cumulative sums give every
    candidate's score. Cost ``O(N log N)`` for ``N`` rows.

    Parameters
    ----------
    files : dict of str to tuple
        ``{name: (scores, labels_or_windows[, timestamps])}``, as for :func:`score_corpus`.
    profile : str or dict, default "standard"
    probationary_percent : float, default 0.15

    Returns
    -------
    ThresholdSweep

    Notes
    -----
    The scores come from cumulative sums (the false-positive part in NAB's own order),
    so they can differ from :func:`score_corpus` at the same threshold by float
    rounding: ~1e-15 at the optimum of NAB's files, up to ~5e-10 at low thresholds
    where thousands of false positives are summed.

    Examples
    --------
    >>> s = np.zeros(40); s[10] = 0.9; s[30] = 0.4
    >>> sw = threshold_sweep({"a": (s, [(30, 34)])})
    >>> sw.thresholds.tolist(), [round(float(x), 4) for x in sw.raw_scores]
    ([1.1, 0.9, 0.4, 0.0], [-1.0, -1.11, 0.89, -2.1174])
    """
    cost = _cost_matrix(profile)
    return _sweep(_prepare_corpus(files, cost, _probationary_percent(probationary_percent)), cost)


class ThresholdResult(NamedTuple):
    """The optimiser's choice: threshold, corpus raw score there, row counts, candidates tried."""

    threshold: float
    raw_score: float
    tp: int
    fp: int
    fn: int
    tn: int
    n_candidates: int


def _best(sweep: ThresholdSweep) -> ThresholdResult:
    k = sweep.best
    return ThresholdResult(
        threshold=float(sweep.thresholds[k]),
        raw_score=float(sweep.raw_scores[k]),
        tp=int(sweep.tp[k]),
        fp=int(sweep.fp[k]),
        fn=int(sweep.fn[k]),
        tn=int(sweep.tn[k]),
        n_candidates=int(sweep.thresholds.shape[0]),
    )


def optimize_threshold(
    files, profile="standard", *, probationary_percent: float = PROBATIONARY_PERCENT
) -> ThresholdResult:
    """NAB's threshold optimiser: the threshold that maximises the corpus raw score.

    Among equal scores the highest threshold wins; 1.1 means "no detection".

    Parameters
    ----------
    files : dict of str to tuple
        ``{name: (scores, labels_or_windows[, timestamps])}``, as for :func:`score_corpus`.
    profile : str or dict, default "standard"
    probationary_percent : float, default 0.15

    Returns
    -------
    ThresholdResult
        ``raw_score`` is the sweep's value (see :func:`threshold_sweep`).

    Examples
    --------
    >>> s = np.zeros(40); s[10] = 0.9; s[30] = 0.4
    >>> optimize_threshold({"a": (s, [(30, 34)])}).threshold
    0.4
    """
    return _best(threshold_sweep(files, profile, probationary_percent=probationary_percent))


# ------------------------------------------------------------------ normalisation


def normalize_score(raw_score: float, raw_null: float, raw_perfect: float) -> float:
    """NAB's normalised score: ``100 * (raw - raw_null) / (raw_perfect - raw_null)``.

    Parameters
    ----------
    raw_score, raw_null, raw_perfect : float
        Corpus raw scores of the detector, of the null detector (no detection) and of
        a perfect detector (``tpWeight`` per window).

    Returns
    -------
    float
        0 for the null detector, 100 for a perfect one.

    Examples
    --------
    >>> normalize_score(46.63445019713756, -116.0, 116.0)
    70.10105611945585
    """
    if raw_perfect == raw_null:
        raise DataError("the normalised NAB score is undefined when the perfect and null scores are equal (no window)")
    return 100.0 * (raw_score - raw_null) / (raw_perfect - raw_null)


def nab_score(
    files,
    profile="standard",
    *,
    threshold: float | None = None,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> dict:
    """NAB's benchmark in one call: optimise the threshold on the corpus, score, normalise.

    Parameters
    ----------
    files : dict of str to tuple
        ``{name: (scores, labels_or_windows)}`` or ``{name: (scores, labels_or_windows,
        timestamps)}``. Scores as in :func:`score_file` (NaN allowed on probationary
        rows). ``labels_or_windows`` is a per-row 0/1 array (e.g. the ``label``
        column of ``shared/datasets/nab/<id>.csv``), a list of inclusive ``[start, end]``
        row ranges, or ``[start, end]`` timestamp pairs (then give the timestamps).
    profile : str or dict, default "standard"
        ``standard``, ``reward_low_FP_rate``, ``reward_low_FN_rate`` or a cost matrix dict.
    threshold : float, optional
        Score at this threshold instead of optimising one (e.g. a published NAB threshold).
    probationary_percent : float, default 0.15

    Returns
    -------
    dict
        ``score`` (normalised, 0 = null detector, 100 = perfect), ``threshold``,
        ``threshold_optimised`` (bool), ``profile``, ``cost_matrix``, ``raw_score``,
        ``raw_null``, ``raw_perfect``, ``raw_scores`` ({name: raw score}), ``counts``
        (NAB's row counts ``tp``, ``fp``, ``fn``, ``tn`` over the corpus), ``windows``
        (``total``, ``scored``, ``detected``, ``missed``) and ``files`` ({name: dict with
        ``raw_score``, ``tp``, ``fp``, ``fn``, ``tn``, ``windows``, ``windows_detected``,
        ``fp_sum``}). Plain Python numbers, ready for JSON.

    Raises
    ------
    DataError
        On bad scores or windows, or a corpus without any window.
    ConfigError
        On an unknown profile or a bad parameter.

    Examples
    --------
    >>> a = np.zeros(50); a[20] = 0.9; a[40] = 0.3
    >>> b = np.zeros(50); b[31] = 0.8
    >>> r = nab_score({"a": (a, [(20, 24)]), "b": (b, [(30, 34)])})
    >>> r["threshold"], round(r["score"], 2), r["windows"]["detected"], r["counts"]["fp"]
    (0.8, 99.43, 2, 0)
    """
    cost = _cost_matrix(profile)
    prepared = _prepare_corpus(files, cost, _probationary_percent(probationary_percent))
    optimised = threshold is None
    t = _best(_sweep(prepared, cost)).threshold if optimised else _threshold(threshold)
    corpus = _corpus_at(prepared, t, cost)
    per = corpus.files
    n_windows = sum(int(f.starts.shape[0]) for f in prepared)
    scored = sum(r.n_windows for r in per.values())
    detected = sum(r.windows_detected for r in per.values())
    raw_null = 0.0
    for r in per.values():
        raw_null += -cost.fn * r.n_windows
    raw_perfect = cost.tp * n_windows
    if n_windows == 0:
        raise DataError("the corpus has no anomaly window; NAB's normalised score is undefined")
    return {
        "profile": cost.name,
        "cost_matrix": {"tpWeight": cost.tp, "fpWeight": cost.fp, "fnWeight": cost.fn},
        "probationary_percent": float(probationary_percent),
        "score": normalize_score(corpus.raw_score, raw_null, raw_perfect),
        "threshold": float(t),
        "threshold_optimised": optimised,
        "raw_score": corpus.raw_score,
        "raw_null": raw_null,
        "raw_perfect": raw_perfect,
        "raw_scores": {name: r.raw_score for name, r in per.items()},
        "counts": {"tp": corpus.tp, "fp": corpus.fp, "fn": corpus.fn, "tn": corpus.tn},
        "windows": {"total": n_windows, "scored": scored, "detected": detected, "missed": scored - detected},
        "files": {
            name: {
                "raw_score": r.raw_score,
                "tp": r.tp,
                "fp": r.fp,
                "fn": r.fn,
                "tn": r.tn,
                "windows": r.n_windows,
                "windows_detected": r.windows_detected,
                "fp_sum": r.fp_sum,
            }
            for name, r in per.items()
        },
    }
