"""Contract suite over every registered model, plus scoring semantics."""

import copy

import numpy as np
import pandas as pd
import pytest

from tsae import Detector, NotFittedError, list_models, load, metrics
from tsae.errors import ConfigError, DataError, ModelFileError, TsaeWarning
from tsae.persist import load_model_file, save_model_file
from tsae.scoring import window_errors
from tsae.windows import sliding_windows

MODELS = list_models()


def test_registry_has_the_three_time_series_models():
    assert {"conv1d", "lstm", "dense"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_fit_returns_self(name, train):
    det = Detector(name, window=16, epochs=1, max_windows=64, threads=1)
    assert det.fit(train.iloc[:400]) is det


@pytest.mark.parametrize("name", MODELS)
def test_unfitted_use_raises(name, signal):
    det = Detector(name)
    for call in (det.score, det.predict):
        with pytest.raises(NotFittedError, match="not fitted"):
            call(signal)
    with pytest.raises(NotFittedError):
        det.save("never-written.tsae")


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_scores_other_seed_differs(name, train):
    small = train.iloc[:800]
    kw = dict(window=16, epochs=2, max_windows=128, threads=1)
    a = Detector(name, seed=3, **kw).fit(small).score(small)
    b = Detector(name, seed=3, **kw).fit(small).score(small)
    c = Detector(name, seed=4, **kw).fit(small).score(small)
    assert np.array_equal(a.to_numpy(), b.to_numpy())
    assert not np.allclose(a.to_numpy(), c.to_numpy())


@pytest.mark.parametrize("name", MODELS)
def test_save_load_gives_identical_scores_and_flags(name, fitted, signal, tmp_path):
    det = fitted[name]
    det.save(tmp_path / "m.tsae")
    again = load(tmp_path / "m.tsae", threads=1)
    assert again.window_ == det.window_ and again.channels_ == det.channels_
    assert np.array_equal(again.score(signal).to_numpy(), det.score(signal).to_numpy())
    assert np.array_equal(again.predict(signal).to_numpy(), det.predict(signal).to_numpy())
    assert again.threshold_.cutoff_ == det.threshold_.cutoff_


@pytest.mark.parametrize("name", MODELS)
def test_inputs_are_not_mutated(name, signal):
    frame = signal.iloc[:600].copy()
    frame.loc[frame.index[10], "ch0"] = np.nan  # a gap the detector fills internally
    before = frame.copy()
    det = Detector(name, window=16, epochs=1, max_windows=64, threads=1).fit(frame)
    det.score(frame)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("name", MODELS)
def test_finds_the_injected_anomalies(name, fitted, signal):
    """Range-aware (VUS-ROC, buffer = the window): the default score spreads a spike's
    error over the windows that hold it, which a point-wise AUC-ROC counts against it."""
    test = signal.iloc[signal.attrs["train_end"] :]
    scores = fitted[name].score(test).to_numpy()
    assert metrics.vus_roc(test["label"].to_numpy(), scores, sliding_window=fitted[name].window_) >= 0.95


def _errors(det, part):
    """Channel-weighted errors (n_windows, W) of ``part``'s stride-1 windows."""
    x = det.scaler_.transform(part[det.channels_].to_numpy())
    return window_errors(
        det.module_,
        sliding_windows(x, det.window_),
        det.device_,
        channel_weights=det.channel_weights_,
        neighbors=det.neighbors_,
    )


def _reference(det, part, mode: str, stride: int) -> np.ndarray:
    """The documented score, the slow obvious way: every ``stride``-th window from the
    first row; a point's score is the mean over the scored windows covering it of their
    mean error (window) or of their error at its position (overlap); the points after
    the last scored window get the window ending at the last point."""
    errors = _errors(det, part)  # (n_windows, W), every stride-1 window
    n, w = len(part), det.window_
    total, count = np.zeros(n), np.zeros(n)
    for g in range(0, n - w + 1, stride):
        total[g : g + w] += errors[g].mean() if mode == "window" else errors[g]
        count[g : g + w] += 1
    last = errors[-1].mean() if mode == "window" else errors[-1]
    tail = count == 0
    total[tail] = np.broadcast_to(last, (w,))[-tail.sum() :] if tail.any() else 0
    return total / np.maximum(count, 1)


@pytest.mark.parametrize("mode", ["window", "overlap"])
@pytest.mark.parametrize("name", MODELS)
def test_score_is_the_documented_mean_over_the_scored_windows(name, mode, fitted, signal):
    """Both modes, every window (stride 1), a stride, and one that leaves a tail."""
    det = copy.copy(fitted[name])
    det.score_mode = mode
    part = signal.iloc[:300]  # 285 windows of 16: strides 4 and 9 leave 0 and 5 points after the last
    for stride in (1, 4, det.window_ // 2 + 1):
        det.stride_ = stride
        expected = _reference(det, part, mode, stride)
        np.testing.assert_allclose(det.score(part).to_numpy(), expected, rtol=1e-5, err_msg=f"stride {stride}")


def test_channel_weights_are_the_inverse_mean_validation_error_per_channel(fitted, train):
    det = fitted["conv1d"]
    n_train = det.training_["train_rows"]
    x = det.scaler_.transform(train[det.channels_].to_numpy())[n_train:]
    errors = window_errors(det.module_, sliding_windows(x, det.window_), det.device_, channel_weights=[1.0, 0.0])
    # channel 0 alone (weights 1, 0), averaged over 2 channels: half its mean error
    np.testing.assert_allclose(1 / det.channel_weights_[0], 2 * errors.mean(), rtol=1e-4)


def _rewrite_header(src, dst, edit):
    header, weights = load_model_file(src)
    edit(header)
    if "neighbors" not in header:  # a file from before the nearest-window distance
        weights.pop("neighbors.reference", None)
    save_model_file(
        dst, {k: v for k, v in header.items() if k not in ("format", "format_version", "checksum")}, weights
    )


def test_model_file_without_channel_weights_scores_unweighted_errors(fitted, signal, tmp_path):
    """Files written before channel weights existed still load and score as they did."""
    det = fitted["conv1d"]
    det.save(tmp_path / "m.tsae")
    # neither channel weights, strides nor the nearest-window distance existed then
    _rewrite_header(
        tmp_path / "m.tsae",
        tmp_path / "old.tsae",
        lambda h: [h.pop("channel_weights"), h.pop("stride"), h.pop("neighbors"), h["params"].pop("discord")],
    )
    old = load(tmp_path / "old.tsae", threads=1)
    assert old.channel_weights_ is None and old.stride_ == 1
    part = signal.iloc[:300]
    x = det.scaler_.transform(part[det.channels_].to_numpy())
    per_window = window_errors(det.module_, sliding_windows(x, det.window_), det.device_).mean(axis=1)
    w = det.window_
    expected = [per_window[max(0, p - w + 1) : p + 1].mean() for p in range(len(part))]
    np.testing.assert_allclose(old.score(part).to_numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -2.0], [1.0, "x"], [1.0, float("nan")]])
