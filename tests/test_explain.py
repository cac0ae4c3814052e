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


@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
def test_parts_sum_to_the_score_and_name_the_culprit(frame, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=3, max_windows=256, threads=1, score_mode=mode).fit(frame.iloc[:1000])
    parts = det.explain(frame)
    scores = det.score(frame)
    assert list(parts.columns) == det.channels_ and parts.index.equals(frame.index)
    total = parts.sum(axis=1, min_count=1).to_numpy()
    np.testing.assert_allclose(total, scores.to_numpy(), rtol=1e-5, atol=1e-9)  # NaN (causal head) == NaN
    anomaly = parts.loc[1205:1225]
    assert (anomaly.idxmax(axis=1) == "c4").all()  # the channel that jumped
    assert anomaly["c4"].mean() > 0.9 * anomaly.sum(axis=1).mean()


def test_explain_with_continual_learning_is_refused(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=1, max_windows=64, threads=1, learning="on").fit(frame.iloc[:1000])
    with pytest.raises(ConfigError, match="continual learning"):
        det.explain(frame)


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
