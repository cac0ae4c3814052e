"""Evaluation metrics for anomaly scores.

Every function takes per-point ``labels`` (0 = normal, 1 = anomaly) and per-point
``scores`` where a *higher* score means *more* anomalous. The definitions follow the
TSB-AD benchmark (``TSB_AD.evaluation.metrics.get_metrics`` with ``version='opt'``,
``thre=250``; Liu & Paparrizos, NeurIPS 2024), so numbers computed here can be put
next to TSB-AD's published tables:

========================  ===================  =====================================
key in :func:`evaluate`   TSB-AD name          function
========================  ===================  =====================================
``auc_pr``                AUC-PR               :func:`auc_pr`
``auc_roc``               AUC-ROC              :func:`auc_roc`
``vus_pr``                VUS-PR               :func:`vus_pr`
``vus_roc``               VUS-ROC              :func:`vus_roc`
``standard_f1``           Standard-F1          :func:`best_f1`
``pa_f1``                 PA-F1                :func:`point_adjusted_f1`
``event_f1``              Event-based-F1       :func:`event_f1`
``range_f1``              R-based-F1           :func:`range_f1`
========================  ===================  =====================================

All computations are vectorised: cost is dominated by one sort of the scores, plus
``O(n)`` work for each of the 100 thresholds of the range-based F1 and
``O(segments * sliding_window**2)`` for the volume-under-surface metrics.

Bad inputs (length mismatch, labels other than 0/1, non-finite scores, no anomaly
where a metric needs one) raise :class:`tsae.errors.DataError`.
"""

from __future__ import annotations

import numbers

import numpy as np

from tsae.errors import DataError
from tsae.events import runs
from tsae.nab import nab_score  # noqa: F401  (NAB's scoring, in its own module)

__all__ = [
    "auc_pr",
    "auc_roc",
    "vus_pr",
    "vus_roc",
    "point_f1",
    "best_f1",
    "point_adjusted_f1",
    "event_f1",
    "range_f1",
    "ucr_top1",
    "evaluate",
    "nab_score",
]

# Number of evenly spaced thresholds between min(scores) and max(scores) that TSB-AD
# searches for the oracle PA-F1, Event-based-F1 and R-based-F1.
_N_GRID = 100
# TSB-AD's smoothing term in the Standard-F1 denominator: 2PR / (P + R + 1e-5).
_STANDARD_F1_EPS = 1e-5
# Weight of the existence reward in the range-based recall (TSB-AD: alpha=0.2).
_RANGE_ALPHA = 0.2


# --------------------------------------------------------------------------- checks


def _labels_array(labels, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 1-D boolean array, or raise DataError."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{name} is empty")
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.number)):
        raise DataError(f"{name} must be numeric 0/1 values, got dtype {arr.dtype}")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must contain only 0 and 1; row {i} is {arr[i]!r}")
    return arr == 1


def _scores_array(scores, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a 1-D float64 array of finite values, or raise DataError."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{name} is empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must be finite; row {i} is {arr[i]} ({int(bad.sum())} such rows)")
    return arr


def _check(labels, scores, *, need_negative: bool = False, scores_name: str = "scores"):
    """Validate a labels/scores pair; return (bool labels, float scores)."""
    y = _labels_array(labels)
    s = _scores_array(scores, scores_name)
    if y.shape[0] != s.shape[0]:
        raise DataError(f"labels and {scores_name} must have the same length, got {y.shape[0]} and {s.shape[0]}")
    if not y.any():
        raise DataError("labels contain no anomaly (1); this metric needs at least one")
    if need_negative and y.all():
        raise DataError("labels contain no normal point (0); this metric needs at least one")
    return y, s


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# -------------------------------------------------------------------------- helpers


def _segments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (starts, ends) of the runs of True in a boolean array (``tsae.events.runs``)."""
    spans = runs(mask)
    return spans[:, 0], spans[:, 1]


def _segment_max(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Maximum of ``values[s:e+1]`` for each non-empty inclusive segment."""
    padded = np.append(values, -np.inf)  # lets ends + 1 == len(values) be an index
    idx = np.empty(2 * starts.shape[0], dtype=np.intp)
    idx[0::2] = starts
    idx[1::2] = ends + 1
    return np.maximum.reduceat(padded, idx)[0::2]


