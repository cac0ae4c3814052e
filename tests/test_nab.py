"""Tests for tsae.nab: NAB's reference values, hand-worked cases, an independent
row-by-row scorer, the optimiser against brute force, errors.

Tolerances. The fixture's numbers are float64 results of NAB's own scorer run on the
anomaly scores exactly as stored in the fixture (6 decimals), i.e. on the same inputs
as here, so nothing but float rounding separates them from ours. Raw scores, window
and row values are held to RAW_TOL = 1e-12 (they agree bit for bit on this machine,
because the scorer sums in NAB's order; the margin allows a last-bit difference of
``exp`` between libm and numpy on other platforms). Counts and thresholds are exact.
The published 58-file final scores were produced by NAB's runs (pandas sums over its
unrounded results files) and differ from the normalisation of the fixture's raw totals
by up to 1.6e-11, hence PUBLISHED_TOL = 1e-9 (the fixture itself promises 1e-6).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsae import nab
from tsae.errors import ConfigError, DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "fixtures" / "nab_reference.json"
DATASETS = SHARED / "datasets" / "nab"
REF = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else None
needs_fixture = pytest.mark.skipif(REF is None, reason=f"NAB reference fixture not found at {REFERENCE}")

RAW_TOL = 1e-12
PUBLISHED_TOL = 1e-9
PROFILE_NAMES = list(nab.PROFILES)
COUNTS = ("tp", "fp", "fn", "tn")


def _cases(make, arity):
    """Parameters built from the fixture, or one skipped case when it is absent."""
    return make(REF) if REF is not None else [pytest.param(*[None] * arity, marks=needs_fixture)]


FILE_CASES = _cases(
    lambda ref: [
        pytest.param(f, det, prof, id=f"{f['id']}-{det}-{prof}")
        for f in ref["files"]
        for det in f["detectors"]
        for prof in PROFILE_NAMES
    ],
    3,
)
SYNTHETIC_CASES = _cases(
    lambda ref: [
        pytest.param(case, prof, id=f"{i}-{case['file_id']}-{prof}")
        for i, case in enumerate(ref["synthetic_cases"])
        for prof in PROFILE_NAMES
    ],
    2,
)


def _fixture_file(file_id):
    return next(f for f in REF["files"] if f["id"] == file_id)


def _shared_csv(file_id):
    path = DATASETS / f"{file_id}.csv"
    if not DATASETS.is_dir():  # no shared data beside the repository; with it, a missing file fails
        pytest.skip(f"shared NAB data {DATASETS} not found")
    return pd.read_csv(path)


# ------------------------------------------------------- an independent reference scorer


def _reference(scores, windows, threshold, cost, pp=0.15):
    """NAB's rules applied row by row in plain Python (no numpy, no code shared with tsae.nab).

    Returns (raw score, (tp, fp, fn, tn), {row: value of a detection there}).
    """
    n = len(scores)
    p = min(math.floor(pp * n), pp * 5000)

    def sigma(x):
        return -1.0 if x > 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0

    window_of = {i: k for k, (s, e) in enumerate(windows) for i in range(s, e + 1)}
    best = {k: -cost["fnWeight"] for k, (s, e) in enumerate(windows) if e >= p}
    fp_total, tp, fp, fn, tn, prev, values = 0.0, 0, 0, 0, 0, None, {}
    for i in range(n):
        k = window_of.get(i)
        if k is not None:
            s, e = windows[k]
            value = sigma(-(e - i + 1) / (e - s + 1)) * cost["tpWeight"] / sigma(-1.0)
        elif prev is None:
            value = -cost["fpWeight"]
        else:
            end, width = prev
            value = cost["fpWeight"] * (-1.0 if width == 1 else sigma(abs(i - end) / (width - 1)))
        detected = scores[i] >= threshold
        if i >= p:
            values[i] = value
            if k is not None and detected:
                tp += 1
                best[k] = max(best[k], value)
            elif k is not None:
                fn += 1
            elif detected:
                fp += 1
                fp_total += value
            else:
                tn += 1
        if k is not None and i == windows[k][1]:
            prev = (windows[k][1], windows[k][1] - windows[k][0] + 1)
    return fp_total + sum(best.values()), (tp, fp, fn, tn), values


# -------------------------------------------------------------- NAB's reference values


@needs_fixture
def test_fixture_profiles_and_probation_rule():
    for name, matrix in REF["profiles"].items():
        assert nab.PROFILES[name] == matrix
    assert nab.PROBATIONARY_PERCENT == REF["probationary_percent"]
    for f in REF["files"]:
        assert nab.probationary_length(f["n_rows"]) == f["probationary_rows"]
        for det, d in f["detectors"].items():
            assert len(d["anomaly_score"]) == f["n_rows"]
            for prof, expected in d["profiles"].items():
                assert expected["threshold"] == REF["published_thresholds_58_files"][det][prof]
                assert expected["cost_matrix"] == nab.PROFILES[prof]


@needs_fixture
@pytest.mark.parametrize("file_id", [f["id"] for f in (REF or {"files": []})["files"]])
def test_windows_of_shared_series_match_nab_labels(file_id):
    """Our CSV's label runs and NAB's timestamp windows give the fixture's row ranges."""
    f = _fixture_file(file_id)
    df = _shared_csv(file_id)
    expected = [tuple(w) for w in f["windows_rows"]]
    assert len(df) == f["n_rows"]
    assert nab.windows_from_labels(df["label"].to_numpy()) == expected
    assert nab.windows_from_timestamps(df["timestamp"], f["windows_timestamps"]) == expected


