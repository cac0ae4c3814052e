"""`tsae fit --by` / `tsae score --by`: one model per series from a directory or a glob."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tsae.fleet import fit_fleet, score_fleet
from tsae_cli.main import app

FAST = ["--window", "16", "--epochs", "2", "--max-windows", "64", "--quiet"]
PARAMS = {"window": 16, "epochs": 2, "max_windows": 64}


def series(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.sin(np.arange(n) * 2 * np.pi / 20) + 0.1 * rng.normal(size=n)
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="min"), "value": values})


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """pump0..2 (300 rows) and pump3 (30 rows, too short), as a Hive-partitioned Parquet
    directory (the key in the folder names) and as one CSV per series (the key a column)."""
    root = tmp_path_factory.mktemp("fleet")
    frames = {f"pump{k}": series(30 if k == 3 else 300, k) for k in range(4)}
    for key, frame in frames.items():
        (root / "parts" / f"series_id={key}").mkdir(parents=True)
        frame.to_parquet(root / "parts" / f"series_id={key}" / "data.parquet")
        frame.assign(series_id=key).to_csv(root / f"{key}.csv", index=False)
    everything = pd.concat([f.assign(series_id=k) for k, f in frames.items()], ignore_index=True)
    return root, everything


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_fit_by_writes_one_model_per_series_and_names_the_failures(fleet, tmp_path):
    root, everything = fleet
    result = run("fit", "--by", "series_id", root / "parts", "-o", tmp_path / "models.parquet", *FAST)
    assert result.exit_code == 0, result.output
    assert "not fitted: series series_id=pump3 has 30 rows" in result.output
    models = pd.read_parquet(tmp_path / "models.parquet")
    expected = fit_fleet(everything, "series_id", PARAMS, on_error="record")
    assert list(models["series_id"]) == ["pump0", "pump1", "pump2", "pump3"]
    assert list(models["fingerprint"][:3]) == list(expected["fingerprint"][:3])
    assert list(models["error"].notna()) == [False, False, False, True]


def test_score_by_equals_the_grouped_layer_and_refuses_a_series_without_model(fleet, tmp_path):
    root, everything = fleet
    models = tmp_path / "models.parquet"
    assert run("fit", "--by", "series_id", root / "pump[0-2].csv", "-o", models, *FAST).exit_code == 0
    out = tmp_path / "scores.parquet"
    result = run("score", "--by", "series_id", root / "pump[0-2].csv", "-m", models, "-o", out)
    assert result.exit_code == 0, result.output
    assert "scored 900 rows of 3 series" in result.output
    three = everything[everything["series_id"] != "pump3"]
    expected = score_fleet(three, fit_fleet(three, "series_id", PARAMS), "series_id")
    np.testing.assert_array_equal(pd.read_parquet(out)["score"], expected["score"])
    # pump3 has no model: one line, exit 1, nothing written
    result = run("score", "--by", "series_id", root / "parts", "-m", models, "-o", tmp_path / "all.csv")
    assert result.exit_code == 1
    assert "error: series series_id=pump3: no model in the models table" in result.output
    assert not (tmp_path / "all.csv").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["fit", "--by", "series_id", "{root}/none/*.csv"], "no CSV or Parquet files match"),
        (["fit", "--by", "sid", "{root}/pump0.csv"], "pump0.csv lacks the key column(s) sid"),
        (["fit", "--by", "series_id", "{root}/pump3.csv", "-o", "{tmp}/m.parquet"], "no series could be fitted"),
        (["fit", "--by", "series_id", "{root}/pump0.csv", "-o", "{tmp}/m.csv"], "write it as .parquet"),
        (["fit", "--by", "series_id", "{root}/pump0.csv", "--rows", "100"], "--rows cuts one series"),
        (["score", "--by", "series_id", "{root}/pump0.csv", "-m", "{root}/pump0.csv"], "is not a models table"),
        (["score", "--by", "series_id", "{root}/pump0.csv", "--events"], "--events score one series"),
    ],
)
def test_fleet_mistakes_are_one_line_errors(fleet, tmp_path, args, words):
    root, _ = fleet
    result = run(*[a.format(root=root, tmp=tmp_path) for a in args], *(FAST if args[0] == "fit" else []))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], result.output
    assert not (tmp_path / "m.parquet").exists() and not (tmp_path / "m.csv").exists()
