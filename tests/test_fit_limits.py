"""What fit refuses: too few rows for the window, options of the wrong type; and a
failed refit leaves the fitted detector as it was."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from tsae import Detector, TsaeWarning
from tsae.detector import MIN_AUTO_WINDOW, MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS, _longest_window, _min_rows
from tsae.errors import ConfigError, DataError

TINY = dict(epochs=1, max_windows=64, threads=1)


def periodic(n, period=25, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({"v": np.sin(2 * np.pi * t / period) + 0.05 * rng.normal(size=n)})


def fit(frame, **kwargs):
    return Detector("dense", **{**TINY, **kwargs}).fit(frame, source="x.csv")


def test_the_minimums():
    assert (MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS, MIN_AUTO_WINDOW) == (32, 8, 8)


def test_five_rows_is_an_error(tmp_path):
    path = tmp_path / "five.csv"
    path.write_text("v\n1\n2\n3\n2\n1\n")
    with pytest.raises(
        DataError,
        match=rf"^{path} has 5 rows; window 8 \(the shortest automatic window\) needs at "
        r"least 54 rows \(32 training \+ 8 validation windows\)$",
    ):
        Detector("dense", **TINY).fit(path)
    with pytest.raises(DataError, match=r"has 5 rows; window 2 needs at least 42 rows"):
        Detector("dense", window=2, **TINY).fit(path)


def test_explicit_window_just_below_and_at_the_minimum():
    with pytest.raises(
        DataError,
        match=r"^x\.csv has 69 rows; window 16 needs at least 70 rows "
        r"\(32 training \+ 8 validation windows\)$",
    ):
        fit(periodic(69), window=16)
    det = fit(periodic(70), window=16)
    assert det.window_ == 16
    assert (det.training_["train_windows"], det.training_["val_windows"]) == (32, 8)
    assert (det.training_["train_rows"], det.training_["val_rows"]) == (47, 23)


def test_val_fraction_can_set_the_minimum():
    with pytest.raises(
        DataError,
        match=r"^x\.csv has 92 rows; window 16 needs at least 93 rows "
        r"\(32 training \+ 8 validation windows with val_fraction 0\.5\)$",
    ):
        fit(periodic(92), window=16, val_fraction=0.5)
    det = fit(periodic(93), window=16, val_fraction=0.5)
    assert det.training_["train_windows"] == 32 and det.training_["val_rows"] == 46


def test_auto_window_just_below_and_at_the_minimum():
    with pytest.raises(
        DataError,
        match=r"^x\.csv has 53 rows; window 8 \(the shortest automatic window\) "
        r"needs at least 54 rows",
    ):
        fit(periodic(53))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TsaeWarning)
        det = fit(periodic(54))
    assert det.window_ == 8
    assert (det.training_["train_windows"], det.training_["val_windows"]) == (32, 8)


def test_auto_window_is_capped_with_a_warning():
    # period 40, but 200 rows with val_fraction 0.7 leave 60 training rows: window at most 29
    with pytest.warns(
        TsaeWarning,
        match=r"^the period of the series suggests a window of 40, but 200 rows leave "
        r"room for at most 29: using window 29$",
    ):
        det = fit(periodic(200, period=40), val_fraction=0.7)
    assert det.window_ == 29 and det.training_["train_windows"] == MIN_TRAIN_WINDOWS


def test_auto_window_uncapped_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", TsaeWarning)
        warnings.filterwarnings("ignore", message=".*validation scores")  # the cutoff's, tested below
        assert fit(periodic(1000, period=40)).window_ == 40


def test_a_cutoff_resting_on_few_validation_scores_warns():
    """Cold start: percentile:99.5 of ~150 validation scores is their maximum."""
    with pytest.warns(TsaeWarning, match=r"rests on 1 of \d+ validation scores, too few to trust"):
        fit(periodic(750, period=40))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TsaeWarning)
        fit(periodic(750, period=40), threshold="percentile:95")  # ~7 scores above: fine


@pytest.mark.parametrize("val_fraction", [0.05, 0.2, 0.25, 0.5, 0.9])
def test_longest_window_is_the_inverse_of_the_minimum_rows(val_fraction):
    for n in range(2 * MIN_AUTO_WINDOW + MIN_TRAIN_WINDOWS + MIN_VAL_WINDOWS, 3000, 7):
        longest = _longest_window(n, val_fraction)
        if longest >= 2:
            assert _min_rows(longest, val_fraction) <= n < _min_rows(longest + 1, val_fraction), n


# --- a failed refit -----------------------------------------------------------------------


@pytest.fixture
def fitted():
    frame = periodic(600)
    det = fit(frame, window=16)
    return det, frame, det.score(frame).to_numpy(), copy.deepcopy(det._header())


def wide_with_a_long_gap():
    frame = periodic(600).assign(w=np.arange(600.0), z=1.5)
    frame.loc[200:230, "w"] = np.nan
    return frame


@pytest.mark.parametrize(
    "data, change, error",
    [
        (lambda: periodic(5), {}, DataError),  # too short
        (wide_with_a_long_gap, {}, DataError),  # other columns, then a gap: too long
        (lambda: periodic(600).assign(v=lambda f: f["v"].astype(object).where(f.index != 9, "x")), {}, DataError),
        (lambda: periodic(600), {"window": 1000}, DataError),  # window too long for the rows
        (lambda: periodic(600), {"val_fraction": "0.2"}, ConfigError),
    ],
)
def test_failed_refit_keeps_the_fitted_model(fitted, tmp_path, data, change, error):
    det, frame, scores, header = fitted
    options = {key: getattr(det, key) for key in change}
    for key, value in change.items():
        setattr(det, key, value)
    with pytest.raises(error), warnings.catch_warnings():
        warnings.simplefilter("ignore", TsaeWarning)
        det.fit(data())
    for key, value in options.items():
        setattr(det, key, value)
    assert det._header() == header
    np.testing.assert_array_equal(det.score(frame).to_numpy(), scores)
    det.save(tmp_path / "m.tsae")


# --- options of the wrong type ------------------------------------------------------------


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("window", "16", "window must be an integer >= 2 or 'auto', got '16'"),
        ("window", 16.0, "window must be an integer >= 2 or 'auto', got 16.0"),
        ("window", True, "window must be an integer >= 2 or 'auto', got True"),
        ("val_fraction", "0.2", "val_fraction must be a number between 0 and 1 (exclusive), got '0.2'"),
        ("val_fraction", 1, "val_fraction must be a number between 0 and 1 (exclusive), got 1"),
        ("val_fraction", float("nan"), "val_fraction must be a number between 0 and 1 (exclusive), got nan"),
        ("max_gap", -1, "max_gap must be an integer >= 0, got -1"),
        ("max_gap", 2.5, "max_gap must be an integer >= 0, got 2.5"),
        ("seed", "1", "seed must be an integer, got '1'"),
        ("seed", 1.5, "seed must be an integer, got 1.5"),
        ("threads", 0, "threads must be None or an integer >= 1, got 0"),
        ("threads", "2", "threads must be None or an integer >= 1, got '2'"),
        ("columns", "v", "columns must be a list of column names, not a string: pass columns=['v']"),
        ("columns", [], "columns must be a non-empty list of column names (str), got []"),
        ("columns", ["v", 3], "columns must be a non-empty list of column names (str), got ['v', 3]"),
        ("columns", ["v", "w", "v"], "columns names v more than once"),
        ("timestamp", 0, "timestamp must be None or a column name (str), got 0"),
        (
            "events",
            [1],
            "events must be an EventRules, a dict or None (rules: merge_gap, min_length, cooldown), got [1]",
        ),
        ("events", {1: 2}, "events must be an EventRules, a dict or None (rules: merge_gap, min_length, cooldown)"),
        ("noise", 0.3, "noise must be a string: gaussian:STD, mask:P or none, got 0.3"),
        ("scaling", None, "scaling must be one of standard, robust, minmax, none, got None"),
        ("score_mode", ["window"], "score_mode must be one of window, overlap, causal, got ['window']"),
        ("progress", "yes", "progress must be True or False, got 'yes'"),
        ("threshold", 99.5, "threshold must be a string such as 'percentile:99.5' or a Threshold, got 99.5"),
        ("model_params", ["latent"], "model_params must be a dict or None"),
        ("device", None, "device must be a string: auto, cpu or cuda[:N], got None"),
    ],
)
def test_options_of_the_wrong_type_are_config_errors_before_reading_data(option, value, message, tmp_path):
    det = Detector("dense", **TINY)
    setattr(det, option, value)
    with pytest.raises(ConfigError) as info:
        det.fit(tmp_path / "not-there.csv")  # checked before any work: no file error
    assert str(info.value).startswith(message)
