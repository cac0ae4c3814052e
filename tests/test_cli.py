"""The `tsae` command line through Typer's test runner, every file under tmp_path."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tsae import load
from tsae.io import read_table, write_table
from tsae_cli.main import app

FAST = ["--window", "16", "--epochs", "2", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, signal):
    """A normal training CSV, a Parquet copy and a fitted model, shared by the module."""
    root = tmp_path_factory.mktemp("cli")
    train = signal.iloc[:1500]
    write_table(train, root / "train.csv")
    write_table(signal.iloc[:3000], root / "test.parquet")
    result = CliRunner().invoke(app, ["fit", str(root / "train.csv"), "-o", str(root / "model.tsae"), *FAST])
    assert result.exit_code == 0, result.output
    return root


def run(runner, *args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_fit_writes_a_model_with_the_fitted_columns(files):
    det = load(files / "model.tsae")
    assert det.channels_ == ["ch0", "ch1"] and det.timestamp_ == "timestamp" and det.window_ == 16


def test_score_to_stdout_is_csv_with_timestamp_score_flag(runner, files):
    result = run(runner, "score", files / "train.csv", "-m", files / "model.tsae")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].replace('"', "") == "timestamp,score,probability,is_anomaly"
    assert len(lines) == 1 + 1500


def test_score_to_parquet_matches_python_api(runner, files, tmp_path):
    out = tmp_path / "flags.parquet"
    result = run(runner, "score", files / "test.parquet", "-m", files / "model.tsae", "-o", out, "--chunk-rows", "700")
    assert result.exit_code == 0, result.output
    got = read_table(out)
    det = load(files / "model.tsae", threads=1)
    frame = read_table(files / "test.parquet")
    assert list(got.columns) == ["timestamp", "score", "probability", "is_anomaly"]
    whole = det.assess(frame)
    assert np.array_equal(got["score"].to_numpy(), whole["score"].to_numpy())  # chunked == whole
    assert np.array_equal(got["probability"].to_numpy(), whole["probability"].to_numpy())
    assert np.array_equal(got["is_anomaly"].to_numpy(), det.predict(frame).to_numpy())
    assert (got["timestamp"].to_numpy() == frame["timestamp"].to_numpy()).all()


def test_chunked_scoring_is_identical_for_any_chunk_size(runner, files, tmp_path):
    outs = []
    for chunk in (37, 1000, 100_000):
        out = tmp_path / f"s{chunk}.csv"
        assert (
            run(
                runner, "score", files / "train.csv", "-m", files / "model.tsae", "-o", out, "--chunk-rows", chunk
            ).exit_code
            == 0
        )
        outs.append(read_table(out))
    for other in outs[1:]:
        pd.testing.assert_frame_equal(outs[0], other)


def test_info_prints_the_header(runner, files):
    result = run(runner, "info", files / "model.tsae")
    assert result.exit_code == 0
    header = json.loads(result.stdout)
    assert header["format"] == "tsae-model" and header["format_version"] == 1
    assert header["channels"] == ["ch0", "ch1"] and header["window"] == 16
    assert header["threshold"]["method"] == "percentile" and header["threshold"]["q"] == 99.5
    assert header["checksum"].startswith("sha256:")


def test_fit_options_reach_the_model(runner, files, tmp_path):
    out = tmp_path / "m.tsae"
    result = run(
        runner,
        "fit",
        files / "train.csv",
        "-o",
        out,
        "--arch",
        "dense",
        "--threshold",
        "percentile:99.9",
        "--noise",
        "mask:0.2",
        "--columns",
        "ch1",
        "--rows",
        "800",
        "--latent",
        "4",
        "--scaling",
        "robust",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    det = load(out)
    assert det.model == "dense" and det.channels_ == ["ch1"] and det.model_params_["latent"] == 4
    assert det.threshold_.q == 99.9 and det.training_["rows"] == 800 and det.scaler_.method == "robust"


# --------------------------------------------------------------------- bad input
def bad_files(root):
    """name -> (file content or callable writing it, expected message fragment)."""
    return {
        "missing.csv": (None, "file not found"),
        "data.txt": ("a,b\n1,2\n", "unsupported file type"),
        "empty.csv": ("", "empty"),
        "header_only.csv": ("timestamp,ch0,ch1\n", "empty"),
        "no_numbers.csv": ("name,kind\nx,y\nz,w\n", {"fit": "no numeric columns", "score": "lacks column(s) ch0, ch1"}),
    }


@pytest.mark.parametrize("command", ["fit", "score"])
@pytest.mark.parametrize("name", list(bad_files(None)))
def test_bad_files_fail_cleanly(runner, files, tmp_path, command, name):
    content, message = bad_files(tmp_path)[name]
    message = message[command] if isinstance(message, dict) else message
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    out = tmp_path / "out.csv"
    args = (
        ["fit", path, "-o", tmp_path / "m.tsae", *FAST]
        if command == "fit"
        else ["score", path, "-m", files / "model.tsae", "-o", out]
    )
    result = run(runner, *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "m.tsae").exists()


def write_signal(path, frame):
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda f: f.assign(ch0=f["ch0"].astype(object).where(f.index != 700, "oops")),
            "column 'ch0' has text 'oops' at row 700",
        ),
        (
            lambda f: f.assign(ch1=f["ch1"].where(f.index != 900, np.inf)),
            "column 'ch1' has an infinite value at row 900",
        ),
        (
            lambda f: f.assign(ch0=f["ch0"].where((f.index < 1000) | (f.index > 1040))),
            "missing values in a row at rows 1000-1040",
        ),
        (lambda f: f.drop(columns="ch1"), "lacks column(s) ch1"),
        (lambda f: f.assign(ch2=1.0), "has column(s) ch2 the model was not fitted on"),
        (lambda f: f[["timestamp", "ch1", "ch0", "label"]], "different order: ch1, ch0"),
        (lambda f: f.iloc[:10], "10 rows, fewer than the model's window of 16"),
    ],
)
def test_bad_data_at_scoring_fails_with_one_line(runner, files, tmp_path, signal, mutate, message):
    path = write_signal(tmp_path / "bad.csv", mutate(signal.iloc[:1500].copy()))
    out = tmp_path / "out.parquet"
    result = run(runner, "score", path, "-m", files / "model.tsae", "-o", out, "--chunk-rows", "500")
    assert result.exit_code == 1, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_nan_and_text_at_fit_time(runner, tmp_path, signal):
    frame = signal.iloc[:1500].copy()
    frame["ch0"] = frame["ch0"].where(frame.index != 300)  # one short gap: filled
    ok = run(runner, "fit", write_signal(tmp_path / "gap.csv", frame), "-o", tmp_path / "ok.tsae", *FAST)
    assert ok.exit_code == 0, ok.output
    frame["ch1"] = frame["ch1"].astype(object).where(frame.index != 42, "n/a?")
    bad = run(runner, "fit", write_signal(tmp_path / "text.csv", frame), "-o", tmp_path / "bad.tsae", *FAST)
    assert bad.exit_code == 1 and "column 'ch1' has text 'n/a?' at row 42" in bad.stderr


def test_too_short_series_at_fit_time(runner, tmp_path, signal):
    path = write_signal(tmp_path / "short.csv", signal.iloc[:20])
    result = run(runner, "fit", path, "-o", tmp_path / "m.tsae", *FAST)
    assert result.exit_code == 1 and "needs at least" in result.stderr


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b"hello, not a model", "not a tsae model file"),
        (lambda b: b[: len(b) // 2], "truncated or corrupt"),
        (lambda b: b[:-10] + bytes([b[-10] ^ 0xFF]) + b[-9:], "checksum mismatch"),
        (lambda b: b"", "not a tsae model file"),
    ],
)
def test_bad_model_files_fail_cleanly(runner, files, tmp_path, damage, message):
    bad = tmp_path / "bad.tsae"
    bad.write_bytes(damage((files / "model.tsae").read_bytes()))
    for args in (["score", files / "train.csv", "-m", bad], ["info", bad]):
        result = run(runner, *args)
        if args[0] == "info" and message == "checksum mismatch":
            continue  # info reads the header only; the weights' checksum is checked on load
        assert result.exit_code == 1, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_format_version_fails_cleanly(runner, files, tmp_path):
    from tsae.persist import load_model_file, save_model_file

    header, weights = load_model_file(files / "model.tsae")
    import tsae.persist as persist

    path = tmp_path / "future.tsae"
    original = persist.FORMAT_VERSION
    try:
        persist.FORMAT_VERSION = 7
        save_model_file(path, header, weights)
    finally:
        persist.FORMAT_VERSION = original
    result = run(runner, "score", files / "train.csv", "-m", path)
    assert result.exit_code == 1 and "format version 7" in result.stderr


def test_missing_model_file(runner, files, tmp_path):
    result = run(runner, "score", files / "train.csv", "-m", tmp_path / "nope.tsae")
    assert result.exit_code == 1 and "model file not found" in result.stderr


def test_bad_option_value_is_one_line(runner, files, tmp_path):
    result = run(runner, "fit", files / "train.csv", "-o", tmp_path / "m.tsae", "--noise", "pink", "--quiet")
    assert result.exit_code == 1 and "noise must be one of" in result.stderr
