"""Detector.explain: each channel's part of the score, summing to it, and naming the
channel that carries an anomaly."""

import warnings

import numpy as np
import pytest
from test_plot_cli import wide

from tsae import ConfigError, Detector


@pytest.fixture(scope="module")
def frame():
    return wide(channels=6, culprit=4).drop(columns="label")


@pytest.mark.parametrize("discord", [0.0, 2.0])
@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
def test_parts_sum_to_the_score_and_name_the_culprit(frame, mode, discord):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=3, max_windows=256, threads=1, score_mode=mode, discord=discord).fit(
            frame.iloc[:1000]
        )
    parts = det.explain(frame)
    scores = det.score(frame)
    assert list(parts.columns) == det.channels_ and parts.index.equals(frame.index)
    total = parts.sum(axis=1, min_count=1).to_numpy()
    np.testing.assert_allclose(total, scores.to_numpy(), rtol=1e-5, atol=1e-9)  # NaN (causal head) == NaN
    anomaly = parts.loc[1205:1225]
    assert (anomaly.idxmax(axis=1) == "c4").all()  # the channel that jumped
    # nearly all of it: the distance's part is split like the reconstruction error
    assert anomaly["c4"].mean() > 0.9 * anomaly.sum(axis=1).mean()


def test_explain_with_continual_learning_sums_to_its_scores(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=1, max_windows=64, threads=1, learning="every=50,steps=2").fit(
            frame.iloc[:1000]
        )
    parts, scores = det.explain(frame), det.score(frame)
    np.testing.assert_allclose(parts.sum(axis=1).to_numpy(), scores.to_numpy(), rtol=1e-5, atol=1e-9)


def test_score_explain_names_the_culprit_per_row_and_per_event(frame, tmp_path):
    from typer.testing import CliRunner

    from tsae.io import read_table, write_table
    from tsae_cli.main import app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=3, max_windows=256, threads=1).fit(frame.iloc[:1000])
    det.save(tmp_path / "m.tsae")
    write_table(frame, tmp_path / "d.csv")
    runner = CliRunner()
    args = ["score", str(tmp_path / "d.csv"), "-m", str(tmp_path / "m.tsae"), "--threads", "1", "--explain", "2"]
    rows = runner.invoke(app, args + ["-o", str(tmp_path / "rows.csv")])
    assert rows.exit_code == 0, rows.output
    table = read_table(tmp_path / "rows.csv")
    assert list(table.columns) == ["timestamp", "score", "probability", "is_anomaly", "top_channels"]
    assert table["top_channels"].iloc[1210].startswith("c4=") and table["top_channels"].iloc[1210].count(";") == 1
    events = runner.invoke(app, args + ["--events", "-o", str(tmp_path / "events.csv")])
    assert events.exit_code == 0, events.output
    found = read_table(tmp_path / "events.csv")
    hit = found[(found["start"] <= 1215) & (found["end"] >= 1205)]
    assert len(hit) == 1 and hit["top_channels"].iloc[0].startswith("c4=")


@pytest.fixture(scope="module")
def window_model(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Detector("dense", window=16, epochs=3, max_windows=256, threads=1).fit(frame.iloc[:1000])


def _stream_parts(scorer, rows):
    done = []
    for record in rows:
        event = scorer.update(record)
        if event.row is not None:
            done.append((event.row, event.score, [event.parts[c] for c in scorer.channels]))
    return done


def test_stream_parts_equal_the_batch_parts_and_sum_to_the_scores(window_model, frame):
    scorer = window_model.streaming(threads=1, explain=True)
    done = _stream_parts(scorer, frame.to_dict("records"))
    rest = scorer.flush()
    rows = [r for r, _, _ in done] + rest["row"].tolist()
    parts = np.vstack([np.array([p for _, _, p in done]), rest[[f"part:{c}" for c in scorer.channels]].to_numpy()])
    scores = np.r_[[s for _, s, _ in done], rest["score"].to_numpy()]
    assert rows == list(range(len(frame)))
    np.testing.assert_allclose(parts.sum(axis=1), scores, rtol=1e-5)
    np.testing.assert_allclose(parts, window_model.explain(frame).to_numpy(), rtol=1e-5, atol=1e-7)


def test_stream_parts_resume_from_a_json_state(window_model, frame):
    import json

    records = frame.to_dict("records")
    whole = _stream_parts(window_model.streaming(threads=1, explain=True), records)
    first = window_model.streaming(threads=1, explain=True)
    head = _stream_parts(first, records[:700])
    state = json.loads(json.dumps(first.state_dict()))
    assert len(state["scorer"]["pending_parts"]) == 15
    tail = _stream_parts(window_model.streaming(state=state, threads=1, explain=True), records[700:])
    assert [r for r, _, _ in head + tail] == [r for r, _, _ in whole]
    np.testing.assert_array_equal(np.array([p for *_, p in head + tail]), np.array([p for *_, p in whole]))
    state["scorer"]["pending_parts"][0][0] = -1.0
    with pytest.raises(ConfigError, match="pending_parts"):
        window_model.streaming(state=state, threads=1, explain=True)
    with pytest.raises(ConfigError, match="pending_parts"):  # an explaining state for a stream that does not explain
        window_model.streaming(state=json.loads(json.dumps(first.state_dict())), threads=1)


def test_cli_stream_explain_names_the_culprit(window_model, frame, tmp_path):
    import json

    from typer.testing import CliRunner

    from tsae_cli.main import app

    window_model.save(tmp_path / "m.tsae")
    lines = frame.iloc[1100:1300].to_csv(index=False)
    result = CliRunner().invoke(
        app, ["stream", "-m", str(tmp_path / "m.tsae"), "--explain", "2", "--threads", "1"], input=lines
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 200 and all("top_channels" in e for e in events)
    assert events[110]["top_channels"].startswith("c4=")  # row 1210 of the file: c4 jumped
