"""Thresholds: statistical contracts of each method, errors, and the model-file round trip."""

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import precision_recall_curve

import tsae
from tsae.errors import ConfigError, DataError, NotFittedError
from tsae.metrics import point_f1
from tsae.thresholds import (
    Contamination,
    PeaksOverThreshold,
    Percentile,
    PrecisionRecall,
    parse_threshold,
    threshold_from_dict,
)

# ----------------------------------------------------------------- percentile
DISTRIBUTIONS = ["normal", "lognormal", "exponential", "student_t"]


def draw(kind, rng, a, b, n):
    """``n`` points from distribution ``kind`` with shape/scale parameters a, b in [0, 1]."""
    if kind == "normal":
        return rng.normal(10 * (a - 0.5), 0.1 + 5 * b, n)
    if kind == "lognormal":
        return rng.lognormal(4 * (a - 0.5), 0.1 + 2 * b, n)
    if kind == "exponential":
        return rng.exponential(0.01 + 10 * a, n)
    return rng.standard_t(1 + 29 * a, n) * (0.1 + 5 * b)  # df 1 (Cauchy) .. 30


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(DISTRIBUTIONS),
    a=st.floats(0, 1),
    b=st.floats(0, 1),
    n_fit=st.integers(2_000, 20_000),
    n_new=st.integers(2_000, 20_000),
    q=st.floats(90, 99.9),
    seed=st.integers(0, 2**32 - 1),
)
def test_percentile_flags_the_expected_share_of_fresh_data(kind, a, b, n_fit, n_new, q, seed):
    """Fitted on one sample, the flagged share of a fresh sample is (100 - q) / 100.

    Two independent errors add up: the fitted cutoff's true exceedance probability
    varies like a binomial share over ``n_fit`` points, and the fresh share like one
    over ``n_new`` points, so the standard error is sqrt(p (1 - p) (1/n_fit + 1/n_new)).
    Tolerance: 5 standard errors plus 2/n_fit slack (percentile interpolation between
    neighbouring order statistics moves the cutoff by about one point).
    """
    rng = np.random.default_rng(seed)
    th = Percentile(q).fit(draw(kind, rng, a, b, n_fit))
    share = th(draw(kind, rng, a, b, n_new)).mean()
    p = (100 - q) / 100
    se = math.sqrt(p * (1 - p) * (1 / n_fit + 1 / n_new))
    assert abs(share - p) <= 5 * se + 2 / n_fit, (kind, q, share, p)


def test_percentile_cutoff_is_numpys_percentile_and_flags_strictly_above():
    scores = np.arange(1, 101, dtype=float)  # 1..100
    th = Percentile(90).fit(scores)
    assert th.cutoff_ == pytest.approx(np.percentile(scores, 90)) == pytest.approx(90.1)
    assert th(scores).sum() == 10 and not th(np.array([th.cutoff_]))[0]
    assert th(np.array([np.nan, np.inf])).tolist() == [False, True]  # NaN is never flagged


def test_fit_ignores_nan_scores_and_rejects_all_nan():
    scores = np.arange(100, dtype=float)
    with_nan = np.concatenate([[np.nan] * 50, scores])
    assert Percentile(99).fit(with_nan).cutoff_ == Percentile(99).fit(scores).cutoff_
    with pytest.raises(DataError, match="percentile threshold: no finite scores"):
        Percentile(99).fit(np.full(10, np.nan))


def test_unfitted_threshold_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        Percentile(99)(np.zeros(3))


# -------------------------------------------------------------- contamination
@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.05, 0.2, 0.45])
@pytest.mark.parametrize("n", [1_000, 12_345])
def test_contamination_flags_that_fraction_of_its_fitting_set(fraction, n):
    scores = np.random.default_rng(n).lognormal(0, 1, n)
    th = Contamination(fraction).fit(scores)
    assert abs(th(scores).sum() - fraction * n) <= 1
    assert th.to_dict() == {"method": "contamination", "fraction": fraction, "cutoff": th.cutoff_}