def _ranked_counts(y: np.ndarray, s: np.ndarray):
    """Cumulative true/false positives when flagging ``s >= t`` for each distinct ``t``.

    Returns (thresholds descending, tp, fp), one entry per distinct score value.
    """
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    # last position of each run of equal scores
    last = np.flatnonzero(np.diff(s_sorted)) if s.shape[0] > 1 else np.empty(0, dtype=np.intp)
    last = np.append(last, s.shape[0] - 1)
    tp = np.cumsum(y_sorted, dtype=np.float64)[last]
    fp = (last + 1) - tp
    return s_sorted[last], tp, fp


def _count_above(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Number of ``sorted_values`` strictly greater than each threshold."""
    return sorted_values.shape[0] - np.searchsorted(sorted_values, thresholds, side="right")


def _grid(s: np.ndarray) -> np.ndarray:
    """TSB-AD's threshold grid: 100 evenly spaced values from min to max score."""
    return np.linspace(s.min(), s.max(), _N_GRID)


def _f1(precision, recall):
    """Harmonic mean, 0 where both are 0."""
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    total = precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)


# ------------------------------------------------------------- threshold-free metrics


def auc_roc(labels, scores) -> float:
    """Area under the ROC curve (TSB-AD "AUC-ROC").

    Trapezoidal area under (false-positive rate, true-positive rate) over all distinct
    score thresholds; tied scores are one threshold, so a tie between a normal and an
    anomalous point counts one half (identical to ``sklearn.metrics.roc_auc_score``).

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.

    Returns
    -------
    float
        AUC-ROC in [0, 1]; 0.5 for uninformative scores.

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or labels that
        are all 0 or all 1.
    """
    y, s = _check(labels, scores, need_negative=True)
    _, tp, fp = _ranked_counts(y, s)
    tpr = np.concatenate(([0.0], tp / tp[-1]))
    fpr = np.concatenate(([0.0], fp / fp[-1]))
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def auc_pr(labels, scores) -> float:
    """Area under the precision-recall curve as average precision (TSB-AD "AUC-PR").

    ``sum_k (R_k - R_{k-1}) * P_k`` over the distinct score thresholds in decreasing
    order (step interpolation, no trapezoid), as ``sklearn.metrics.average_precision_score``.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.

    Returns
    -------
    float
        Average precision in [0, 1]; about the anomaly ratio for uninformative scores.

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or no anomaly.
    """
    y, s = _check(labels, scores)
    _, tp, fp = _ranked_counts(y, s)
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


# -------------------------------------------------------------- volume under surface