@pytest.mark.parametrize("f, det, prof", FILE_CASES)
def test_file_raw_score_at_published_threshold(f, det, prof):
    d = f["detectors"][det]
    expected = d["profiles"][prof]
    r = nab.score_file(d["anomaly_score"], f["windows_rows"], expected["threshold"], prof)
    assert r.raw_score == pytest.approx(expected["raw_score"], abs=RAW_TOL)
    assert r.raw_score == pytest.approx(expected["raw_score_unrounded_scores"], abs=RAW_TOL)
    assert (r.tp, r.fp, r.fn, r.tn, r.total) == tuple(expected[k] for k in (*COUNTS, "total"))
    windows = expected["window_contributions"]
    assert list(r.first_detections) == [w["first_detection_row"] for w in windows]
    np.testing.assert_allclose(r.window_values, [w["value"] for w in windows], rtol=0, atol=RAW_TOL)
    assert r.fp_rows.tolist() == [c["row"] for c in expected["fp_contributions"]]
    assert len(r.fp_rows) == expected["fp_rows"]
    np.testing.assert_allclose(r.fp_values, [c["value"] for c in expected["fp_contributions"]], rtol=0, atol=RAW_TOL)
    assert r.fp_sum == pytest.approx(expected["fp_sum"], abs=RAW_TOL)
    # the independent row-by-row scorer agrees too
    threshold, cost = expected["threshold"], nab.PROFILES[prof]
    ref_raw, ref_counts, _ = _reference(d["anomaly_score"], f["windows_rows"], threshold, cost)
    assert ref_raw == pytest.approx(expected["raw_score"], abs=RAW_TOL)
    assert ref_counts == tuple(expected[k] for k in COUNTS)


@pytest.mark.parametrize("f, det, prof", FILE_CASES)
def test_file_optimum(f, det, prof):
    """NAB's optimiser on the file alone: same threshold, score and counts."""
    d = f["detectors"][det]
    expected = d["profiles"][prof]["file_optimum"]
    best = nab.optimize_threshold({f["id"]: (d["anomaly_score"], f["windows_rows"])}, prof)
    assert best.threshold == expected["threshold"]
    assert best.raw_score == pytest.approx(expected["raw_score"], abs=RAW_TOL)
    assert tuple(getattr(best, k) for k in COUNTS) == tuple(expected[k] for k in COUNTS)
    again = nab.score_file(d["anomaly_score"], f["windows_rows"], best.threshold, prof)
    assert again.raw_score == pytest.approx(expected["raw_score"], abs=RAW_TOL)


