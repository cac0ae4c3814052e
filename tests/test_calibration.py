"""The calibrated score: causal, in [0, 1], block-size independent, resumable, and
comparable across series whose raw scores differ in scale."""

import json
import math

import numpy as np
import pytest

from tsae.calibration import CalibrationSettings, ScoreCalibrator
from tsae.errors import ConfigError


def raw_scores(n=3000, scale=1.0, seed=0):
    return scale * np.random.default_rng(seed).gamma(4.0, 0.25, n)


def test_probabilities_are_in_unit_interval_and_half_during_warmup():
    p = ScoreCalibrator().update_many(raw_scores())
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(p[:100] == 0.5) and not np.all(p[100:] == 0.5)


def test_causal_appending_rows_never_changes_earlier_probabilities():
    raw = raw_scores()
    whole = ScoreCalibrator().update_many(raw)
    prefix = ScoreCalibrator().update_many(raw[:1234])
    assert np.array_equal(whole[:1234], prefix)


@pytest.mark.parametrize("sizes", [[1] * 50, [7, 1, 300, 2], [999]])
def test_blocks_of_any_size_give_bit_identical_results(sizes):
    raw = raw_scores(n=1500)
    whole = ScoreCalibrator().update_many(raw)
    cal, parts, start = ScoreCalibrator(), [], 0
    for size in sizes * 100:
        if start >= len(raw):
            break
        parts.append(cal.update_many(raw[start : start + size]))
        start += size
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("short", [1, 10])
def test_one_score_at_a_time_after_the_warm_up_is_bit_identical(short):
    """A stream's rows come one at a time: after ``long`` rows they take a scalar path,
    which must give the vectorised path's bits (zeros, a flat stretch and NaN included)."""
    raw = np.r_[raw_scores(n=1500), np.zeros(50), np.full(50, 2.0), np.nan, -1.0, raw_scores(n=400) * 30]
    settings = CalibrationSettings(short=short)
    batch = ScoreCalibrator(settings)
    whole = batch.update_many(raw)
    cal = ScoreCalibrator(settings)
    one_by_one = np.array([cal.update(x) for x in raw])
    assert np.array_equal(one_by_one, whole, equal_nan=True)
    assert cal.state_dict() == batch.state_dict()  # the same state to resume from


def test_resume_from_a_json_state_continues_exactly():
    raw = raw_scores()
    whole = ScoreCalibrator().update_many(raw)
    first = ScoreCalibrator()
    head = first.update_many(raw[:1700])
    state = json.loads(json.dumps(first.state_dict()))
    tail = ScoreCalibrator(state=state).update_many(raw[1700:])
    assert np.array_equal(np.r_[head, tail], whole)


def test_nan_scores_give_nan_and_leave_the_state_alone():
    raw = raw_scores(n=600)
    with_gaps = np.r_[np.full(15, np.nan), raw[:300], np.nan, raw[300:]]
    p = ScoreCalibrator().update_many(with_gaps)
    assert np.isnan(p[:15]).all() and np.isnan(p[315])
    assert np.array_equal(np.r_[p[15:315], p[316:]], ScoreCalibrator().update_many(raw))


def test_the_same_anomaly_gets_the_same_probability_whatever_the_scale():
    """Raw scores of two series that differ by a factor 1000 calibrate alike: one cutoff serves both."""
    raw = np.r_[raw_scores(n=2000), np.full(10, 8.0)]
    small, large = ScoreCalibrator().update_many(raw), ScoreCalibrator().update_many(1000 * raw)
    np.testing.assert_allclose(small, large, atol=1e-9)
    assert small[-1] > 0.999 and np.mean(small[500:2000] > 0.999) < 0.01


def test_drift_is_followed():
    """After a level change that persists, probabilities come back down (the long-running
    estimate moves), while right after the change they are high."""
    raw = np.r_[raw_scores(n=3000), 10 * raw_scores(n=6000, seed=1)]
    p = ScoreCalibrator().update_many(raw)
    assert np.median(p[3010:3050]) > 0.99
    assert p[8000:].mean() < 0.8


def test_a_flat_history_does_not_divide_by_zero():
    """With a constant history the spread is min_std of the mean: a 2 % rise is ordinary, a
    doubling is not (at once with the default short=1, diluted by a longer short-term mean)."""
    raw = np.r_[np.ones(500), 1.02, 2.0]
    p = ScoreCalibrator().update_many(raw)
    assert np.isfinite(p).all() and 0.5 < p[-2] < 0.6 and p[-1] > 0.999
    diluted = ScoreCalibrator(CalibrationSettings(short=10)).update_many(raw)[-1]
    assert 0.6 < diluted < p[-1]
    zeros = ScoreCalibrator().update_many(np.r_[np.zeros(200), 0.0, 1e-9])  # no spread at all
    assert zeros[-2] == 0.5 and zeros[-1] == 1.0


def test_a_spike_far_above_the_typical_score_is_near_certain():
    """Squared errors of single points are chi-square-like: a score 150 times the typical one
    (the machine-temperature failure) is far in the tail, not at 0.97 as under a log."""
    raw = np.r_[np.random.default_rng(3).chisquare(1, 2000) * 2.4, 370.0]
    assert ScoreCalibrator().update_many(raw)[-1] > 0.9999


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(short=0),
        dict(long=-1),
        dict(warmup=1.5),
        dict(min_std=0),
        dict(min_std=math.inf),
        dict(short=True),
        dict(short=2**64),  # a buffer that size cannot exist (found by test_loader_properties)
    ],
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match="calibration"):
        ScoreCalibrator(CalibrationSettings(**kwargs))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.pop("mean"),
        lambda s: s.update(version=1),
        lambda s: s.update(n=-1),
        lambda s: s.update(var=-1.0),
        lambda s: s.update(recent=["x"]),
        lambda s: s.update(recent=list(range(11))),
        lambda s: s.update(settings={**s["settings"], "short": 5}),
        lambda s: s.update(n=0),
    ],
)
def test_bad_states_are_refused_in_one_line(mutate):
    cal = ScoreCalibrator()
    cal.update_many(raw_scores(n=300))
    state = cal.state_dict()
    mutate(state)
    with pytest.raises(ConfigError) as info:
        ScoreCalibrator(state=state)
    assert "\n" not in str(info.value)
