"""Event rules (merge_gap, min_length, cooldown), the events table, and rules in a Detector."""

import copy

import numpy as np
import pandas as pd
import pytest

import tsae
from tsae.errors import ConfigError
from tsae.events import EventRules, events_table, runs


def b(text):
    """'.11.1' -> boolean array (1 = flagged)."""
    return np.array([c == "1" for c in text.replace(" ", "")])


def s(flags):
    return "".join("1" if f else "." for f in flags)


def test_runs_gives_inclusive_start_end():
    assert runs(b("11..1...111")).tolist() == [[0, 1], [4, 4], [8, 10]]
    assert runs(b("....")).shape == (0, 2)
    assert runs(b("1")).tolist() == [[0, 0]]


@pytest.mark.parametrize(
    "rules, before, after",
    [
        # merge_gap: gaps of at most merge_gap unflagged points are filled
        (dict(merge_gap=1), "11.1..1...1", "1111..1...1"),
        (dict(merge_gap=2), "11.1..1...1", "1111111...1"),
        (dict(merge_gap=3), "11.1..1...1", "11111111111"),
        (dict(merge_gap=4), "1.....1", "1.....1"),
        (dict(merge_gap=5), "1.....1", "1111111"),
        (dict(merge_gap=2), "1..1..1..1", "1111111111"),  # chains merge into one event
        # min_length: shorter events are dropped
        (dict(min_length=2), "1.11.111.1", "..11.111.."),
        (dict(min_length=3), "1.11.111.1", ".....111.."),
        (dict(min_length=4), "1.11.111.1", ".........."),
        (dict(min_length=3), "111", "111"),  # at the edges too
        # cooldown: a new event starting within cooldown points of the last kept one's end is dropped
        (dict(cooldown=3), "11..1.....1", "11........1"),
        (dict(cooldown=2), "11..1.....1", "11..1.....1"),  # 4 - 1 = 3 > 2: kept
        (dict(cooldown=4), "1...1...1...1", "1.......1...."),  # measured from the last kept event
        # order: merge, then min_length, then cooldown
        (dict(merge_gap=1, min_length=3), "1.1....1", "111....."),  # merged first, so long enough
        (dict(min_length=2, cooldown=5), "1..11....11", "...11......"),  # a dropped event starts no cooldown
        (dict(merge_gap=1, cooldown=3), "1.1..1...11", "111......11"),
    ],
)
def test_rules_on_hand_made_flags(rules, before, after):
    assert s(EventRules(**rules).apply(b(before))) == after


def test_default_rules_change_nothing_and_return_a_copy():
    rules = EventRules()
    assert not rules.active and rules.to_dict() == {"merge_gap": 0, "min_length": 1, "cooldown": 0}
    flags = np.random.default_rng(0).random(500) < 0.2
    out = rules.apply(flags)
    assert out is not flags and out.dtype == bool
    np.testing.assert_array_equal(out, flags)
    assert rules.apply([0, 1, 1, 0]).tolist() == [False, True, True, False]  # lists and 0/1 accepted


def test_apply_does_not_mutate_its_input():
    flags = b("1.11...1..1")
    keep = flags.copy()
    out = EventRules(merge_gap=2, min_length=2, cooldown=1).apply(flags)
    np.testing.assert_array_equal(flags, keep)
    assert s(out) == "1111...1111"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(merge_gap=-1), "merge_gap must be an integer >= 0, got -1"),
        (dict(min_length=0), "min_length must be an integer >= 1, got 0"),
        (dict(cooldown=-2), "cooldown must be an integer >= 0, got -2"),
        (dict(min_length=2.5), "min_length must be an integer >= 1, got 2.5"),
        (dict(merge_gap="3"), "merge_gap must be an integer >= 0, got '3'"),
        (dict(cooldown=True), "cooldown must be an integer >= 0, got True"),
    ],
)
def test_invalid_rules(kwargs, message):
    with pytest.raises(ConfigError) as info:
        EventRules(**kwargs)
    assert str(info.value) == message


def test_numpy_integers_are_accepted():
    assert EventRules(min_length=np.int64(2)).apply(b("1.11")).tolist() == [False, False, True, True]