@needs_fixture
@pytest.mark.parametrize("det", ["numenta", "randomCutForest"])
@pytest.mark.parametrize("prof", PROFILE_NAMES)
def test_shared_series_scored_through_nab_score(det, prof):
    """The benchmark's path: our CSVs' label columns, nab_score at the published threshold,
    gives NAB's per-file raw scores; the 4-file corpus is their sum, normalised."""
    files, expected = {}, {}
    for f in REF["files"]:
        labels = _shared_csv(f["id"])["label"].to_numpy()
        files[f["id"]] = (f["detectors"][det]["anomaly_score"], labels)
        expected[f["id"]] = f["detectors"][det]["profiles"][prof]["raw_score"]
    threshold = REF["published_thresholds_58_files"][det][prof]
    r = nab.nab_score(files, prof, threshold=threshold)
    assert r["threshold"] == threshold and r["threshold_optimised"] is False
    for file_id, raw in expected.items():
        assert r["raw_scores"][file_id] == pytest.approx(raw, abs=RAW_TOL)
    n_windows = sum(len(f["windows_rows"]) for f in REF["files"])
    cost = REF["profiles"][prof]
    assert r["windows"] == {
        "total": n_windows,
        "scored": n_windows,
        "detected": r["windows"]["detected"],
        "missed": n_windows - r["windows"]["detected"],
    }
    assert r["raw_score"] == pytest.approx(sum(expected.values()), abs=RAW_TOL)
    assert r["raw_null"] == -cost["fnWeight"] * n_windows
    assert r["raw_perfect"] == cost["tpWeight"] * n_windows
    raw_null, raw_perfect = -cost["fnWeight"] * n_windows, cost["tpWeight"] * n_windows
    want = 100 * (sum(expected.values()) - raw_null) / (raw_perfect - raw_null)
    assert r["score"] == pytest.approx(want, abs=1e-10)
    for k in COUNTS:
        assert r["counts"][k] == sum(f["detectors"][det]["profiles"][prof][k] for f in REF["files"])
    json.dumps(r)  # plain numbers only


@needs_fixture
@pytest.mark.parametrize("det", ["numenta", "randomCutForest"])
@pytest.mark.parametrize("prof", PROFILE_NAMES)
def test_corpus_58_normalisation(det, prof):
    """NAB's 58-file raw totals normalise to NAB's published final scores."""
    corpus = REF["corpus_58_files_published_thresholds"]
    cost = REF["profiles"][prof]
    null, perfect = corpus["raw_totals"]["null"][prof], corpus["raw_perfect"][prof]
    # our null / perfect conventions reproduce NAB's totals for its 116 windows
    assert null == -cost["fnWeight"] * corpus["n_windows"]
    assert perfect == cost["tpWeight"] * corpus["n_windows"]
    score = nab.normalize_score(corpus["raw_totals"][det][prof], null, perfect)
    assert score == pytest.approx(corpus["normalised_check"][det][prof], abs=RAW_TOL)
    assert score == pytest.approx(REF["published_final_scores_58_files"][det][prof], abs=PUBLISHED_TOL)


@pytest.mark.parametrize("case, prof", SYNTHETIC_CASES)
def test_synthetic_cases(case, prof):
    f = _fixture_file(case["file_id"])
    scores = np.zeros(f["n_rows"])
    scores[case["detection_rows"]] = 1.0
    expected = case["profiles"][prof]
    r = nab.score_file(scores, f["windows_rows"], case["threshold"], prof)
    assert r.raw_score == pytest.approx(expected["raw_score"], abs=RAW_TOL)
    assert tuple(getattr(r, k) for k in COUNTS) == tuple(expected[k] for k in COUNTS)
    values = nab.row_values(f["n_rows"], f["windows_rows"], prof)
    for row, value in expected["row_values"].items():
        if value is None:
            assert np.isnan(values[int(row)]), f"row {row} is probationary"
        else:
            assert values[int(row)] == pytest.approx(value, abs=RAW_TOL)


# ------------------------------------------------------------------ hand-worked cases

STD = nab.PROFILES["standard"]
MAX_TP = 2 / (1 + math.exp(-5)) - 1  # sigma(-1) = 0.986614...


def _one_window(n=100, window=(40, 49), rows=(), profile="standard"):
    scores = np.zeros(n)
    scores[list(rows)] = 1.0
    return nab.score_file(scores, [window], 0.5, profile)


@pytest.mark.parametrize("prof", PROFILE_NAMES)
def test_detection_at_window_start_earns_tp_weight(prof):
    r = _one_window(rows=[40], profile=prof)  # n=100: rows 0..14 probationary
    assert r.raw_score == pytest.approx(nab.PROFILES[prof]["tpWeight"], abs=1e-15)
    assert (r.tp, r.fp, r.fn, r.tn, r.first_detections) == (1, 0, 9, 75, (40,))


