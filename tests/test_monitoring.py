"""Monitoring real streams: the calibrated probability, continual learning, the
probability threshold and the cool-down, the same in batch, chunked file and stream."""

import copy
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import tsae
from tsae import ConfigError, Detector, ModelFileError
from tsae.filescore import iter_file_scores
from tsae.io import write_table
from tsae.monitor import Assessment
from tsae.options import LearningSettings

# The README's tolerance for stream vs batch: 1e-5 absolute + 1e-6 relative.
ATOL, RTOL = 1e-5, 1e-6
LEARN = "every=16,steps=2,buffer=300,batch=16"


def sine(n, seed=0, amplitude=1.0, offset=0.0, start=0):
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + n)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="min") + pd.Timedelta(minutes=start),
            "a": offset + amplitude * np.sin(2 * np.pi * t / 25) + 0.05 * rng.normal(size=n),
            "b": np.cos(2 * np.pi * t / 25) + 0.05 * rng.normal(size=n),
        }
    )


@pytest.fixture(scope="module")
def normal():
    return sine(1200)


@pytest.fixture(scope="module")
def drifting():
    """600 normal rows, then the first channel's level and amplitude change for good,
    with a spike at row 1500."""
    frame = pd.concat(
        [sine(600, seed=1, start=1200), sine(1200, seed=2, amplitude=1.6, offset=1.5, start=1800)], ignore_index=True
    )
    frame.loc[1500, "a"] += 6.0
    return frame


def fit(normal, **kwargs):
    settings = dict(window=16, epochs=3, max_windows=256, threads=1, seed=0) | kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Detector("conv1d", **settings).fit(normal)


@pytest.fixture(scope="module")
def learner(normal):
    return fit(normal, score_mode="causal", learning=LEARN)


@pytest.fixture(scope="module")
def window_learner(normal):
    return fit(normal, learning=LEARN)


COLUMNS = ["row", "score", "probability", "is_anomaly"]


def stream_rows(scorer, frame, flush=True):
    """Feed ``frame`` row by row (then flush): DataFrame row, score, probability, is_anomaly."""
    done = []
    for record in frame.to_dict("records"):
        event = scorer.update(record)
        if event.row is not None:
            done.append((event.row, event.score, event.probability, event.is_anomaly))
    if flush:
        done += list(scorer.flush()[COLUMNS].itertuples(index=False, name=None))
    return pd.DataFrame(done, columns=COLUMNS)


# -------------------------------------------------------------- calibration
@pytest.mark.parametrize("learning", ["off", LEARN])
def test_probability_is_causal_appending_rows_changes_nothing_before(normal, drifting, learning):
    det = fit(normal, score_mode="causal", learning=learning)
    whole = det.assess(drifting)
    for t in (100, 777, 1499):
        head = det.assess(drifting.iloc[:t])
        np.testing.assert_array_equal(head["probability"].to_numpy(), whole["probability"].to_numpy()[:t])
        np.testing.assert_array_equal(head["score"].to_numpy(), whole["score"].to_numpy()[:t])
    p = whole["probability"].to_numpy()
    assert np.isnan(p[:15]).all() and ((p[15:] >= 0) & (p[15:] <= 1)).all()
    assert p[1500] > 0.99  # the spike


def test_the_model_file_keeps_the_calibration_and_learning(learner, tmp_path, drifting):
    path = tmp_path / "m.tsae"
    learner.save(path)
    again = tsae.load(path, threads=1)
    assert again.learning_ == LearningSettings.parse(LEARN) and again.calibration_ == learner.calibration_
    assert learner.calibration_["n"] > 0  # started from the validation scores
    pd.testing.assert_frame_equal(again.assess(drifting), learner.assess(drifting))


def test_a_broken_calibration_or_learning_field_is_a_model_file_error(learner, tmp_path):
    from tsae.persist import load_model_file, save_model_file

    learner.save(tmp_path / "m.tsae")
    header, weights = load_model_file(tmp_path / "m.tsae")
    for field, value in (
        ("calibration", {"version": 1, "n": -1}),
        ("settings", {**header["settings"], "learning": {"every": 0}}),
    ):
        broken = {**header, field: value}
        save_model_file(tmp_path / "bad.tsae", broken, weights)
        with pytest.raises(ModelFileError, match=f"field '{field}") as info:
            tsae.load(tmp_path / "bad.tsae")
        assert "\n" not in str(info.value)