# --------------------------------------------------------------- events table
def test_events_table_columns_and_values():
    flags = b(".11..111.1")
    scores = np.array([0, 5, 3, 0, 0, 1, 9, 2, 0, 4], dtype=float)
    table = events_table(flags, scores)
    assert list(table.columns) == ["start", "end", "length", "peak_score", "peak_row"]
    assert table.to_dict("list") == {
        "start": [1, 5, 9],
        "end": [2, 7, 9],
        "length": [2, 3, 1],
        "peak_score": [5.0, 9.0, 4.0],
        "peak_row": [1, 6, 9],
    }


def test_events_table_peak_skips_nan_scores():
    table = events_table(b("111"), np.array([np.nan, 2.0, 1.0]))
    assert table["peak_row"].tolist() == [1] and table["peak_score"].tolist() == [2.0]


@pytest.mark.parametrize(
    "stamps",
    [
        pd.date_range("2024-01-01", periods=10, freq="min"),
        pd.date_range("2024-01-01", periods=10, freq="min").to_numpy(),
        np.arange(100, 110),  # numeric timestamps
    ],
)
def test_events_table_with_timestamps(stamps):
    flags = b(".11..111..")
    scores = np.array([0, 5, 3, 0, 0, 1, 9, 2, 0, 0], dtype=float)
    table = events_table(flags, scores, stamps)
    assert list(table.columns) == [
        "start",
        "end",
        "length",
        "peak_score",
        "peak_row",
        "start_time",
        "end_time",
        "peak_time",
    ]
    ts = np.asarray(stamps)
    assert table["start_time"].tolist() == [ts[1], ts[5]]
    assert table["end_time"].tolist() == [ts[2], ts[7]]
    assert table["peak_time"].tolist() == [ts[1], ts[6]]


@pytest.mark.parametrize("stamps", [None, pd.date_range("2024-01-01", periods=6, freq="s")])
def test_events_table_without_events_is_empty(stamps):
    table = events_table(np.zeros(6, dtype=bool), np.arange(6.0), stamps)
    assert len(table) == 0
    expected = ["start", "end", "length", "peak_score", "peak_row"]
    assert list(table.columns) == expected + ([] if stamps is None else ["start_time", "end_time", "peak_time"])
    assert len(events_table(np.zeros(0, dtype=bool), np.zeros(0))) == 0


def test_events_table_single_event_covering_everything():
    table = events_table(np.ones(4, dtype=bool), np.array([1.0, 3.0, 2.0, 0.0]))
    assert table.to_dict("records") == [{"start": 0, "end": 3, "length": 4, "peak_score": 3.0, "peak_row": 1}]


# ------------------------------------------------------------ in a Detector
RULES = EventRules(merge_gap=20, min_length=5, cooldown=50)


@pytest.fixture
def with_rules(fitted, signal):
    det = copy.deepcopy(fitted["dense"])  # the session fixture stays untouched
    det.score_mode = "overlap"  # jumpier than the default: short runs for the rules
    det.calibrate(signal, "percentile:97")  # enough flags for the rules to matter
    det.events_ = copy.deepcopy(RULES)
    return det


def test_predict_applies_the_event_rules(with_rules, signal):
    det = with_rules
    scores = det.score(signal).to_numpy()
    raw = det.threshold_(scores)
    expected = RULES.apply(raw)
    got = det.predict(signal)
    np.testing.assert_array_equal(got.to_numpy(), expected)
    np.testing.assert_array_equal(det.flags(scores), expected)
    assert got.index.equals(signal.index) and got.name == "is_anomaly"
    assert not np.array_equal(raw, expected) and expected.any()  # the rules did something
    assert (np.diff(runs(expected), axis=1) + 1 >= 5).all()


def test_event_rules_survive_save_and_load(with_rules, signal, tmp_path):
    with_rules.save(tmp_path / "m.tsae")
    back = tsae.load(tmp_path / "m.tsae", threads=1)
    assert back.events_ == RULES and back._header()["events"] == RULES.to_dict()
    np.testing.assert_array_equal(back.predict(signal).to_numpy(), with_rules.predict(signal).to_numpy())


def test_detector_events_parameter_is_validated(train):
    with pytest.raises(ConfigError, match="min_length must be an integer >= 1"):
        tsae.Detector("dense", events={"min_length": 0}, window=16, epochs=1, threads=1).fit(train)
    with pytest.raises(ConfigError, match="events must be an EventRules, a dict or None"):
        tsae.Detector("dense", events=[1], window=16, epochs=1, threads=1).fit(train)