def test_reward_decreases_through_the_window():
    # width 10: row 41 is at y = -0.9, the last row (49) at y = -0.1
    second = _one_window(rows=[41]).raw_score
    last = _one_window(rows=[49]).raw_score
    assert second == pytest.approx((2 / (1 + math.exp(-4.5)) - 1) / MAX_TP, abs=1e-15)
    assert second == pytest.approx(0.99130, abs=1e-5)  # 0.97803 / 0.98661
    assert last == pytest.approx((2 / (1 + math.exp(-0.5)) - 1) / MAX_TP, abs=1e-15)
    assert last == pytest.approx(0.24824, abs=1e-5)  # 0.24492 / 0.98661
    values = nab.row_values(100, [(40, 49)])[40:50]
    assert np.all(np.diff(values) < 0) and values[0] == 1.0


def test_only_the_earliest_detection_in_a_window_counts():
    both = _one_window(rows=[43, 41, 47])
    assert both.raw_score == _one_window(rows=[41]).raw_score
    assert (both.tp, both.first_detections, both.window_values) == (3, (41,), (_one_window(rows=[41]).raw_score,))


@pytest.mark.parametrize("prof", PROFILE_NAMES)
def test_missed_window_costs_fn_weight(prof):
    r = _one_window(rows=[], profile=prof)
    assert r.raw_score == -nab.PROFILES[prof]["fnWeight"]
    assert (r.tp, r.fn, r.first_detections, r.windows_detected) == (0, 10, (None,), 0)


@pytest.mark.parametrize("prof", PROFILE_NAMES)
def test_false_positives(prof):
    fp_weight, fn_weight = nab.PROFILES[prof]["fpWeight"], nab.PROFILES[prof]["fnWeight"]
    # before any window: the full fpWeight
    assert _one_window(rows=[20], profile=prof).raw_score == pytest.approx(-fn_weight - fp_weight, abs=1e-15)
    # just after the window (width 10): x = 1/9, sigma = 2/(1+e^(5/9)) - 1 = -0.27085
    just_after = _one_window(rows=[50], profile=prof).fp_values[0]
    assert just_after == pytest.approx(fp_weight * (2 / (1 + math.exp(5 / 9)) - 1), abs=1e-15)
    assert just_after == pytest.approx(-0.27085 * fp_weight, abs=1e-5)
    # far after: x = 28/9 > 3 costs exactly fpWeight; x = 27/9 = 3 costs 0.9999994 fpWeight
    assert _one_window(rows=[77], profile=prof).fp_values[0] == -fp_weight
    at_three = _one_window(rows=[76], profile=prof).fp_values[0]
    assert at_three == pytest.approx(fp_weight * (2 / (1 + math.exp(15)) - 1), abs=1e-15)
    assert -fp_weight < at_three < -0.999999 * fp_weight
    # every false-positive row counts
    many = _one_window(rows=range(80, 90), profile=prof)
    assert (many.fp, many.fp_sum) == (10, pytest.approx(-10 * fp_weight, abs=1e-14))


def test_false_positive_between_windows_refers_to_the_previous_window():
    scores = np.zeros(200)
    scores[[105, 150]] = 1.0
    r = nab.score_file(scores, [(90, 99), (155, 159)], 0.5)  # widths 10 and 5
    # row 105: 6 rows after the first window (x = 6/9); row 150 is still referred to it (x = 51/9 > 3)
    assert r.fp_values.tolist() == [pytest.approx(0.11 * (2 / (1 + math.exp(30 / 9)) - 1), abs=1e-15), -0.11]
    assert r.raw_score == pytest.approx(-2 + float(r.fp_values.sum()), abs=1e-15)