# ----------------------------------------------------------------- learning
def test_learning_follows_drift_and_leaves_the_fitted_model_alone(normal, drifting, learner):
    static = fit(normal, score_mode="causal")
    before = copy.deepcopy(learner.module_.state_dict())
    with_learning = learner.assess(drifting)["score"].to_numpy()
    without = static.assess(drifting)["score"].to_numpy()
    late = slice(1550, 1800)  # long after the drift began (row 600), the spike excluded
    assert np.nanmean(with_learning[late]) < 0.5 * np.nanmean(without[late])
    assert all(torch.equal(before[k], v) for k, v in learner.module_.state_dict().items())


def test_learning_is_deterministic(learner, drifting):
    a, b = learner.assess(drifting), learner.assess(drifting)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("which", ["learner", "window_learner"])
def test_stream_row_by_row_equals_batch_with_learning(request, drifting, which):
    det = request.getfixturevalue(which)
    batch = det.assess(drifting)
    got = stream_rows(det.streaming(threads=1), drifting)
    assert got["row"].tolist() == list(range(len(drifting)))
    for column in ("score", "probability"):  # one window per forward pass in both: bit-identical
        np.testing.assert_array_equal(got[column].to_numpy(), batch[column].to_numpy())
    assert np.array_equal(got["is_anomaly"].to_numpy(dtype=bool), batch["is_anomaly"].to_numpy())


def test_blocks_of_any_size_equal_batch_with_learning(learner, drifting):
    scorer, parts, start = learner.streaming(threads=1), [], 0
    for size in [1, 7, 16, 100, 3, 250, 5000]:
        parts.append(scorer.update_many(drifting.iloc[start : start + size]))
        start += size
    parts.append(scorer.flush())
    got = pd.concat(parts, ignore_index=True)
    batch = learner.assess(drifting)
    np.testing.assert_array_equal(got["score"].to_numpy(), batch["score"].to_numpy())
    np.testing.assert_array_equal(got["probability"].to_numpy(), batch["probability"].to_numpy())


def test_chunked_file_equals_batch_with_learning(window_learner, drifting, tmp_path):
    write_table(drifting, tmp_path / "d.csv")
    result = Assessment.concat([r for r, _ in iter_file_scores(window_learner, tmp_path / "d.csv", chunk_rows=333)])
    batch = window_learner.assess(pd.read_csv(tmp_path / "d.csv"))
    np.testing.assert_array_equal(result.score, batch["score"].to_numpy())
    np.testing.assert_array_equal(result.probability, batch["probability"].to_numpy())


@pytest.mark.parametrize("cut", [1, 16, 601, 1234])
def test_resume_from_json_state_mid_stream_equals_an_uninterrupted_run(learner, drifting, cut):
    whole = stream_rows(learner.streaming(threads=1), drifting)
    first = learner.streaming(threads=1)
    head = stream_rows(first, drifting.iloc[:cut], flush=False)
    state = json.loads(json.dumps(first.state_dict()))
    assert state["learning"]["seen"] == cut
    resumed = learner.streaming(state=state, threads=1)
    tail = stream_rows(resumed, drifting.iloc[cut:])
    got = pd.concat([head, tail], ignore_index=True)
    pd.testing.assert_frame_equal(got, whole)


def _state_after(det, frame):
    scorer = det.streaming(threads=1)
    scorer.update_many(frame)
    return scorer, json.loads(json.dumps(scorer.state_dict()))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s["learning"].update(weights=s["learning"]["weights"][:-8]), "learning.weights"),
        (lambda s: s["learning"].update(weights="not base64!"), "learning.weights"),
        (lambda s: s["learning"]["settings"].update(every=5), "learning.settings"),
        (lambda s: s["learning"].update(normal=[1] * len(s["learning"]["normal"])), "learning.normal"),
        (lambda s: s["learning"].update(seen=s["learning"]["seen"] + 1), "learner saw"),
        (lambda s: s["learning"].pop("adam"), "adam"),
        (lambda s: s.update(learning=None), "learning"),
        (lambda s: s["calibration"].update(var=-1.0), "calibration"),
        (lambda s: s["alarm"].update(last="x"), "alarm"),
    ],
)
def test_a_bad_learning_state_is_refused_in_one_line_and_changes_nothing(learner, drifting, mutate, message):
    _, state = _state_after(learner, drifting.iloc[:200])
    mutate(state)
    scorer = learner.streaming(threads=1)
    scorer.update_many(drifting.iloc[:50])
    before = json.dumps(scorer.state_dict())
    with pytest.raises(ConfigError, match=message) as info:
        scorer.load_state_dict(state)
    assert str(info.value).startswith("stream state ") and "\n" not in str(info.value)
    assert json.dumps(scorer.state_dict()) == before