def test_model_file_with_bad_channel_weights_is_rejected(fitted, tmp_path, weights):
    fitted["conv1d"].save(tmp_path / "m.tsae")
    _rewrite_header(tmp_path / "m.tsae", tmp_path / "bad.tsae", lambda h: h.update(channel_weights=weights))
    with pytest.raises(ModelFileError, match="not a valid tsae model.*channel_weights"):
        load(tmp_path / "bad.tsae")


def test_channel_weights_floor_keeps_a_perfect_channel_from_dominating(train):
    frame = train.iloc[:1500].copy()
    frame["flat"] = 5.0  # reconstructed almost exactly (a constant 0/1 flag would be left out)
    with pytest.warns(TsaeWarning, match="column\\(s\\) flat are constant"):
        det = Detector("dense", window=16, epochs=2, max_windows=256, threads=1).fit(frame)
    w = det.channel_weights_
    assert len(w) == 3 and np.all(np.isfinite(w))
    divisors = 1 / w  # channel 2's: the floor, a tenth of the mean of the channels' raw mean errors
    assert divisors[2] == pytest.approx(0.1 * divisors[:2].sum() / 3, rel=1e-2)


def test_causal_mode_scores_the_window_ending_at_each_point(train):
    det = Detector("dense", window=16, epochs=1, max_windows=64, threads=1, score_mode="causal").fit(train.iloc[:500])
    part = train.iloc[:100]
    scores = det.score(part).to_numpy()
    assert np.isnan(scores[:15]).all() and not det.predict(part).to_numpy()[:15].any()
    expected = _errors(det, part)[:, -1]  # the error at the newest position of each window
    np.testing.assert_allclose(scores[15:], expected, rtol=1e-5)


def test_block_pushes_equal_whole_series(fitted, signal):
    det = fitted["conv1d"]
    x = det.scaler_.transform(signal[det.channels_].to_numpy()[:700])
    whole = det._monitor().scorer  # the point scorer alone
    expected = np.concatenate([whole.push(x), whole.flush()])
    blocks = det._monitor().scorer
    got, i = [], 0
    for size in [1, 5, 31, 32, 33, 100, 1, 497]:
        got.append(blocks.push(x[i : i + size]))
        i += size
    got.append(blocks.flush())
    assert np.array_equal(np.concatenate(got), expected)  # bit-identical, not just close


def test_predict_is_threshold_of_score(fitted, signal):
    det = fitted["conv1d"]
    scores = det.score(signal)
    assert det.predict(signal).dtype == bool
    assert (det.predict(signal) == (scores > det.threshold_.cutoff_)).all()


def test_threshold_is_the_percentile_of_validation_scores(fitted, train):
    det = fitted["conv1d"]
    n_val = det.training_["val_rows"]
    val_scores = det.score(train.iloc[-n_val:])
    assert det.threshold_.cutoff_ == pytest.approx(np.percentile(val_scores, 99.5))


