"""`tsae plot` and tsae.plots.plot_file: a picture of the user's own file."""

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tsae import Detector
from tsae.io import write_table
from tsae.plots import plot_file
from tsae_cli.main import app

PNG = b"\x89PNG\r\n\x1a\n"


def wide(n=1500, channels=12, culprit=7, seed=0):
    """``channels`` sine channels; rows 1200-1230 of channel ``c{culprit}`` jump by 6."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame = pd.DataFrame(
        {f"c{j}": np.sin(2 * np.pi * t / (20 + j)) + 0.05 * rng.normal(size=n) for j in range(channels)}
    )
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=n, freq="min"))
    frame.loc[1200:1230, f"c{culprit}"] += 6.0
    frame["label"] = 0
    frame.loc[1200:1230, "label"] = 1
    return frame


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot")
    frame = wide()
    write_table(frame, folder / "data.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=3, max_windows=256, threads=1).fit(frame.iloc[:1000])
    det.save(folder / "model.tsae")
    return folder, det, frame


def test_plot_command_writes_a_png_of_the_file(fitted):
    folder, _, _ = fitted
    result = CliRunner().invoke(
        app,
        [
            "plot",
            str(folder / "data.csv"),
            "-m",
            str(folder / "model.tsae"),
            "-o",
            str(folder / "p.png"),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (folder / "p.png").read_bytes()[:8] == PNG
    assert "drew 1500 rows" in result.stderr and "c7" in result.stderr


def test_many_channels_draws_those_that_deviate_where_flagged(fitted):
    folder, det, frame = fitted
    drawn = plot_file(det, frame.drop(columns="label"), folder / "q.png", frame["label"].to_numpy())
    assert len(drawn["channels"]) == 8 and "c7" in drawn["channels"] and drawn["flagged"] > 0


@pytest.mark.parametrize("out, message", [("p.txt", "unsupported image type"), ("data.csv", "input")])
def test_plot_refuses_a_bad_output_in_one_line(fitted, out, message):
    folder, _, _ = fitted
    before = (folder / "data.csv").read_bytes()
    result = CliRunner().invoke(
        app, ["plot", str(folder / "data.csv"), "-m", str(folder / "model.tsae"), "-o", str(folder / out)]
    )
    assert result.exit_code == 1 and message in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1
    assert (folder / "data.csv").read_bytes() == before and not (folder / "p.txt").exists()


def test_score_plot_draws_the_file_with_the_scores(fitted):
    folder, _, _ = fitted
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(folder / "data.csv"),
            "-m",
            str(folder / "model.tsae"),
            "-o",
            str(folder / "s.csv"),
            "--plot",
            str(folder / "s.png"),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (folder / "s.png").read_bytes()[:8] == PNG and (folder / "s.csv").stat().st_size > 0
    assert "drew 1500 rows" in result.stderr
    bad = CliRunner().invoke(
        app,
        [
            "score",
            str(folder / "data.csv"),
            "-m",
            str(folder / "model.tsae"),
            "-o",
            str(folder / "t.csv"),
            "--plot",
            str(folder / "s.txt"),
        ],
    )
    assert bad.exit_code == 1 and not (folder / "t.csv").exists()  # refused before any work