def test_probationary_rows_never_count():
    n = 100  # 15 probationary rows
    scores = np.zeros(n)
    scores[:15] = 1.0  # detections in the probationary period only
    r = nab.score_file(scores, [(5, 9), (12, 24)], 0.5)
    # window 1 lies wholly inside the probation: not scored; window 2 only from row 15
    assert r.windows == ((12, 24),)
    assert (r.tp, r.fp, r.fn, r.tn, r.total) == (0, 0, 10, 75, 85)
    assert r.raw_score == -1.0
    # a detection after the probation inside window 2 keeps its position in the whole window
    scores[15] = 1.0
    r = nab.score_file(scores, [(5, 9), (12, 24)], 0.5)
    assert r.raw_score == pytest.approx((2 / (1 + math.exp(-5 * 10 / 13)) - 1) / MAX_TP, abs=1e-15)
    # probationary rows are NaN in row_values and are never threshold candidates
    assert np.isnan(nab.row_values(n, [(12, 24)])[:15]).all()
    sweep = nab.threshold_sweep({"a": (np.r_[np.full(15, 7.0), np.zeros(85)], [(12, 24)])})
    assert sweep.thresholds.tolist() == [1.1, 0.0]
    # a window wholly in the probation is not scored (null = 0) but counts toward the perfect score
    s = np.zeros(n)
    s[50] = 1.0
    res = nab.nab_score({"a": (s, [(5, 9), (50, 59)])})
    assert (res["raw_null"], res["raw_perfect"], res["windows"]["scored"], res["windows"]["total"]) == (-1.0, 2.0, 1, 2)


def test_probationary_length():
    assert nab.probationary_length(5000) == 750 and nab.probationary_length(4999) == 749
    assert nab.probationary_length(10**6) == 750
    assert nab.probationary_length(6) == 0 and nab.probationary_length(7) == 1
    assert nab.probationary_length(1000, probationary_percent=0.1) == 100
    # floor(0.15 n) in float64 (as NAB computes it) equals the exact integer for NAB-size series
    n = np.arange(1, 50_001)
    assert all(math.floor(0.15 * int(k)) == (15 * int(k)) // 100 for k in n)


def test_width_one_window_and_adjacent_windows():
    scores = np.zeros(40)
    scores[[20, 21, 30]] = 1.0
    r = nab.score_file(scores, [(20, 20), (21, 22)], 0.5)
    assert r.first_detections == (20, 21) and r.window_values[0] == 1.0
    assert r.window_values[1] == pytest.approx((2 / (1 + math.exp(-5)) - 1) / MAX_TP)
    # a false positive after a width-1 window (NAB would divide by zero) costs the full fpWeight
    r = nab.score_file(scores, [(20, 20)], 0.5)
    assert r.fp_values.tolist() == [-0.11, -0.11]


# ----------------------------------------------------- independent scorer, properties


@st.composite
def _series(draw):
    n = draw(st.integers(1, 120))
    cuts = sorted(draw(st.sets(st.integers(0, n - 1), max_size=8)))
    windows = []
    for a, b in zip(cuts[0::2], cuts[1::2]):
        windows.append((a, b) if draw(st.booleans()) else (a, a))  # some width-1 windows
    scores = draw(st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), min_size=n, max_size=n))
    return scores, windows


@settings(max_examples=200, deadline=None)
@given(_series(), st.sampled_from([0.0, 0.2, 0.5, 0.6, 1.0, 1.1]), st.sampled_from(PROFILE_NAMES))
def test_score_file_equals_row_by_row_reference(series, threshold, prof):
    scores, windows = series
    r = nab.score_file(scores, windows, threshold, prof)
    raw, counts, values = _reference(scores, windows, threshold, nab.PROFILES[prof])
    assert r.raw_score == pytest.approx(raw, abs=1e-12)
    assert (r.tp, r.fp, r.fn, r.tn) == counts
    ours = nab.row_values(len(scores), windows, prof)
    assert np.isnan(ours[: len(scores) - len(values)]).all()
    p = len(scores) - len(values)
    np.testing.assert_allclose(ours[p:], [values[i] for i in sorted(values)], rtol=0, atol=1e-15)


# ---------------------------------------------------------------------- optimiser