def _vus(y: np.ndarray, s: np.ndarray, sliding_window: int, n_thresholds: int) -> tuple[float, float]:
    """(VUS-ROC, VUS-PR) as TSB-AD's ``RangeAUC_volume_opt``; inputs already checked.

    For each buffer length ``w = 0 .. sliding_window`` the labels are widened by a soft
    buffer of ``w // 2`` points each side of every anomaly (weight ``sqrt(1 - d / w)``
    at distance ``d``; overlapping buffers add, capped at 1). At each of
    ``n_thresholds`` thresholds (scores at evenly spaced ranks) a range-aware TPR, FPR
    and precision are computed, the ROC area (trapezoid) and PR area (step) taken, and
    the areas averaged over all ``w``.

    Rather than looping over windows x thresholds x points, each point gets the index
    of the first threshold that flags it; sums over flagged points then become
    cumulative sums of ``bincount`` over that index.
    """
    n = s.shape[0]
    starts, ends = _segments(y)
    n_pos = float(y.sum())

    desc = np.sort(s)[::-1]
    thr = desc[np.linspace(0, n - 1, n_thresholds).astype(int)]  # non-increasing
    n_flagged = (n - np.searchsorted(desc[::-1], thr, side="left")).astype(np.float64)
    neg_thr = -thr

    def first_flag(values: np.ndarray) -> np.ndarray:
        # index of the first threshold t_j with values >= t_j (n_thresholds if none)
        return np.searchsorted(neg_thr, -values, side="left")

    # true positives among the labelled points, per threshold
    tp_core = np.cumsum(np.bincount(first_flag(s[y]), minlength=n_thresholds + 1))[:n_thresholds]

    half_max = sliding_window // 2
    dist = np.arange(1, half_max + 1)
    # buffer positions after each anomaly end / before each start, with their distances
    after = ends[:, None] + dist[None, :]
    before = starts[:, None] - dist[None, :]
    # running maximum of the scores over the buffer, per anomaly, used for "existence"
    seg_core_max = _segment_max(s, starts, ends)
    run_after = np.maximum.accumulate(np.where(after < n, s[np.minimum(after, n - 1)], -np.inf), axis=1)
    run_before = np.maximum.accumulate(np.where(before >= 0, s[np.maximum(before, 0)], -np.inf), axis=1)

    pos = np.concatenate((after.ravel(), before.ravel()))
    pos_dist = np.concatenate((np.broadcast_to(dist, after.shape).ravel(), np.broadcast_to(dist, before.shape).ravel()))
    keep = (pos >= 0) & (pos < n)
    pos, pos_dist = pos[keep], pos_dist[keep]
    keep = ~y[pos]  # buffer entries on labelled points add nothing (they are 1 already)
    pos, pos_dist = pos[keep], pos_dist[keep]
    buf_points, buf_index = np.unique(pos, return_inverse=True)
    buf_first = first_flag(s[buf_points])

    gaps = starts[1:] - ends[:-1]  # > 0
    auc_sum = 0.0
    ap_sum = 0.0
    for w in range(sliding_window + 1):
        h = w // 2
        if h > 0:
            weight = np.where(pos_dist <= h, np.sqrt(np.maximum(1.0 - pos_dist / w, 0.0)), 0.0)
            soft = np.minimum(np.bincount(buf_index, weights=weight, minlength=buf_points.shape[0]), 1.0)
            tp_buf = np.cumsum(np.bincount(buf_first, weights=soft, minlength=n_thresholds + 1))[:n_thresholds]
            seg_max = np.maximum(seg_core_max, np.maximum(run_after[:, h - 1], run_before[:, h - 1]))
        else:
            tp_buf = np.zeros(n_thresholds)
            seg_max = seg_core_max
        # anomalies whose buffered ranges touch form one range; "existence" counts the
        # ranges that hold at least one flagged point
        group_start = np.flatnonzero(np.concatenate(([True], gaps > 2 * h)))
        group_max = np.sort(np.maximum.reduceat(seg_max, group_start))
        existence = (group_max.shape[0] - np.searchsorted(group_max, thr, side="left")) / group_max.shape[0]

        tp = tp_core + tp_buf
        p_new = n_pos + tp_buf / 2  # mean of the original and the buffered positives
        tpr = np.minimum(tp / p_new, 1.0) * existence
        fpr = (n_flagged - tp) / (n - p_new)
        precision = tp / n_flagged

        tpr_curve = np.concatenate(([0.0], tpr, [1.0]))
        fpr_curve = np.concatenate(([0.0], fpr, [1.0]))
        auc_sum += float(np.sum(np.diff(fpr_curve) * (tpr_curve[1:] + tpr_curve[:-1])) / 2)
        ap_sum += float(np.sum(np.diff(tpr_curve[:-1]) * precision))
    return auc_sum / (sliding_window + 1), ap_sum / (sliding_window + 1)


def _vus_checked(labels, scores, sliding_window, n_thresholds):
    y, s = _check(labels, scores, need_negative=True)
    sliding_window = _check_int(sliding_window, "sliding_window", 0)
    n_thresholds = _check_int(n_thresholds, "n_thresholds", 1)
    return _vus(y, s, sliding_window, n_thresholds)


_VUS_DOC = """

    Volume under the surface (Paparrizos et al., VLDB 2022) exactly as TSB-AD computes
    it (``get_metrics(..., version='opt', thre=250)``): for each buffer length
    ``w = 0, 1, ..., sliding_window`` every anomaly range is widened by ``w // 2``
    points each side with soft labels ``sqrt(1 - d / w)`` (``d`` = distance to the
    range; overlapping buffers add up, capped at 1), and a range-aware curve is built
    over ``n_thresholds`` thresholds taken as the scores at evenly spaced ranks
    (a point is flagged when ``score >= threshold``). At each threshold

    * TP = flagged original anomalies + soft-label mass of flagged buffer points,
    * P' = (#anomalies + #anomalies + flagged buffer mass) / 2,
    * TPR = min(TP / P', 1) * (share of buffered ranges holding a flagged point),
    * FPR = (#flagged - TP) / (n - P'),  precision = TP / #flagged.

    The area for one ``w`` is the trapezoid under (FPR, TPR) from (0, 0) to (1, 1)
    for VUS-ROC, and ``sum (TPR_k - TPR_{k-1}) * precision_k`` for VUS-PR; the volume
    is the mean area over all ``w``. ``sliding_window=0`` gives the range-AUC with no
    buffer.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.
    sliding_window : int, default 100
        Largest buffer length (TSB-AD's ``slidingWindow``; TSB-AD sets it per series
        from the estimated period).
    n_thresholds : int, default 250
        Number of thresholds (TSB-AD's ``thre``).

    Returns
    -------
    float
        The volume, in [0, 1].

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, labels that
        are all 0 or all 1, or a negative ``sliding_window``.
    """


