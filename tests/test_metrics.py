"""Tests for tsae.metrics: TSB-AD reference values, hand-worked cases, properties, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from tsae import metrics as M
from tsae.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"  # ../shared beside the repository
REFERENCE = SHARED / "fixtures" / "metrics_reference.json"

# our evaluate() key -> TSB-AD get_metrics key
TSB_KEYS = {
    "auc_pr": "AUC-PR",
    "auc_roc": "AUC-ROC",
    "vus_pr": "VUS-PR",
    "vus_roc": "VUS-ROC",
    "standard_f1": "Standard-F1",
    "pa_f1": "PA-F1",
    "event_f1": "Event-based-F1",
    "range_f1": "R-based-F1",
}
# The brief allows 1e-3 for Event-based-F1 and R-based-F1; every metric in fact
# matches TSB-AD 1.5 to ~1e-15, so all are held to 1e-6.
TOL = 1e-6


def _labels_from_ranges(n, ranges):
    y = np.zeros(n, dtype=int)
    for start, end in ranges:
        y[start : end + 1] = 1
    return y


def _reference_cases():
    if not REFERENCE.exists():
        return []
    return json.loads(REFERENCE.read_text())["cases"]


_CASES = _reference_cases()


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} (the shared data beside the repository) is absent")
def test_the_reference_fixture_is_found_where_shared_data_is():
    """With ../shared present (as in CI), a missing or empty fixture is a failure, not a skip."""
    assert REFERENCE.is_file(), f"{REFERENCE} missing although {SHARED} exists"
    assert len(_CASES) > 0


# ------------------------------------------------------------- TSB-AD reference values


@pytest.mark.skipif(not _CASES, reason=f"reference fixture {REFERENCE} not present")
@pytest.mark.parametrize("i", range(len(_CASES)) if _CASES else [0])
def test_reference_fixture_evaluate(i):
    case = _CASES[i]
    y = _labels_from_ranges(case["n"], case["label_ranges"])
    got = M.evaluate(y, np.asarray(case["scores"]), sliding_window=case["sliding_window"])
    assert set(got) == set(TSB_KEYS)
    for ours, theirs in TSB_KEYS.items():
        assert got[ours] == pytest.approx(case["expected"][theirs], abs=TOL), ours


@pytest.mark.skipif(not _CASES, reason=f"reference fixture {REFERENCE} not present")
@pytest.mark.parametrize("i", range(len(_CASES)) if _CASES else [0])
def test_reference_fixture_individual_functions(i):
    case = _CASES[i]
    y = _labels_from_ranges(case["n"], case["label_ranges"])
    s = case["scores"]  # a plain list: array-likes are accepted
    w = case["sliding_window"]
    exp = case["expected"]
    assert M.auc_pr(y, s) == pytest.approx(exp["AUC-PR"], abs=TOL)
    assert M.auc_roc(y, s) == pytest.approx(exp["AUC-ROC"], abs=TOL)
    assert M.vus_pr(y, s, sliding_window=w) == pytest.approx(exp["VUS-PR"], abs=TOL)
    assert M.vus_roc(y, s, sliding_window=w) == pytest.approx(exp["VUS-ROC"], abs=TOL)
    assert M.best_f1(y, s)["f1"] == pytest.approx(exp["Standard-F1"], abs=TOL)
    assert M.point_adjusted_f1(y, s) == pytest.approx(exp["PA-F1"], abs=TOL)
    assert M.event_f1(y, s) == pytest.approx(exp["Event-based-F1"], abs=TOL)
    assert M.range_f1(y, s) == pytest.approx(exp["R-based-F1"], abs=TOL)


# A small case that always runs. Values computed with TSB-AD 1.5
# (get_metrics(score, labels, slidingWindow=8, version='opt', thre=250)).
# Anomalies 9-13 and 17-18 are 3 rows apart, so their VUS buffers overlap and add up;
# the scores have ties (0.08 five times).
SMALL_SCORES = [
    0.08, 0.3, 0.36, 0.02, 0.09, 0.56, 0.04, 0.08, 0.57, 0.53, 0.27, 0.39, 0.41, 0.58, 0.08, 0.47,
    0.4, 0.41, 0.52, 0.33, 0.59, 0.12, 0.33, 0.29, 0.21, 0.35, 0.14, 0.48, 0.52, 0.08, 0.28, 0.17,
    0.05, 0.54, 0.26, 0.09, 0.62, 0.28, 0.91, 0.15, 0.05, 0.12, 0.21, 0.28, 0.54, 0.42, 0.2, 0.01,
]  # fmt: skip
SMALL_LABELS = _labels_from_ranges(48, [(9, 13), (17, 18), (36, 40)])
SMALL_EXPECTED = {
    "auc_pr": 0.5207588843618255,
    "auc_roc": 0.699074074074074,
    "vus_pr": 0.6524965923619924,
    "vus_roc": 0.822104321448875,
    "standard_f1": 0.5333285333765329,
    "pa_f1": 0.8695652173913043,
    "event_f1": 0.705882352941176,
    "range_f1": 0.4883116883116883,
}


def test_small_embedded_reference_case():
    got = M.evaluate(SMALL_LABELS, SMALL_SCORES, sliding_window=8)
    for key, value in SMALL_EXPECTED.items():
        assert got[key] == pytest.approx(value, abs=TOL), key


# ------------------------------------------------------------------ hand-worked cases


def test_range_f1_hand_worked_partial_overlap():
    # anomaly 2-5, flagged 4-7: recall = 0.2*1 + 0.8*(2/4) = 0.6, precision = 2/4
    y = _labels_from_ranges(10, [(2, 5)])
    s = _labels_from_ranges(10, [(4, 7)]).astype(float)
    assert M.range_f1(y, s) == pytest.approx(2 * 0.6 * 0.5 / 1.1, abs=1e-12)


def test_range_f1_hand_worked_cardinality():
    # anomaly 2-9 hit by two flagged ranges (3-4 and 7): overlap 3/8 shared by 2 ranges
    y = _labels_from_ranges(12, [(2, 9)])
    s = _labels_from_ranges(12, [(3, 4), (7, 7)]).astype(float)
    recall = 0.2 + 0.8 * (3 / 8) / 2
    precision = 1.0
    assert M.range_f1(y, s) == pytest.approx(2 * recall * precision / (recall + precision), abs=1e-12)


def test_event_f1_hand_worked():
    # events 2-3 and 7-8; flagged rows 2 and 5: event recall 1/2, point precision 1/2
    y = _labels_from_ranges(10, [(2, 3), (7, 8)])
    s = np.zeros(10)
    s[[2, 5]] = 1.0
    assert M.event_f1(y, s) == pytest.approx(0.5, abs=1e-12)


def test_point_adjusted_f1_hand_worked():
    # anomaly 2-5, flagged rows 3 and 8: adjusted TP=4, FP=1, FN=0 -> F1 = 8/9
    y = _labels_from_ranges(10, [(2, 5)])
    s = np.zeros(10)
    s[[3, 8]] = 1.0
    assert M.point_adjusted_f1(y, s) == pytest.approx(8 / 9, abs=1e-12)


def test_point_adjusted_f1_adjusts_anomaly_at_row_zero():
    # deliberate difference from TSB-AD (which would leave row 0 unadjusted: 0.8)
    y = _labels_from_ranges(10, [(0, 2)])
    s = np.zeros(10)
    s[2] = 5.0
    assert M.point_adjusted_f1(y, s) == pytest.approx(1.0)


def test_event_f1_detects_anomaly_on_last_row():
    # deliberate difference from TSB-AD (which drops the last row of a final event: 0.0)
    y = _labels_from_ranges(10, [(9, 9)])
    s = np.zeros(10)
    s[9] = 5.0
    assert M.event_f1(y, s) == pytest.approx(1.0)


def test_point_f1_hand_worked_and_matches_sklearn():
    y = [0, 1, 1, 1, 0, 0, 1, 0]
    flags = [True, True, False, True, False, True, False, False]
    got = M.point_f1(y, flags)
    assert got["precision"] == pytest.approx(2 / 4)
    assert got["recall"] == pytest.approx(2 / 4)
    assert got["f1"] == pytest.approx(0.5)
    p, r, f, _ = precision_recall_fscore_support(y, flags, average="binary")
    assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f))


def test_point_f1_nothing_flagged_is_zero():
    assert M.point_f1([0, 1, 0], [0, 0, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_best_f1_threshold_reproduces_its_precision_and_recall():
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.1).astype(int)
    s = rng.random(500) + y * rng.random(500)
    best = M.best_f1(y, s)
    at = M.point_f1(y, s >= best["threshold"])
    assert at["precision"] == pytest.approx(best["precision"])
    assert at["recall"] == pytest.approx(best["recall"])
    # TSB-AD's 1e-5 smoothing: just below the exact F1; eps=0 gives the exact value
    assert best["f1"] < at["f1"] < best["f1"] + 1e-5
    assert M.best_f1(y, s, eps=0)["f1"] == pytest.approx(at["f1"], abs=1e-12)


# ------------------------------------------------------------------------- properties


def test_perfect_scores_give_one():
    y = _labels_from_ranges(300, [(20, 40), (100, 101), (250, 299)])
    s = y * 2.0 + 0.5
    assert M.auc_roc(y, s) == 1.0
    assert M.auc_pr(y, s) == 1.0
    assert M.vus_roc(y, s, sliding_window=30) == pytest.approx(1.0)
    assert M.vus_pr(y, s, sliding_window=30) == pytest.approx(1.0)
    assert M.best_f1(y, s, eps=0)["f1"] == pytest.approx(1.0)
    assert M.point_adjusted_f1(y, s) == pytest.approx(1.0)
    assert M.event_f1(y, s) == pytest.approx(1.0)
    assert M.range_f1(y, s) == pytest.approx(1.0)


def test_inverted_scores_give_zero_auc_roc():
    y = _labels_from_ranges(100, [(10, 30)])
    assert M.auc_roc(y, -y.astype(float)) == 0.0


def test_random_scores_auc_roc_near_half_on_large_n():
    rng = np.random.default_rng(0)
    n = 100_000
    y = np.zeros(n, dtype=int)
    for start in rng.choice(n - 200, 50, replace=False):
        y[start : start + 200] = 1
    s = rng.random(n)
    assert abs(M.auc_roc(y, s) - 0.5) < 0.02
    assert abs(M.auc_pr(y, s) - y.mean()) < 0.02


def test_point_adjusted_f1_is_optimistic_for_random_scores():
    rng = np.random.default_rng(1)
    y = _labels_from_ranges(5000, [(500, 899), (2000, 2399), (4000, 4399)])
    s = rng.random(5000)
    assert M.point_adjusted_f1(y, s) > 0.7
    assert M.best_f1(y, s)["f1"] < 0.5


def test_all_ties_auc_roc_is_half():
    assert M.auc_roc([0, 1, 0, 1, 0], [3.0] * 5) == pytest.approx(0.5)


@st.composite
def _labels_and_scores(draw, max_n=80):
    n = draw(st.integers(2, max_n))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    if y.all() or not y.any():
        y[draw(st.integers(0, n - 1))] ^= 1
        if not y.any():
            y[0] = 1
    # few distinct values so ties are frequent
    s = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=float) / 3
    return y, s


@settings(max_examples=60, deadline=None)
@given(_labels_and_scores())
def test_auc_roc_and_auc_pr_match_sklearn(data):
    y, s = data
    assert M.auc_roc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert M.auc_pr(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(_labels_and_scores())
def test_best_f1_exact_is_max_over_all_thresholds(data):
    y, s = data
    best = max(M.point_f1(y, s >= t)["f1"] for t in np.unique(s))
    assert M.best_f1(y, s, eps=0)["f1"] == pytest.approx(best, abs=1e-12)


def _naive_vus(y, s, window, n_thresholds=250):
    """VUS straight from its definition, point by point (slow; small inputs only)."""
    n = len(y)
    segs = []
    for i in range(n):
        if y[i] and (i == 0 or not y[i - 1]):
            segs.append([i, i])
        elif y[i]:
            segs[-1][1] = i
    n_pos = float(np.sum(y))
    desc = np.sort(s)[::-1]
    rocs, prs = [], []
    for w in range(window + 1):
        h = w // 2
        soft = np.asarray(y, dtype=float).copy()
        ranges = []
        for a, b in segs:
            for d in range(1, h + 1):
                if b + d < n:
                    soft[b + d] += math.sqrt(1 - d / w)
                if a - d >= 0:
                    soft[a - d] += math.sqrt(1 - d / w)
            lo, hi = max(a - h, 0), min(b + h, n - 1)
            if ranges and lo <= ranges[-1][1]:
                ranges[-1][1] = hi
            else:
                ranges.append([lo, hi])
        soft = np.minimum(soft, 1.0)
        tprs, fprs, precs = [0.0], [0.0], []
        for k in np.linspace(0, n - 1, n_thresholds).astype(int):
            flags = s >= desc[k]
            tp = float(np.sum(soft * flags))
            buffered_positives = n_pos + float(np.sum(soft * flags * (1 - np.asarray(y))))
            p_new = (n_pos + buffered_positives) / 2
            hit = sum(bool(flags[lo : hi + 1].any()) for lo, hi in ranges)
            tprs.append(min(tp / p_new, 1.0) * hit / len(ranges))
            fprs.append((flags.sum() - tp) / (n - p_new))
            precs.append(tp / flags.sum())
        tprs.append(1.0)
        fprs.append(1.0)
        rocs.append(sum((fprs[i + 1] - fprs[i]) * (tprs[i + 1] + tprs[i]) / 2 for i in range(len(fprs) - 1)))
        prs.append(sum((tprs[i + 1] - tprs[i]) * precs[i] for i in range(len(precs))))
    return float(np.mean(rocs)), float(np.mean(prs))


@settings(max_examples=25, deadline=None)
@given(_labels_and_scores(max_n=40), st.integers(0, 12), st.sampled_from([250, 7]))
def test_vus_matches_naive_definition(data, window, n_thresholds):
    y, s = data
    roc, pr = _naive_vus(y, s, window, n_thresholds)
    assert M.vus_roc(y, s, window, n_thresholds=n_thresholds) == pytest.approx(roc, abs=1e-9)
    assert M.vus_pr(y, s, window, n_thresholds=n_thresholds) == pytest.approx(pr, abs=1e-9)


def test_evaluate_agrees_with_individual_functions():
    got = M.evaluate(SMALL_LABELS, SMALL_SCORES, sliding_window=5)
    assert got == {
        "auc_pr": M.auc_pr(SMALL_LABELS, SMALL_SCORES),
        "auc_roc": M.auc_roc(SMALL_LABELS, SMALL_SCORES),
        "vus_pr": M.vus_pr(SMALL_LABELS, SMALL_SCORES, 5),
        "vus_roc": M.vus_roc(SMALL_LABELS, SMALL_SCORES, 5),
        "standard_f1": M.best_f1(SMALL_LABELS, SMALL_SCORES)["f1"],
        "pa_f1": M.point_adjusted_f1(SMALL_LABELS, SMALL_SCORES),
        "event_f1": M.event_f1(SMALL_LABELS, SMALL_SCORES),
        "range_f1": M.range_f1(SMALL_LABELS, SMALL_SCORES),
    }


def test_labels_accept_bool_and_float():
    y = np.asarray(SMALL_LABELS)
    expected = M.auc_pr(y, SMALL_SCORES)
    assert M.auc_pr(y.astype(bool), SMALL_SCORES) == expected
    assert M.auc_pr(y.astype(float), SMALL_SCORES) == expected


# -------------------------------------------------------------------------- ucr_top1


def _peak_at(n, row):
    s = np.zeros(n)
    s[row] = 1.0
    return s


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        (550, True),  # inside the anomaly
        (400, True),  # exactly start - tolerance
        (399, False),  # one row before the tolerance window
        (700, True),  # exactly end + tolerance
        (701, False),  # one row after
        (900, False),  # far away
    ],
)
def test_ucr_top1_tolerance_edges(peak, expected):
    s = _peak_at(1000, peak)
    assert M.ucr_top1(s, anomaly_start=500, anomaly_end=600, train_end=200, tolerance=100) is expected


def test_ucr_top1_ignores_training_rows():
    s = _peak_at(1000, 550) * 0.5
    s[50] = 10.0  # larger, but in the training part
    s[:10] = np.nan  # training rows may be anything
    assert M.ucr_top1(s, 500, 600, train_end=200) is True
    s[:10] = 0.0
    assert M.ucr_top1(s, 500, 600, train_end=0) is False  # row 50 now counts


def test_ucr_top1_zero_tolerance():
    s = _peak_at(100, 50)
    assert M.ucr_top1(s, 50, 50, train_end=10, tolerance=0) is True
    assert M.ucr_top1(s, 51, 60, train_end=10, tolerance=0) is False


# ---------------------------------------------------------------------------- errors

_NEEDS_POSITIVE = [
    M.auc_pr,
    M.auc_roc,
    M.vus_pr,
    M.vus_roc,
    M.best_f1,
    M.point_adjusted_f1,
    M.event_f1,
    M.range_f1,
    M.evaluate,
]


@pytest.mark.parametrize("fn", _NEEDS_POSITIVE, ids=lambda f: f.__name__)
def test_length_mismatch_raises(fn):
    with pytest.raises(DataError, match="same length"):
        fn([0, 1, 0, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("fn", _NEEDS_POSITIVE, ids=lambda f: f.__name__)
def test_nan_scores_raise(fn):
    with pytest.raises(DataError, match="finite; row 2"):
        fn([0, 1, 0, 1], [0.1, 0.2, np.nan, 0.4])


@pytest.mark.parametrize("fn", _NEEDS_POSITIVE, ids=lambda f: f.__name__)
def test_all_zero_labels_raise(fn):
    with pytest.raises(DataError, match="no anomaly"):
        fn([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("fn", _NEEDS_POSITIVE, ids=lambda f: f.__name__)
def test_labels_not_binary_raise(fn):
    with pytest.raises(DataError, match="only 0 and 1; row 1"):
        fn([0, 2, 0, 1], [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("fn", [M.auc_roc, M.vus_pr, M.vus_roc, M.evaluate], ids=lambda f: f.__name__)
def test_all_one_labels_raise_where_negatives_are_needed(fn):
    with pytest.raises(DataError, match="no normal point"):
        fn([1, 1, 1], [0.1, 0.2, 0.3])


def test_point_f1_errors():
    with pytest.raises(DataError, match="same length"):
        M.point_f1([0, 1], [1])
    with pytest.raises(DataError, match="no anomaly"):
        M.point_f1([0, 0], [1, 0])
    with pytest.raises(DataError, match="flags must contain only 0 and 1"):
        M.point_f1([0, 1], [0.5, 1])


@pytest.mark.parametrize("window", [-1, 2.5, True])
def test_bad_sliding_window_raises(window):
    with pytest.raises(DataError, match="sliding_window"):
        M.vus_pr(SMALL_LABELS, SMALL_SCORES, sliding_window=window)


def test_ucr_top1_errors():
    s = _peak_at(100, 50)
    with pytest.raises(DataError, match="train_end"):
        M.ucr_top1(s, 40, 60, train_end=100)
    with pytest.raises(DataError, match="anomaly_start <= anomaly_end"):
        M.ucr_top1(s, 60, 40, train_end=10)
    with pytest.raises(DataError, match="anomaly_start <= anomaly_end"):
        M.ucr_top1(s, 60, 100, train_end=10)
    with pytest.raises(DataError, match="tolerance"):
        M.ucr_top1(s, 40, 60, train_end=10, tolerance=-1)
    s[70] = np.nan
    with pytest.raises(DataError, match="finite"):
        M.ucr_top1(s, 40, 60, train_end=10)