def test_numpy_input_and_channel_count_check():
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(1200) / 5)[:, None] + 0.05 * rng.normal(size=(1200, 2))
    det = Detector("dense", window=20, epochs=1, max_windows=64, threads=1).fit(x)
    assert det.channels_ == ["x0", "x1"]
    assert len(det.score(x)) == 1200
    with pytest.raises(DataError, match="model has 2 channels, input has 3"):
        det.score(np.zeros((100, 3)))


def test_auto_window_follows_the_period():
    t = np.arange(5000)
    x = np.sin(2 * np.pi * t / 50) + 0.1 * np.random.default_rng(0).normal(size=5000)
    det = Detector("dense", epochs=1, max_windows=64, threads=1).fit(x)
    assert 45 <= det.window_ <= 55


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "transformer"}, "unknown model 'transformer'"),
        ({"window": 1}, "window must be"),
        ({"noise": "salt:0.1"}, "noise must be"),
        ({"threshold": "percentile:150"}, "between 0 and 100"),
        ({"threshold": "magic:3"}, "threshold method 'magic' unknown"),
        ({"scaling": "log"}, "scaling must be"),
        ({"score_mode": "future"}, "score_mode must be"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"model_params": {"heads": 4}}, "has no parameter heads"),
        ({"device": "tpu"}, "device must be"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, match, train):
    with pytest.raises(ConfigError, match=match):
        Detector(**{"window": 16, "epochs": 1, "threads": 1, **kwargs}).fit(train.iloc[:300])


def test_too_short_series_is_a_clear_error(fitted, signal):
    with pytest.raises(DataError, match="fewer than the model's window of 64"):
        fitted["conv1d"].score(signal.iloc[:50])
    with pytest.raises(DataError, match="window 64 needs at least"):
        Detector(window=64, threads=1).fit(signal.iloc[:100])


def test_channel_weights_let_a_quiet_channel_count():
    """An anomaly in a well-reconstructed channel stands out only once each channel's
    error is measured against its own normal error."""
    rng = np.random.default_rng(0)
    t = np.arange(4000)
    noisy = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.8, len(t))  # hard to reconstruct
    quiet = np.sin(2 * np.pi * t / 50 + 1) + rng.normal(0, 0.02, len(t))  # easy to reconstruct
    labels = np.zeros(len(t), dtype=int)
    labels[3300:3340] = 1
    quiet[3300:3340] += 0.3  # small in the noisy channel's units
    frame = pd.DataFrame({"noisy": noisy, "quiet": quiet})
    det = Detector("dense", window=50, epochs=10, threads=1, seed=0).fit(frame.iloc[:2500])
    weighted = det.score(frame.iloc[2500:]).to_numpy()
    unweighted_det = copy.copy(det)
    unweighted_det.channel_weights_ = None
    unweighted = unweighted_det.score(frame.iloc[2500:]).to_numpy()
    y = labels[2500:]
    assert det.channel_weights_[1] > 5 * det.channel_weights_[0]
    assert metrics.auc_pr(y, weighted) > 0.9 > 0.3 > metrics.auc_pr(y, unweighted)  # measured: 0.998, 0.107


@pytest.mark.parametrize(
    "options, words",
    [
        (dict(stride=0), "stride must be an integer >= 1 or 'auto'"),
        (dict(stride="4"), "stride must be an integer >= 1 or 'auto'"),
        (dict(stride=17), "stride 17 is longer than the window of 16"),
        (dict(stride=2, score_mode="causal"), "stride must be 1 with score_mode 'causal'"),
    ],
)
def test_a_stride_that_cannot_work_is_refused_before_training(train, options, words):
    with pytest.raises(ConfigError, match=words):
        Detector("dense", window=16, epochs=1, threads=1, **options).fit(train)


def test_auto_stride_keeps_every_point_under_sixteen_windows(train):
    det = Detector("dense", window=64, epochs=1, max_windows=64, threads=1).fit(train)
    assert det.stride_ == 4
    causal = Detector("dense", window=64, epochs=1, max_windows=64, threads=1, score_mode="causal").fit(train)
    assert causal.stride_ == 1


@pytest.mark.parametrize("stride, words", [(0, "integer >= 1"), (65, "at most 64"), ("2", "integer >= 1")])
def test_a_model_file_with_a_bad_stride_is_rejected(fitted, tmp_path, stride, words):
    fitted["dense"].save(tmp_path / "m.tsae")
    _rewrite_header(tmp_path / "m.tsae", tmp_path / "bad.tsae", lambda h: h.update(stride=stride))
    with pytest.raises(ModelFileError, match=f"not a valid tsae model: header field 'stride'.*{words}"):
        load(tmp_path / "bad.tsae")


def test_the_stride_survives_save_and_load(train, tmp_path):
    det = Detector("dense", window=64, stride=8, epochs=1, max_windows=64, threads=1).fit(train)
    det.save(tmp_path / "m.tsae")
    back = load(tmp_path / "m.tsae", threads=1)
    assert (back.stride, back.stride_) == (8, 8)
    frame = train.iloc[:500]
    assert np.array_equal(back.score(frame).to_numpy(), det.score(frame).to_numpy())