def vus_roc(labels, scores, sliding_window: int = 100, *, n_thresholds: int = 250) -> float:
    return _vus_checked(labels, scores, sliding_window, n_thresholds)[0]


def vus_pr(labels, scores, sliding_window: int = 100, *, n_thresholds: int = 250) -> float:
    return _vus_checked(labels, scores, sliding_window, n_thresholds)[1]


vus_roc.__doc__ = 'Volume under the range-ROC surface (TSB-AD "VUS-ROC").' + _VUS_DOC
vus_pr.__doc__ = 'Volume under the range-PR surface (TSB-AD "VUS-PR").' + _VUS_DOC


# -------------------------------------------------------------- threshold metrics


def point_f1(labels, flags) -> dict:
    """Point-wise precision, recall and F1 of given anomaly flags.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    flags : array-like of bool or {0, 1}, shape (n,)
        Predicted anomalies.

    Returns
    -------
    dict
        ``precision``, ``recall`` and ``f1`` (floats; precision is 0 when nothing is
        flagged, F1 is 0 when precision and recall are both 0).

    Raises
    ------
    DataError
        On a length mismatch, labels or flags other than 0/1, or no anomaly in labels.
    """
    y = _labels_array(labels)
    f = _labels_array(flags, "flags")
    if y.shape[0] != f.shape[0]:
        raise DataError(f"labels and flags must have the same length, got {y.shape[0]} and {f.shape[0]}")
    if not y.any():
        raise DataError("labels contain no anomaly (1); recall needs at least one")
    tp = float(np.count_nonzero(y & f))
    n_flag = float(np.count_nonzero(f))
    precision = tp / n_flag if n_flag else 0.0
    recall = tp / float(np.count_nonzero(y))
    return {"precision": precision, "recall": recall, "f1": float(_f1(precision, recall))}


def best_f1(labels, scores, *, eps: float = _STANDARD_F1_EPS) -> dict:
    """Oracle point-wise F1 over all thresholds (TSB-AD "Standard-F1").

    Every distinct score value ``t`` is tried as a threshold (flag ``score >= t``) and
    the one maximising ``2 P R / (P + R + eps)`` is kept. The default ``eps = 1e-5`` is
    TSB-AD's smoothing term, so ``f1`` equals TSB-AD's Standard-F1; it lies below the
    textbook F1 by at most about ``5e-6``. Pass ``eps=0`` for the exact F1.

    The threshold is chosen with knowledge of the labels, so this is an upper bound
    on what a deployed detector with a fixed threshold achieves.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.
    eps : float, default 1e-5
        Added to the F1 denominator (keyword only).

    Returns
    -------
    dict
        ``f1``, ``precision``, ``recall`` (at the best threshold) and ``threshold``
        (flag ``scores >= threshold`` to reproduce them).

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or no anomaly.
    """
    y, s = _check(labels, scores)
    if not (isinstance(eps, numbers.Real) and eps >= 0):
        raise DataError(f"eps must be a number >= 0, got {eps!r}")
    thresholds, tp, fp = _ranked_counts(y, s)
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    total = precision + recall + eps
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)
    k = int(np.argmax(f1))
    return {
        "f1": float(f1[k]),
        "precision": float(precision[k]),
        "recall": float(recall[k]),
        "threshold": float(thresholds[k]),
    }


