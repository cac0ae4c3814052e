"""Detector follows scikit-learn's estimator contract: parameters, clone, the model
file's stored parameters; thresholds keep parameters apart from what they learn.

scikit-learn's checks that apply without data run here. The others in
``sklearn.utils.estimator_checks`` do not apply and are left out on purpose: they fit on
random arrays of 20-30 rows (a window-based model needs ``window - 1 + 40`` rows at
least), expect ``score(X, y)`` to return one float (tsae's ``score`` is one anomaly score
per row, its documented API), or expect ``predict`` to return +1/-1 like an outlier
detector (tsae returns booleans per row)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import tsae
from tsae import Detector, ModelFileError
from tsae.persist import load_model_file, save_model_file
from tsae.thresholds import PeaksOverThreshold, PrecisionRecall, threshold_from_spec

SETTINGS = dict(
    window=16,
    epochs=2,
    max_windows=128,
    threads=1,
    threshold="pot:1e-3",
    events={"cooldown": 3},
    learning="every=50,steps=1",
    lr=0.005,
)


@pytest.fixture(scope="module")
def data(train):
    return train[["timestamp", "ch0", "ch1"]].iloc[:1500]


@pytest.fixture(scope="module")
def fitted(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Detector("dense", **SETTINGS).fit(data)


@pytest.mark.parametrize(
    "check",
    [
        check_parameters_default_constructible,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
    ],
)
def test_scikit_learn_checks_that_apply(check):
    check("Detector", Detector())


def test_clone_and_refit_gives_the_same_scores(fitted, data):
    copy = clone(fitted)
    assert not hasattr(copy, "module_") and copy.get_params() == fitted.get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copy.fit(data)
    np.testing.assert_array_equal(copy.score(data).to_numpy(), fitted.score(data).to_numpy())


def test_a_loaded_model_has_the_parameters_it_was_trained_with(fitted, data, tmp_path):
    fitted.save(tmp_path / "m.tsae")
    loaded = tsae.load(tmp_path / "m.tsae", threads=1)
    ours = {k: v for k, v in fitted.get_params().items() if k not in ("device", "progress")}
    theirs = {k: v for k, v in loaded.get_params().items() if k not in ("device", "progress")}
    assert theirs == ours  # epochs, lr, threshold spec, events, learning...
    assert loaded.threshold == "pot:1e-3" and loaded.events == {"cooldown": 3}  # parameters, not fitted objects
    assert loaded.threshold_.cutoff_ == fitted.threshold_.cutoff_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = clone(loaded).fit(data)
    np.testing.assert_array_equal(refit.score(data).to_numpy(), fitted.score(data).to_numpy())


def test_a_threshold_object_parameter_round_trips_unfitted(data, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector(
            "dense",
            window=16,
            epochs=1,
            max_windows=64,
            threads=1,
            threshold=PeaksOverThreshold(risk=1e-3, init_quantile=0.9),
        ).fit(data)
    det.save(tmp_path / "t.tsae")
    loaded = tsae.load(tmp_path / "t.tsae")
    assert isinstance(loaded.threshold, PeaksOverThreshold) and loaded.threshold.tail_ is None
    assert loaded.threshold.params() == {"risk": 1e-3, "init_quantile": 0.9}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(epochs=0), "epochs"),
        (lambda p: p.update(colour="red"), "params"),
        (lambda p: p.pop("lr"), "params"),
        (lambda p: p.update(threshold={"method": "nope"}), "params.threshold"),
        (lambda p: p.update(learning="sometimes"), "learning"),
    ],
)
def test_a_wrong_params_field_is_a_model_file_error(fitted, tmp_path, change, message):
    fitted.save(tmp_path / "m.tsae")
    header, weights = load_model_file(tmp_path / "m.tsae")
    params = dict(header["params"])
    change(params)
    save_model_file(tmp_path / "bad.tsae", {**header, "params": params}, weights)
    with pytest.raises(ModelFileError, match=message) as info:
        tsae.load(tmp_path / "bad.tsae")
    assert "field 'params" in str(info.value) and "\n" not in str(info.value)


def test_thresholds_keep_parameters_apart_from_what_they_learn():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=500), np.r_[np.zeros(450), np.ones(50)]
    pr = PrecisionRecall(beta=2.0).fit(scores + 3 * labels, labels)
    assert pr.params() == {"beta": 2.0, "target_precision": None, "target_recall": None}
    assert set(pr.learned()) == {"expected"} and pr.expected_ is not None
    again = threshold_from_spec(pr.spec())
    assert again.params() == pr.params() and again.cutoff_ is None and again.expected_ is None