# ------------------------------------------------------------- precision-recall
def labelled(n, seed, share=0.05, shift=2.5):
    """Normal scores N(0, 1), anomalies N(shift, 1), ``share`` of them anomalous."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < share
    return rng.normal(0, 1, n) + shift * labels, labels.astype(int)


def fbeta(p, r, beta):
    return 0.0 if p + r == 0 else (1 + beta**2) * p * r / (beta**2 * p + r)


def at_every_cutoff(scores, labels):
    """Precision and recall of ``scores > c`` for c = every distinct score and below
    the lowest: arrays sorted by cutoff ascending."""
    order = np.argsort(scores)
    s, y = scores[order], labels[order].astype(bool)
    cuts = np.concatenate([[s[0] - 1], s])
    tp = np.concatenate([[y.sum()], y.sum() - np.cumsum(y)])  # flagged = strictly above cut
    flagged = len(s) - np.arange(len(s) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(flagged > 0, tp / np.maximum(flagged, 1), 0.0)
    return cuts, precision, tp / y.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pr_cutoff_is_near_the_best_f1_on_fresh_data(seed):
    fit_s, fit_y = labelled(20_000, seed)
    test_s, test_y = labelled(20_000, seed + 100)
    th = PrecisionRecall().fit(fit_s, fit_y)
    precision, recall, _ = precision_recall_curve(test_y, test_s)
    with np.errstate(invalid="ignore"):
        best = np.nanmax(2 * precision * recall / (precision + recall))
    got = point_f1(test_y, th(test_s))["f1"]
    assert best - 0.03 <= got <= best + 1e-12, (got, best)
    assert 0.4 < best < 0.8  # a real trade-off, not a trivially separable set


def test_pr_expected_matches_point_metrics_on_the_fitting_data():
    scores, labels = labelled(5_000, 3)
    for kwargs in ({}, {"beta": 2.0}, {"beta": 0.5}, {"target_precision": 0.7}, {"target_recall": 0.9}):
        th = PrecisionRecall(**kwargs).fit(scores, labels)
        got = point_f1(labels, scores > th.cutoff_)
        beta = kwargs.get("beta", 1.0)
        assert th.expected_ == pytest.approx(
            {
                "precision": got["precision"],
                "recall": got["recall"],
                "fbeta": fbeta(got["precision"], got["recall"], beta),
                "beta": beta,
            }
        )
        # the cutoff sits strictly between two fitted scores: no score equals it
        assert not np.any(scores == th.cutoff_)


def test_pr_default_maximises_f1_over_every_cutoff():
    scores, labels = labelled(3_000, 4)
    th = PrecisionRecall().fit(scores, labels)
    _, p, r = at_every_cutoff(scores, labels)
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * p * r / (p + r))
    assert th.expected_["fbeta"] == pytest.approx(f1.max())


def grid_index(cuts, scores, th):
    """Index of the grid cut that flags exactly what ``th`` flags."""
    i = int(np.searchsorted(cuts, th.cutoff_)) - 1
    np.testing.assert_array_equal(th(scores), scores > cuts[i])
    return i


@pytest.mark.parametrize("target", [0.5, 0.7, 0.9])
def test_pr_target_precision_takes_the_lowest_cutoff_that_reaches_it(target):
    scores, labels = labelled(3_000, 5)
    th = PrecisionRecall(target_precision=target).fit(scores, labels)
    cuts, p, r = at_every_cutoff(scores, labels)
    i = grid_index(cuts, scores, th)
    assert th.expected_["precision"] == pytest.approx(p[i]) and p[i] >= target
    assert not np.any(p[:i] >= target)  # no lower cutoff reaches the target...
    assert th.expected_["recall"] == pytest.approx(r[p >= target].max())  # ...so none has more recall


@pytest.mark.parametrize("target", [0.3, 0.6, 0.95])
def test_pr_target_recall_takes_the_highest_cutoff_that_reaches_it(target):
    scores, labels = labelled(3_000, 6)
    th = PrecisionRecall(target_recall=target).fit(scores, labels)
    cuts, p, r = at_every_cutoff(scores, labels)
    i = grid_index(cuts, scores, th)
    assert th.expected_["recall"] == pytest.approx(r[i]) and r[i] >= target
    assert not np.any(r[i + 1 :] >= target)  # no higher cutoff reaches the target
    assert th.expected_["precision"] == pytest.approx(p[i])


def test_pr_beta_trades_precision_for_recall():
    scores, labels = labelled(20_000, 7)
    by_beta = {beta: PrecisionRecall(beta=beta).fit(scores, labels) for beta in (0.5, 1.0, 2.0)}
    cutoff, recall, precision = (
        [by_beta[beta].cutoff_ for beta in (0.5, 1.0, 2.0)],
        [by_beta[beta].expected_["recall"] for beta in (0.5, 1.0, 2.0)],
        [by_beta[beta].expected_["precision"] for beta in (0.5, 1.0, 2.0)],
    )
    assert cutoff[0] > cutoff[1] > cutoff[2]
    assert recall[0] < recall[1] < recall[2] and precision[0] > precision[1] > precision[2]


@pytest.mark.parametrize("value", [0, 1])
def test_pr_needs_both_classes(value):
    scores = np.random.default_rng(0).normal(size=200)
    with pytest.raises(DataError, match="needs both normal and anomalous"):
        PrecisionRecall().fit(scores, np.full(200, value))


def test_pr_errors():
    scores, labels = labelled(2_000, 8, shift=0.5)  # heavily overlapping classes
    with pytest.raises(DataError, match=r"no cutoff reaches precision 0\.99 \(best is 0\.\d+\)"):
        PrecisionRecall(target_precision=0.99).fit(scores, labels)
    with pytest.raises(DataError, match="needs labels"):
        PrecisionRecall().fit(scores)
    with pytest.raises(ConfigError, match="target_precision or target_recall, not both"):
        PrecisionRecall(target_precision=0.9, target_recall=0.9)
    with pytest.raises(ConfigError, match="target_recall must be in"):
        PrecisionRecall(target_recall=1.5)
    with pytest.raises(ConfigError, match="beta must be > 0"):
        PrecisionRecall(beta=0)
    with pytest.raises(ConfigError, match="calibrate"):
        parse_threshold("pr")
    assert isinstance(parse_threshold("pr", allow_pr=True), PrecisionRecall)


# --------------------------------------------------------- peaks over threshold
HEAVY = {"student_t3": stats.t(df=3), "pareto3": stats.pareto(b=3), "lognormal": stats.lognorm(s=1)}


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_pot_exceedance_rate_on_fresh_data_matches_the_risk(name):
    """risk 1e-3 fitted on 100k points: the rate on 1e6 fresh points is close to 1e-3.

    The expected count is 1000 (binomial sd ~32, 3%); the tail-fit estimate adds more
    (about +-15% over seeds in a check of 20 seeds per distribution), so the bound is a
    factor 0.7-1.4, far tighter than what a wrong formula (e.g. risk * n_t / n) gives.
    """
    dist = HEAVY[name]
    rng = np.random.default_rng(11)
    th = PeaksOverThreshold(risk=1e-3).fit(dist.rvs(100_000, random_state=rng))
    rate = th(dist.rvs(1_000_000, random_state=rng)).mean()
    assert 0.7e-3 <= rate <= 1.4e-3, rate
    assert 0.7 <= dist.sf(th.cutoff_) / 1e-3 <= 1.4
    tail = th.tail_
    assert tail["n"] == 100_000 and tail["n_t"] == pytest.approx(2_000, abs=2) and tail["sigma"] > 0


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_pot_extrapolates_beyond_the_largest_score(name):
    dist = HEAVY[name]
    scores = dist.rvs(100_000, random_state=np.random.default_rng(12))
    th = PeaksOverThreshold(risk=1e-6).fit(scores)
    assert th.cutoff_ > scores.max()
    assert Percentile(99.9999).fit(scores).cutoff_ <= scores.max()  # a percentile cannot
    assert 0.1 <= dist.sf(th.cutoff_) / 1e-6 <= 10  # and the tail is about right


def test_pot_needs_enough_scores():
    with pytest.raises(DataError, match=r"pot threshold: only \d+ .*at least 10"):
        PeaksOverThreshold().fit(np.random.default_rng(0).normal(size=12))
    with pytest.raises(DataError, match="pot threshold: no finite scores"):
        PeaksOverThreshold().fit([np.nan, np.nan])


# ------------------------------------------------------------------ parsing
def test_parse_threshold_builds_each_method():
    assert parse_threshold("percentile:99.9").q == 99.9
    assert parse_threshold("percentile").q == 99.5
    assert parse_threshold("contamination:0.01").fraction == 0.01
    assert parse_threshold("pot:1e-4").risk == 1e-4


@pytest.mark.parametrize(
    "spec, message",
    [
        ("median:3", "threshold method 'median' unknown; choose one of: percentile"),
        ("", "threshold method '' unknown"),
        ("percentile:high", "threshold value in 'percentile:high' is not a number"),
        ("pot:1e-3x", "is not a number"),
        ("percentile:100", "percentile must be between 0 and 100 (exclusive), got 100.0"),
        ("percentile:0", "percentile must be between 0 and 100"),
        ("contamination:0.5", "contamination must be between 0 and 0.5 (exclusive), got 0.5"),
        ("contamination:-0.1", "contamination must be between 0 and 0.5"),
        ("pot:1", "pot risk must be between 0 and 1, got 1.0"),
        ("pot:0", "pot risk must be between 0 and 1"),
    ],
)
def test_parse_threshold_errors(spec, message):
    with pytest.raises(ConfigError) as info:
        parse_threshold(spec)
    assert message in str(info.value)


def test_threshold_from_dict_rejects_unknown_method():
    with pytest.raises(ConfigError, match="unknown threshold method"):
        threshold_from_dict({"method": "median", "cutoff": 1.0})


# -------------------------------------------------------------- round trip
@pytest.mark.parametrize("method", ["percentile:99", "contamination:0.05", "pr", "pot:1e-3"])
def test_every_threshold_survives_save_and_load(fitted, signal, tmp_path, method):
    det = copy.deepcopy(fitted["dense"])  # the session fixture stays untouched
    before = det.threshold_.cutoff_
    det.calibrate(signal, method)
    th = det.threshold_
    assert th.name == method.partition(":")[0] and th.cutoff_ != before
    det.save(tmp_path / "m.tsae")
    back = tsae.load(tmp_path / "m.tsae", threads=1)
    got = back.threshold_
    assert type(got) is type(th)
    assert got.params() == th.params() and got.to_dict() == th.to_dict()
    assert got.cutoff_ == th.cutoff_
    assert getattr(got, "expected_", None) == getattr(th, "expected_", None)
    assert getattr(got, "tail_", None) == getattr(th, "tail_", None)
    if method == "pr":
        assert got.expected_ is not None and set(got.expected_) == {"precision", "recall", "fbeta", "beta"}
    if method.startswith("pot"):
        assert got.tail_ is not None and got.tail_["n"] == len(signal)
    np.testing.assert_array_equal(back.predict(signal).to_numpy(), det.predict(signal).to_numpy())
    assert back.predict(signal).sum() > 0