def test_a_learning_state_cannot_resume_a_stream_without_learning(learner, drifting):
    _, state = _state_after(learner, drifting.iloc[:100])
    with pytest.raises(ConfigError, match="does not learn"):
        learner.streaming(state=state, threads=1, learning="off")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("every=0", "every must be a positive integer"),
        ("speed=3", "keys every, steps"),
        ("every=x", "every must be a number"),
        ("normal_below=1.5", "normal_below"),
        ("lr=-1", "lr must"),
        ("sometimes", "learning must be on, off"),
    ],
)
def test_bad_learning_settings_are_config_errors(normal, spec, message):
    with pytest.raises(ConfigError, match=message):
        Detector(learning=spec).fit(normal)


def test_learning_settings_parse():
    assert LearningSettings.parse("off") is None and LearningSettings.parse(None) is None
    assert LearningSettings.parse("on") == LearningSettings()
    assert LearningSettings.parse("every=5, steps=2, lr=0.01") == LearningSettings(every=5, steps=2, lr=0.01)


# ------------------------------------------------- probability threshold, cool-down
def test_probability_threshold_flags_probabilities_and_survives_a_save(normal, drifting, tmp_path):
    det = fit(normal, score_mode="causal", threshold="probability:0.99")
    got = det.assess(drifting)
    expected = np.nan_to_num(got["probability"].to_numpy(), nan=0) > 0.99
    assert np.array_equal(got["is_anomaly"].to_numpy(), expected) and expected.any()
    with pytest.raises(ConfigError, match="use Detector.assess"):
        det.flags(got["score"].to_numpy())
    det.save(tmp_path / "p.tsae")
    assert str(tsae.load(tmp_path / "p.tsae").threshold_) == "probability:0.99"


def test_stream_cooldown_equals_the_batch_event_rule(normal, drifting):
    det = fit(normal, score_mode="causal", threshold="probability:0.9", events={"cooldown": 40})
    batch = det.assess(drifting)
    plain = det.events_.apply(np.nan_to_num(batch["probability"].to_numpy(), nan=0) > 0.9)
    assert np.array_equal(batch["is_anomaly"].to_numpy(), plain)
    got = stream_rows(det.streaming(threads=1), drifting)
    assert np.array_equal(got["is_anomaly"].to_numpy(dtype=bool), plain)
    raw = np.nan_to_num(batch["probability"].to_numpy(), nan=0) > 0.9
    assert plain.sum() < raw.sum()  # the cool-down silenced something