def point_adjusted_f1(labels, scores) -> float:
    """Oracle F1 after point adjustment (TSB-AD "PA-F1").

    At each threshold (100 evenly spaced values from min to max score, flag
    ``score > t``, as TSB-AD), every anomaly range with at least one flagged point is
    counted as entirely detected; the point-wise F1 of the adjusted flags is computed
    and the best over the thresholds returned.

    Notes
    -----
    PA-F1 is very optimistic: one lucky point in a long anomaly detects all of it, so
    random scores reach a high PA-F1 (often above 0.7 on series with long anomalies)
    and it should not be used on its own to rank detectors.

    TSB-AD's adjustment loop never back-fills row 0; so for an anomaly that starts at
    row 0 and is first flagged later, TSB-AD leaves row 0 unadjusted. Here the whole
    range is adjusted, as the definition says. Results differ only in that case.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.

    Returns
    -------
    float
        Best point-adjusted F1 in [0, 1].

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or no anomaly.
    """
    y, s = _check(labels, scores)
    t = _grid(s)
    starts, ends = _segments(y)
    seg_max = _segment_max(s, starts, ends)
    order = np.argsort(seg_max)
    seg_max_sorted = seg_max[order]
    # points of the anomalies detected at threshold t = lengths of ranges whose max > t
    length_desc_cum = np.concatenate(([0.0], np.cumsum((ends - starts + 1)[order][::-1], dtype=np.float64)))
    tp = length_desc_cum[_count_above(seg_max_sorted, t)]
    fp = _count_above(np.sort(s[~y]), t).astype(np.float64)
    n_pos = float(np.count_nonzero(y))
    f1 = np.where(tp > 0, 2 * tp / np.maximum(tp + fp + n_pos, 1.0), 0.0)
    return float(f1.max())


def event_f1(labels, scores) -> float:
    """Oracle event-based F1 (TSB-AD "Event-based-F1").

    Recall counts anomaly *events* (contiguous ranges): the share with at least one
    flagged point. Precision is point-wise: the share of flagged points that are
    anomalous. F1 is their harmonic mean, maximised over TSB-AD's threshold grid
    (100 evenly spaced values from min to max score, flag ``score > t``).

    Notes
    -----
    TSB-AD's event extraction drops the last row of an anomaly that runs to the end
    of the series (so a one-row anomaly at the last row can never be detected) and
    adds ``1e-15`` to the F1 denominator. Here the event ends on the last row and the
    F1 is exact; results differ only in those respects (the ``1e-15`` by ~1e-15).

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.

    Returns
    -------
    float
        Best event-based F1 in [0, 1].

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or no anomaly.
    """
    y, s = _check(labels, scores)
    t = _grid(s)
    starts, ends = _segments(y)
    seg_max = np.sort(_segment_max(s, starts, ends))
    recall = _count_above(seg_max, t) / seg_max.shape[0]
    tp = _count_above(np.sort(s[y]), t)
    flagged = _count_above(np.sort(s), t)
    precision = np.where(flagged > 0, tp / np.maximum(flagged, 1), 0.0)
    return float(_f1(precision, recall).max())


def _overlap_share(a_start, a_end, b_start, b_end, b_cum):
    """Range-based overlap reward of ranges A against ranges B (Tatbul et al., flat bias).

    For each range in A: (share of its points inside B) / (number of B ranges it
    overlaps), 0 if none. ``b_cum`` is the cumulative count of B's points (length n+1).
    """
    hits = b_cum[a_end + 1] - b_cum[a_start]
    n_overlapping = np.searchsorted(b_start, a_end, side="right") - np.searchsorted(b_end, a_start, side="left")
    share = hits / (a_end - a_start + 1)
    return np.where(n_overlapping > 0, share / np.maximum(n_overlapping, 1), 0.0), hits


