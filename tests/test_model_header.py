"""A model file whose checksum is valid but whose header makes no sense is refused with
one line naming the file and the field (tsae.header); model hyper-parameters are
checked against their meaning and the weight limit before anything is allocated."""

import copy
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import tsae
from tsae.errors import ConfigError, ModelFileError
from tsae.models import MAX_WEIGHTS, build_image_model, build_model, model_skeleton
from tsae.persist import load_model_file, save_model_file

FORMAT_FIELDS = ("format", "format_version", "checksum")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(header without the format fields, weights) of a small 3-channel conv1d model."""
    t = np.arange(400)
    values = np.c_[np.sin(t / 5), np.cos(t / 7), t % 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = tsae.Detector(window=8, epochs=1, max_windows=64, threads=1).fit(values)
    path = tmp_path_factory.mktemp("header") / "model.tsae"
    det.save(path)
    header, weights = load_model_file(path)
    return {k: v for k, v in header.items() if k not in FORMAT_FIELDS}, weights


def write(path, header, weights):
    """A model file with a valid checksum for whatever ``header`` and ``weights`` hold."""
    save_model_file(path, header, weights)
    return path


def edited(saved, edit):
    header = copy.deepcopy(saved[0])
    edit(header)
    return header


def setter(dotted, value):
    """An edit setting ``header[a][b]... = value`` for ``dotted`` = "a.b..."."""
    *parents, last = dotted.split(".")

    def edit(header):
        for key in parents:
            header = header[key]
        header[last] = value

    return edit


def dropper(dotted):
    *parents, last = dotted.split(".")

    def edit(header):
        for key in parents:
            header = header[key]
        del header[last]

    return edit


NAN = float("nan")

# (edited field, edit) -> the error names that field. One or more cases per kind of field.
HEADER_CASES = {
    "tsae_version": [setter("tsae_version", 1)],
    "model": [setter("model", "conv1d"), dropper("model.name")],
    "model.name": [setter("model.name", "transformer"), setter("model.name", 5)],
    "model.params": [
        setter("model.params.depth", "3"),
        setter("model.params.depth", 2.5),
        setter("model.params.depth", True),
        setter("model.params.depth", 50),
        setter("model.params.width", 10**6),
        setter("model.params.latent", 0),
        setter("model.params.heads", 4),
        dropper("model.params.latent"),
        setter("model.params", [16, 16, 3]),
    ],
    "channels": [
        setter("channels", 5),
        setter("channels", []),
        setter("channels", ["x0", "x0", "x2"]),
        setter("channels", ["x0", None, "x2"]),
        setter("channels", "x0"),
    ],
    "columns_explicit": [setter("columns_explicit", "yes"), setter("columns_explicit", 1)],
    "timestamp": [setter("timestamp", 3.5), setter("timestamp", ["time"])],
    "window": [
        setter("window", "64"),
        setter("window", 1),
        setter("window", 8.0),
        setter("window", True),
        setter("window", None),
        dropper("window"),
    ],
    "score_mode": [setter("score_mode", "fast"), setter("score_mode", None)],
    "scaler": [setter("scaler", [1, 2]), dropper("scaler.scale"), setter("scaler.extra", 1)],
    "scaler.method": [setter("scaler.method", "zscore"), setter("scaler.method", 1)],
    "scaler.center": [
        setter("scaler.center", [0.0, 0.0]),
        setter("scaler.center", [0.0, NAN, 1.0]),
        setter("scaler.center", "0"),
    ],
    "scaler.scale": [
        setter("scaler.scale", [1.0, 1.0]),
        setter("scaler.scale", [1.0, 0.0, 1.0]),
        setter("scaler.scale", [1.0, -1.0, 1.0]),
        setter("scaler.scale", [1.0, math.inf, 1.0]),
        setter("scaler.scale", [1.0, "1", 1.0]),
        setter("scaler.scale", [1.0, True, 1.0]),
    ],
    "max_gap": [setter("max_gap", -1), setter("max_gap", 2.5), setter("max_gap", 10**30), setter("max_gap", "5")],
    "threshold": [setter("threshold", 0.5), dropper("threshold.q"), setter("threshold.extra", 1)],
    "threshold.method": [setter("threshold.method", "median"), setter("threshold.method", None)],
    "threshold.cutoff": [
        setter("threshold.cutoff", NAN),
        setter("threshold.cutoff", math.inf),
        setter("threshold.cutoff", "1.5"),
        setter("threshold.cutoff", None),
    ],
    "threshold.q": [setter("threshold.q", "99"), setter("threshold.q", 100), setter("threshold.q", -1)],
    "events": [setter("events", [0, 1, 0]), dropper("events.cooldown"), setter("events.patience", 3)],
    "events.merge_gap": [setter("events.merge_gap", -1), setter("events.merge_gap", 1.5)],
    "events.min_length": [setter("events.min_length", 0)],
    "events.cooldown": [setter("events.cooldown", "2")],
    "settings": [setter("settings", None), dropper("settings.seed"), setter("settings.lr", 0.1)],
    "settings.noise": [setter("settings.noise", "pink"), setter("settings.noise", 0.3)],
    "settings.seed": [setter("settings.seed", -1), setter("settings.seed", "0")],
    "settings.val_fraction": [setter("settings.val_fraction", 1.5), setter("settings.val_fraction", 0)],
    "training": [setter("training", "fast")],
    "training.rows": [setter("training.rows", "10"), setter("training.rows", -1)],
    "training.history": [setter("training.history", "x")],
    "channel_weights": [
        setter("channel_weights", [1.0, 1.0]),
        setter("channel_weights", [1.0, -2.0, 1.0]),
        setter("channel_weights", [1.0, NAN, 1.0]),
        setter("channel_weights", "1"),
    ],
    "ignored_columns": [
        setter("ignored_columns", "label"),
        setter("ignored_columns", [1.5]),
        setter("ignored_columns", ["x1"]),
    ],
}
CASES = [(field, i, edit) for field, edits in HEADER_CASES.items() for i, edit in enumerate(edits)]


@pytest.mark.parametrize("field, i, edit", CASES, ids=[f"{field}-{i}" for field, i, _ in CASES])
def test_bad_header_field_is_named(saved, tmp_path, field, i, edit):
    path = write(tmp_path / "model.tsae", edited(saved, edit), saved[1])
    with pytest.raises(ModelFileError) as info:
        tsae.load(path, threads=1)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path} is not a valid tsae model: header ")
    assert f"'{field}'" in message, message


def test_the_message_of_a_short_scaler(saved, tmp_path):
    path = write(tmp_path / "model.tsae", edited(saved, setter("scaler.scale", [1.0, 1.0])), saved[1])
    with pytest.raises(ModelFileError) as info:
        tsae.load(path)
    assert str(info.value) == (
        f"{path} is not a valid tsae model: header field 'scaler.scale' must hold 3 positive finite numbers (got 2)"
    )


@pytest.mark.parametrize(
    "kind, params",
    [
        ("percentile", {"method": "percentile", "q": 99.0}),
        ("contamination", {"method": "contamination", "fraction": 0.01}),
        (
            "pr",
            {
                "method": "pr",
                "beta": 1.0,
                "target_precision": None,
                "target_recall": 0.5,
                "expected": {"precision": 0.5, "recall": 0.6, "fbeta": 0.55, "beta": 1.0},
            },
        ),
        (
            "pot",
            {
                "method": "pot",
                "risk": 1e-3,
                "init_quantile": None,
                "tail": {"quantile": 0.98, "t": 1.0, "gamma": 0.1, "sigma": 0.5, "n": 400, "n_t": 8},
            },
        ),
    ],
)
def test_every_threshold_kind_is_read_and_its_fields_checked(saved, tmp_path, kind, params):
    good = edited(saved, setter("threshold", {**params, "cutoff": 2.0}))
    det = tsae.load(write(tmp_path / "ok.tsae", good, saved[1]), threads=1)
    assert det.threshold_.name == kind and det.threshold_.cutoff_ == 2.0
    for key, value in params.items():
        if key == "method":
            continue
        bad = copy.deepcopy(good)
        bad["threshold"][key] = "x" if value is not None else {"y": 1}
        with pytest.raises(ModelFileError, match=rf"header field 'threshold\.{key}'"):
            tsae.load(write(tmp_path / "bad.tsae", bad, saved[1]))


def test_pr_threshold_with_both_targets_is_refused(saved, tmp_path):
    both = {"method": "pr", "beta": 1.0, "target_precision": 0.9, "target_recall": 0.5, "expected": None, "cutoff": 1.0}
    path = write(tmp_path / "model.tsae", edited(saved, setter("threshold", both)), saved[1])
    with pytest.raises(ModelFileError, match="header field 'threshold' is invalid: give target_precision or"):
        tsae.load(path)


# ------------------------------------------------------------------ weights
def weight_cases(weights):
    name = "encoder.0.weight"
    return {
        "wrong shape": ({**weights, name: torch.zeros(16, 2, 5)}, f"weight '{name}' is float32 of shape [16, 2, 5]"),
        "wrong dtype": ({**weights, name: weights[name].double()}, f"weight '{name}' is float64"),
        "nan": ({**weights, name: torch.full_like(weights[name], math.nan)}, f"weight '{name}' holds non-finite"),
        "missing": ({k: v for k, v in weights.items() if k != name}, f"the weights lack '{name}'"),
        "extra": ({**weights, "head.weight": torch.ones(2)}, "the weights have extra 'head.weight'"),
    }


@pytest.mark.parametrize("case", ["wrong shape", "wrong dtype", "nan", "missing", "extra"])
def test_weights_must_match_the_model_the_header_describes(saved, tmp_path, case):
    weights, words = weight_cases(saved[1])[case]
    path = write(tmp_path / "model.tsae", saved[0], weights)
    with pytest.raises(ModelFileError) as info:
        tsae.load(path)
    assert str(info.value).startswith(f"{path} is not a valid tsae model: {words}")


@pytest.mark.parametrize("field, value", [("window", 16), ("model.params.width", 8), ("model.name", "dense")])
def test_a_header_describing_another_model_than_the_weights_is_refused(saved, tmp_path, field, value):
    path = write(tmp_path / "model.tsae", edited(saved, setter(field, value)), saved[1])
    with pytest.raises(ModelFileError, match=r"weight.*the header's model|the weights lack"):
        tsae.load(path)


def test_a_header_describing_a_huge_model_allocates_nothing(saved, tmp_path):
    # conv1d depth 4 (the most window 8 allows) with width 4096: ~10**9 weights, refused on the meta device
    header = edited(saved, setter("model.params", {"latent": 16, "width": 4096, "depth": 4}))
    path = write(tmp_path / "model.tsae", header, saved[1])
    with pytest.raises(
        ModelFileError, match=f"header field 'model.params' is invalid: .* more than the limit of {MAX_WEIGHTS:,}"
    ):
        tsae.load(path)


# ------------------------------------------------------------- what loads
def test_the_current_writer_is_read(saved, tmp_path):
    det = tsae.load(write(tmp_path / "model.tsae", saved[0], saved[1]), threads=1)
    assert det.channels_ == ["x0", "x1", "x2"] and det.ignored_columns_ == []
    assert det.scaler_.scale == saved[0]["scaler"]["scale"]


@pytest.mark.parametrize(
    "edit, check",
    [
        (dropper("channel_weights"), lambda det: det.channel_weights_ is None),
        (setter("channel_weights", None), lambda det: det.channel_weights_ is None),
        (dropper("ignored_columns"), lambda det: det.ignored_columns_ == []),
        (setter("ignored_columns", ["label", "host"]), lambda det: det.ignored_columns_ == ["label", "host"]),
        (setter("written_by", "a newer tsae"), lambda det: True),
        (setter("training", {}), lambda det: det.training_ == {}),
    ],
    ids=[
        "no channel weights",
        "null channel weights",
        "no ignored columns",
        "ignored columns",
        "unknown field",
        "empty training summary",
    ],
)
def test_optional_and_unknown_fields_load(saved, tmp_path, edit, check):
    det = tsae.load(write(tmp_path / "model.tsae", edited(saved, edit), saved[1]), threads=1)
    assert check(det)


def test_integer_channel_names_of_a_plain_dataframe_round_trip(tmp_path):
    frame = pd.DataFrame(np.c_[np.sin(np.arange(300) / 4), np.cos(np.arange(300) / 6)])  # columns 0 and 1
    det = tsae.Detector("dense", window=8, epochs=1, max_windows=32, threads=1).fit(frame)
    det.save(tmp_path / "model.tsae")
    again = tsae.load(tmp_path / "model.tsae", threads=1)
    assert again.channels_ == [0, 1]
    np.testing.assert_array_equal(again.score(frame).to_numpy(), det.score(frame).to_numpy())


# ---------------------------------------------------------- model parameters
@pytest.mark.parametrize(
    "params, words",
    [
        ({"latent": "8"}, "model parameter latent must be a positive integer, got '8'"),
        ({"depth": 2.5}, "model parameter depth must be a positive integer, got 2.5"),
        ({"width": True}, "model parameter width must be a positive integer, got True"),
        ({"depth": 0}, "model parameter depth must be a positive integer, got 0"),
        ({"depth": 50}, "model parameter depth must be at most 7 for conv1d (each stage halves the window of 64"),
        ({"width": 4097}, "model parameter width must be at most 4096 for conv1d"),
        ({"width": 4096, "depth": 7}, f"more than the limit of {MAX_WEIGHTS:,}"),
        ({"heads": 2}, "model 'conv1d' has no parameter heads"),
        ([16], "model parameters must be a dict"),
    ],
)
def test_model_parameters_are_checked_before_allocating(params, words):
    with pytest.raises(ConfigError) as info:
        build_model("conv1d", 2, 64, params)
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name, n_channels, window, params, words",
    [
        ("dense", 2, 64, {"depth": 17}, "depth must be at most 16 for dense (hidden layers)"),
        ("lstm", 2, 64, {"width": 4096, "depth": 16}, f"more than the limit of {MAX_WEIGHTS:,}"),
        ("dense", 10**6, 10**13, {}, "would have over 2**61 weights"),  # a first layer too large to be sized
    ],
)
def test_other_models_limits(name, n_channels, window, params, words):
    with pytest.raises(ConfigError) as info:
        build_model(name, n_channels, window, params)
    assert words in str(info.value)


def test_detector_fit_refuses_a_deep_conv1d_at_once():
    rng = np.random.default_rng(0)
    det = tsae.Detector(window=64, model_params={"depth": 50}, epochs=1, threads=1)
    with pytest.raises(ConfigError, match="model parameter depth must be at most 7"):
        det.fit(rng.normal(size=(2000, 2)))


def test_numpy_integers_are_parameters_too():
    _, resolved = build_model("dense", 2, 16, {"latent": np.int64(4)})
    assert resolved["latent"] == 4 and type(resolved["latent"]) is int


def test_the_skeleton_has_the_real_layout_and_no_memory():
    skeleton, _, resolved = model_skeleton("conv1d", 3, 64, {"width": 8})
    real, _ = build_model("conv1d", 3, 64, {"width": 8})
    assert resolved == {"latent": 16, "width": 8, "depth": 3}
    assert {k: tuple(v.shape) for k, v in skeleton.state_dict().items()} == {
        k: tuple(v.shape) for k, v in real.state_dict().items()
    }
    assert all(p.is_meta for p in skeleton.parameters())


def test_image_models_are_limited_too():
    with pytest.raises(ConfigError, match="latent must be at most 4096"):
        build_image_model("linear", {"latent": 10**9})