def test_cli_fit_with_learning_then_stream_and_score_give_probabilities(normal, drifting, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    write_table(normal, tmp_path / "normal.csv")
    write_table(drifting.iloc[:300], tmp_path / "new.csv")
    runner = CliRunner()
    fitted = runner.invoke(
        app,
        [
            "fit",
            str(tmp_path / "normal.csv"),
            "-o",
            str(tmp_path / "m.tsae"),
            "--window",
            "16",
            "--epochs",
            "2",
            "--score-mode",
            "causal",
            "--learning",
            LEARN,
            "-q",
            "--threads",
            "1",
        ],
    )
    assert fitted.exit_code == 0, fitted.output
    assert tsae.load(tmp_path / "m.tsae").learning_ == LearningSettings.parse(LEARN)
    scored = runner.invoke(
        app,
        [
            "score",
            str(tmp_path / "new.csv"),
            "-m",
            str(tmp_path / "m.tsae"),
            "-o",
            str(tmp_path / "s.csv"),
            "--threads",
            "1",
        ],
    )
    assert scored.exit_code == 0, scored.output
    table = pd.read_csv(tmp_path / "s.csv")
    lines = (tmp_path / "new.csv").read_text()
    streamed = runner.invoke(app, ["stream", "-m", str(tmp_path / "m.tsae"), "--threads", "1"], input=lines)
    assert streamed.exit_code == 0, streamed.output
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert len(events) == 300 and all("probability" in e for e in events)
    got = np.array([math.nan if e["probability"] is None else e["probability"] for e in events])
    np.testing.assert_allclose(got, table["probability"].to_numpy(), rtol=RTOL, atol=ATOL)
    off = runner.invoke(
        app, ["stream", "-m", str(tmp_path / "m.tsae"), "--threads", "1", "--learning", "off"], input=lines
    )
    assert off.exit_code == 0 and len(off.stdout.splitlines()) == 300


# --------------------------------------------------------------- cold start
def test_cold_start_fits_on_the_first_rows_then_scores_as_the_fitted_detector(drifting):
    from tsae.coldstart import ColdStartScorer

    template = Detector("conv1d", window=16, epochs=2, max_windows=256, threads=1, score_mode="causal", learning=LEARN)
    fitted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = ColdStartScorer(template, warmup=400, threads=1, on_fit=fitted.append)
        events = [cold.update(r) for r in drifting.to_dict("records")]
    assert not hasattr(template, "module_")  # the template is not fitted itself
    assert fitted == [cold.detector] and cold.rows == len(drifting)
    head = events[:400]
    assert all(not e.ready and math.isnan(e.score) for e in head)
    assert [e.row for e in head] == list(range(400)) and head[5].timestamp == drifting["timestamp"][5]
    expected = cold.detector.assess(drifting)
    got = np.array([e.score for e in events[400:]])
    np.testing.assert_array_equal(got, expected["score"].to_numpy()[400:])
    assert [e.row for e in events[400:]] == list(range(400, len(drifting)))


def test_cold_start_that_cannot_fit_says_why(drifting):
    from tsae.coldstart import ColdStartScorer

    cold = ColdStartScorer(Detector(window=64, threads=1), warmup=50)
    with pytest.raises(ConfigError, match="cold start: the first 50 stream rows has 50 rows"):
        for record in drifting.iloc[:50].to_dict("records"):
            cold.update(record)
    with pytest.raises(ConfigError, match="warmup"):
        ColdStartScorer(warmup=0)


def test_cli_stream_cold_start_writes_the_model_and_one_line_per_row(drifting, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    lines = drifting.iloc[:500].to_csv(index=False)
    model = tmp_path / "new.tsae"
    result = CliRunner().invoke(app, ["stream", "-m", str(model), "--warmup", "300", "--threads", "1"], input=lines)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["row"] for e in events] == list(range(500))
    assert not any(e["ready"] for e in events[:300]) and events[-1]["ready"]
    assert tsae.load(model).score_mode == "causal"
    short = CliRunner().invoke(
        app, ["stream", "-m", str(tmp_path / "none.tsae"), "--warmup", "20", "--threads", "1"], input=lines
    )
    assert short.exit_code == 1 and "cold start" in short.stderr and len(short.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.tsae").exists()


def test_a_model_file_without_calibration_starts_it_afresh(learner, tmp_path, drifting):
    from tsae.persist import load_model_file, save_model_file

    learner.save(tmp_path / "m.tsae")
    header, weights = load_model_file(tmp_path / "m.tsae")
    old = {k: v for k, v in header.items() if k != "calibration"}
    old["settings"] = {k: v for k, v in header["settings"].items() if k != "learning"}
    save_model_file(tmp_path / "old.tsae", old, weights)  # as written before calibration existed
    det = tsae.load(tmp_path / "old.tsae", threads=1)
    assert det.calibration_ is None and det.learning_ is None
    p = det.assess(drifting)["probability"].to_numpy()
    assert np.all(p[15:115] == 0.5) and not np.all(p[115:] == 0.5)  # a fresh calibrator's warm-up


@pytest.mark.slow
def test_readme_monitoring_example_on_nab_machine_temperature():
    """README's *Monitoring real streams* example, on the real file: the same 19 alarms."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "nab"
    path = path / "machine_temperature_system_failure.csv"
    if not path.parent.parent.is_dir():
        pytest.skip(f"{path.parent.parent} absent")
    data = pd.read_csv(path).drop(columns="label")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector(
            score_mode="causal", learning="on", threshold="probability:0.999999999", events={"cooldown": 50}, threads=1
        ).fit(data.iloc[:750])
    alarms = det.assess(data).query("is_anomaly")
    assert len(alarms) == 19
    assert alarms.index[0] == 11680 and alarms.index[1] == 18044 and alarms.index[-1] == 19613
    np.testing.assert_allclose(alarms["score"].iloc[0], 82.1, atol=0.05)