def _random_corpus(seed, n_files=3):
    rng = np.random.default_rng(seed)
    files = {}
    for k in range(n_files):
        n = int(rng.integers(20, 200))
        cuts = np.sort(rng.choice(n, size=2 * int(rng.integers(0, 4)), replace=False)).reshape(-1, 2)
        scores = np.round(rng.random(n) ** 3, 2)  # skewed, with many ties
        files[f"f{k}"] = (scores, [(int(a), int(b)) for a, b in cuts])
    return files


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("prof", ["standard", "reward_low_FN_rate"])
def test_optimiser_equals_brute_force(seed, prof):
    files = _random_corpus(seed)
    cost = nab.PROFILES[prof]
    candidates = sorted(
        {float(s) for scores, _ in files.values() for s in scores[nab.probationary_length(len(scores)) :]}, reverse=True
    )
    candidates = [1.1, *candidates]
    curve = []
    for t in candidates:
        per = [_reference(list(s), w, t, cost) for s, w in files.values()]
        curve.append((sum(raw for raw, _, _ in per), tuple(map(sum, zip(*(c for _, c, _ in per))))))
    best_k = 0
    for k, (raw, _) in enumerate(curve):  # descending thresholds: strict > keeps the highest on ties
        if raw > curve[best_k][0]:
            best_k = k
    sweep = nab.threshold_sweep(files, prof)
    assert sweep.thresholds.tolist() == candidates
    np.testing.assert_allclose(sweep.raw_scores, [raw for raw, _ in curve], rtol=0, atol=1e-12)
    assert [tuple(int(getattr(sweep, k)[i]) for k in COUNTS) for i in range(len(candidates))] == [c for _, c in curve]
    best = nab.optimize_threshold(files, prof)
    assert best.threshold == candidates[best_k]
    assert best.raw_score == pytest.approx(curve[best_k][0], abs=1e-12)
    assert best.n_candidates == len(candidates)
    if any(w for _, w in files.values()):  # nab_score needs a window to normalise
        assert nab.nab_score(files, prof)["threshold"] == candidates[best_k]


def test_ties_go_to_the_highest_threshold():
    scores = np.zeros(100)
    scores[[40, 45]] = [0.9, 0.6]  # both in the window; 0.6 adds a later detection only
    best = nab.optimize_threshold({"a": (scores, [(40, 49)])})
    sweep = nab.threshold_sweep({"a": (scores, [(40, 49)])})
    assert sweep.raw_scores[1] == sweep.raw_scores[2] == 1.0  # thresholds 0.9 and 0.6
    assert best.threshold == 0.9
    # nothing to gain anywhere: "no detection" (1.1) wins every tie
    free_fp = {"tpWeight": 1, "fpWeight": 0, "fnWeight": 1}
    no_window = nab.optimize_threshold({"a": (np.linspace(0, 1, 50), [])}, free_fp)
    assert (no_window.threshold, no_window.raw_score, no_window.fp) == (1.1, 0.0, 0)


def test_null_and_perfect_detectors_score_0_and_100():
    perfect, null = {}, {}
    for k in range(4):
        windows = [(100 + 150 * j, 139 + 150 * j) for j in range(k % 3 + 1)]
        scores = np.zeros(500)
        scores[[s for s, _ in windows]] = 1.0  # a detection at the first row of every window
        perfect[f"f{k}"] = (scores, windows)
        null[f"f{k}"] = (np.zeros(500), windows)
    for prof in PROFILE_NAMES:
        r = nab.nab_score(perfect, prof)
        assert (r["threshold"], r["score"], r["counts"]["fp"], r["windows"]["missed"]) == (1.0, 100.0, 0, 0)
        r = nab.nab_score(null, prof)
        assert (r["threshold"], r["score"], r["raw_score"]) == (1.1, 0.0, r["raw_null"])


def test_scores_above_1_1_keep_a_no_detection_candidate():
    scores = np.linspace(0, 50, 200)  # e.g. unscaled reconstruction errors
    sweep = nab.threshold_sweep({"a": (scores, [(30, 39)])})
    assert sweep.thresholds[0] > scores.max() and sweep.tp[0] == sweep.fp[0] == 0
    r = nab.score_file(scores, [(30, 39)], sweep.thresholds[0])
    assert (r.tp, r.fp, r.raw_score) == (0, 0, -1.0)


def test_optimiser_is_fast_on_a_nab_sized_corpus():
    """58 files, ~365,000 rows, continuous scores (one candidate per row)."""
    rng = np.random.default_rng(0)
    files = {}
    for k in range(58):
        n = 6300
        files[f"f{k}"] = (rng.random(n), [(1000 + 2000 * j, 1629 + 2000 * j) for j in range(2)])
    start = time.perf_counter()
    best = nab.optimize_threshold(files)
    elapsed = time.perf_counter() - start
    assert best.n_candidates > 300_000
    assert elapsed < 5.0, f"optimiser took {elapsed:.2f} s"  # ~0.1 s on a laptop core


# ------------------------------------------------------------------ inputs and errors