def range_f1(labels, scores) -> float:
    """Oracle range-based F1 (TSB-AD "R-based-F1"; Tatbul et al., NeurIPS 2018).

    With TSB-AD's parameters: flat positional bias, cardinality factor
    ``1 / (number of overlapping ranges)``, recall = ``0.2 * existence +
    0.8 * overlap`` averaged over the anomaly ranges, precision = overlap alone
    averaged over the flagged ranges (0 when nothing is flagged). The F1 of range
    precision and recall is maximised over TSB-AD's threshold grid (100 evenly spaced
    values from min to max score, flag ``score > t``).

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.

    Returns
    -------
    float
        Best range-based F1 in [0, 1].

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or no anomaly.
    """
    y, s = _check(labels, scores)
    l_start, l_end = _segments(y)
    l_cum = np.concatenate(([0], np.cumsum(y)))
    best = 0.0
    for t in _grid(s):  # 100 thresholds, each O(n)
        flags = s > t
        p_start, p_end = _segments(flags)
        if p_start.shape[0] == 0:
            continue  # precision and recall both 0
        p_cum = np.concatenate(([0], np.cumsum(flags)))
        overlap, hits = _overlap_share(l_start, l_end, p_start, p_end, p_cum)
        recall = (_RANGE_ALPHA * np.count_nonzero(hits) + (1 - _RANGE_ALPHA) * overlap.sum()) / l_start.shape[0]
        recall = min(recall, 1.0)  # 0.2*k + 0.8*k can round to just above k
        precision = _overlap_share(p_start, p_end, l_start, l_end, l_cum)[0].sum() / p_start.shape[0]
        best = max(best, float(_f1(precision, recall)))
    return best


# ------------------------------------------------------------------------------ misc


def ucr_top1(scores, anomaly_start: int, anomaly_end: int, train_end: int, tolerance: int = 100) -> bool:
    """UCR-archive "top-1" hit: does the highest test score fall on the anomaly?

    True when the row of the maximum of ``scores[train_end:]`` lies within
    ``[anomaly_start - tolerance, anomaly_end + tolerance]`` (inclusive row indices of
    the whole series). On ties the first maximum counts.

    Parameters
    ----------
    scores : array-like of float, shape (n,)
        Anomaly scores of the whole series; rows before ``train_end`` are ignored
        (they may be NaN).
    anomaly_start, anomaly_end : int
        First and last row of the anomaly (inclusive), ``0 <= start <= end < n``.
    train_end : int
        First test row, ``0 <= train_end < n``.
    tolerance : int, default 100
        Rows of slack either side of the anomaly.

    Returns
    -------
    bool

    Raises
    ------
    DataError
        On non-finite test scores or out-of-range indices.
    """
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"scores must be numeric: {exc}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"scores must be a non-empty one-dimensional array, got shape {arr.shape}")
    n = arr.shape[0]
    train_end = _check_int(train_end, "train_end", 0)
    anomaly_start = _check_int(anomaly_start, "anomaly_start", 0)
    anomaly_end = _check_int(anomaly_end, "anomaly_end", 0)
    tolerance = _check_int(tolerance, "tolerance", 0)
    if train_end >= n:
        raise DataError(f"train_end must be below the series length {n}, got {train_end}")
    if not anomaly_start <= anomaly_end < n:
        raise DataError(
            f"need anomaly_start <= anomaly_end < {n}, got anomaly_start={anomaly_start}, anomaly_end={anomaly_end}"
        )
    test = _scores_array(arr[train_end:], "scores (test part)")
    top = train_end + int(np.argmax(test))
    return bool(anomaly_start - tolerance <= top <= anomaly_end + tolerance)


def evaluate(labels, scores, sliding_window: int = 100) -> dict:
    """All TSB-AD metrics for one series.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n,)
        Ground truth, 1 = anomaly; needs at least one 0 and one 1.
    scores : array-like of float, shape (n,)
        Anomaly scores, higher = more anomalous.
    sliding_window : int, default 100
        Largest buffer length of the VUS metrics.

    Returns
    -------
    dict
        Floats under ``auc_pr``, ``auc_roc``, ``vus_pr``, ``vus_roc``,
        ``standard_f1``, ``pa_f1``, ``event_f1`` and ``range_f1`` (TSB-AD's AUC-PR,
        AUC-ROC, VUS-PR, VUS-ROC, Standard-F1, PA-F1, Event-based-F1, R-based-F1).

    Raises
    ------
    DataError
        On a length mismatch, labels other than 0/1, non-finite scores, or labels
        that are all 0 or all 1.
    """
    y, s = _check(labels, scores, need_negative=True)
    roc_vol, pr_vol = _vus(y, s, _check_int(sliding_window, "sliding_window", 0), 250)
    return {
        "auc_pr": auc_pr(y, s),
        "auc_roc": auc_roc(y, s),
        "vus_pr": pr_vol,
        "vus_roc": roc_vol,
        "standard_f1": best_f1(y, s)["f1"],
        "pa_f1": point_adjusted_f1(y, s),
        "event_f1": event_f1(y, s),
        "range_f1": range_f1(y, s),
    }