def test_window_forms_agree():
    n = 300
    scores = np.zeros(n)
    scores[[100, 200]] = 1.0
    labels = np.zeros(n, dtype=int)
    labels[95:110] = 1
    ts = pd.date_range("2020-01-01", periods=n, freq="5min")
    stamps = [[str(ts[95]), str(ts[109])]]
    by_rows = nab.nab_score({"a": (scores, [(95, 109)])})
    by_labels = nab.nab_score({"a": (scores, labels)})
    by_time = nab.nab_score({"a": (scores, stamps, ts.astype(str).tolist())})
    assert by_rows == by_labels == by_time
    assert nab.windows_from_labels(labels) == [(95, 109)]


def test_windows_from_timestamps_uses_first_of_repeated_timestamps():
    ts = ["2020-01-01 00:00", "2020-01-01 00:05", "2020-01-01 00:05", "2020-01-01 00:10", "2020-01-01 00:15"]
    assert nab.windows_from_timestamps(ts, [("2020-01-01 00:05", "2020-01-01 00:10")]) == [(1, 3)]
    with pytest.raises(DataError, match="not one of the series' timestamps"):
        nab.windows_from_timestamps(ts, [("2020-01-01 00:06", "2020-01-01 00:10")])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: nab.score_file([0.1] * 10, [(2, 5)], 0.5, "strict"), ConfigError, "profile must be one of"),
        (lambda: nab.score_file([0.1] * 10, [(2, 5)], 0.5, {"tpWeight": 1}), ConfigError, "lacks"),
        (lambda: nab.score_file([0.1] * 10, [(2, 5)], 0.5, {**STD, "fpWeight": -1}), ConfigError, ">= 0"),
        (lambda: nab.score_file([0.1] * 10, [(2, 5)], float("nan")), ConfigError, "threshold"),
        (lambda: nab.score_file([0.1] * 10, [(2, 5)], 0.5, probationary_percent=1.0), ConfigError, "probationary"),
        (lambda: nab.score_file([0.1, float("nan")] * 5, [(2, 5)], 0.5), DataError, "1 probationary rows; row 1 "),
        (lambda: nab.score_file([0.1] * 10, [(2, 5), (5, 7)], 0.5), DataError, "must not overlap"),
        (lambda: nab.score_file([0.1] * 10, [(6, 7), (2, 3)], 0.5), DataError, "must be sorted"),
        (lambda: nab.score_file([0.1] * 10, [(2, 10)], 0.5), DataError, "end < 10"),
        (lambda: nab.score_file([0.1] * 10, [0, 1, 1], 0.5), DataError, "needs 10 rows"),
        (lambda: nab.score_file([0.1] * 10, [0, 1, 2, 0, 0, 0, 0, 0, 0, 0], 0.5), DataError, "only 0 and 1"),
        (lambda: nab.score_file([0.1] * 10, [("2020", "2021")], 0.5), DataError, "need the series' timestamps"),
        (lambda: nab.score_file([0.1] * 10, [(2.5, 4)], 0.5), DataError, "whole numbers"),
        (lambda: nab.nab_score({}), DataError, "non-empty dict"),
        (lambda: nab.nab_score({"a": [0.1] * 10}), DataError, r"files\['a'\] must be"),
        (lambda: nab.nab_score({"a": ([0.1] * 10, [])}), DataError, "no anomaly window"),
        (lambda: nab.probationary_length(-1), DataError, "n_rows"),
    ],
)
def test_bad_inputs_raise_named_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_probationary_rows_may_hold_nan():
    scores = np.r_[np.full(15, np.nan), np.zeros(85)]  # n=100: 15 probationary rows
    scores[40] = 1.0
    assert nab.score_file(scores, [(40, 49)], 0.5).raw_score == 1.0
    assert nab.nab_score({"a": (scores, [(40, 49)])})["score"] == 100.0
    scores[15] = np.inf
    with pytest.raises(DataError, match="row 15 is inf"):
        nab.score_file(scores, [(40, 49)], 0.5)


def test_inputs_are_not_modified():
    scores = np.array([0.1, 0.9] * 50)
    labels = np.zeros(100, dtype=int)
    labels[40:50] = 1
    before = (scores.copy(), labels.copy())
    nab.nab_score({"a": (scores, labels)})
    assert np.array_equal(scores, before[0]) and np.array_equal(labels, before[1])


def test_module_does_not_import_torch():
    code = "import sys, tsae.nab; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
