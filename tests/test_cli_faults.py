"""Faults around the files the CLI writes: outputs equal to inputs, missing or full
locations, signals and kill -9 mid-write, a model rewritten by another process.
Promise: a one-line error and a non-zero exit, no traceback, no partial output under
a final name, no temporary file left behind (or, after kill -9, one that the next
write removes)."""

import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tsae import Detector, load
from tsae.io import read_table, write_table
from tsae_cli.main import app

TSAE = Path(sys.executable).parent / "tsae"
FAST = ["--window", "16", "--epochs", "1", "--max-windows", "64", "--threads", "1", "-q"]


def temps(directory):
    return sorted(p.name for p in Path(directory).iterdir() if ".tsae-tmp-" in p.name)


def one_line_error(result_stderr):
    """One error line (after any warning lines) and no traceback."""
    lines = [line for line in result_stderr.strip().splitlines() if not line.startswith("warning:")]
    return len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result_stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    t = np.arange(3000)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=len(t), freq="min"),
            "v": np.sin(t / 5) + 0.05 * rng.normal(size=len(t)),
            "label": (t > 2900).astype(int),
        }
    )
    write_table(frame, root / "data.csv")
    Detector(window=16, epochs=1, max_windows=64, threads=1).fit(frame.iloc[:2000]).save(root / "m.tsae")
    return root


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def test_outputs_equal_to_an_input_are_refused_and_the_input_kept(files, tmp_path):
    data, model = files / "data.csv", files / "m.tsae"
    before = {p: p.read_bytes() for p in (data, model)}
    for args in (
        ["score", data, "-m", model, "-o", data],
        ["score", data, "-m", model, "-o", model],
        ["fit", data, "-o", data, *FAST],
        ["evaluate", data, "-m", model, "--json", data],
        ["evaluate", data, "-m", model, "--json", model],
        ["calibrate", data, "-m", model, "--plot", data],
        ["calibrate", data, "-m", model, "--plot", model],
    ):
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert one_line_error(result.stderr) and "same file as the input" in result.stderr, args
    assert {p: p.read_bytes() for p in before} == before
    assert temps(files) == []


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "{data}", "-o", "{tmp}/missing/m.tsae", *FAST],
        ["score", "{data}", "-m", "{model}", "-o", "{tmp}/missing/s.csv"],
        ["evaluate", "{data}", "-m", "{model}", "--json", "{tmp}/missing/m.json"],
        ["calibrate", "{data}", "-m", "{model}", "--plot", "{tmp}/missing/pr.png"],
        ["calibrate", "{data}", "-m", "{model}", "--plot", "{tmp}/pr.docx"],
        ["score", "{data}", "-m", "{model}", "-o", "{tmp}"],
        ["score", "{data}", "-m", "{model}", "-o", "{tmp}/s.xlsx"],
    ],
    ids=[
        "fit-missing-dir",
        "score-missing-dir",
        "json-missing-dir",
        "plot-missing-dir",
        "plot-bad-suffix",
        "score-into-a-directory",
        "score-bad-suffix",
    ],
)
def test_unwritable_outputs_fail_first_in_one_line(files, tmp_path, args):
    model = tmp_path / "m.tsae"
    model.write_bytes((files / "m.tsae").read_bytes())
    before = model.read_bytes()
    args = [a.format(data=files / "data.csv", model=model, tmp=tmp_path) for a in args]
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert one_line_error(result.stderr), result.stderr
    assert result.stdout == ""  # failed before any work: nothing scored, nothing printed
    assert model.read_bytes() == before  # calibrate did not rewrite the model
    assert temps(tmp_path) == []


def test_a_model_rewritten_meanwhile_is_not_overwritten_by_calibrate(files, tmp_path, monkeypatch):
    model = tmp_path / "m.tsae"
    model.write_bytes((files / "m.tsae").read_bytes())
    other = load(model)
    other.threshold_.cutoff_ = 123.0
    real = Detector.calibrate

    def calibrate_while_someone_refits(self, *args, **kwargs):
        other.save(model)  # e.g. a `tsae fit -o m.tsae` finishing in another shell
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Detector, "calibrate", calibrate_while_someone_refits)
    result = invoke("calibrate", files / "data.csv", "-m", model, "--method", "percentile:99")
    assert result.exit_code == 1 and one_line_error(result.stderr)
    assert "changed since it was read" in result.stderr
    assert load(model).threshold_.cutoff_ == 123.0  # the other writer's model survives
    assert temps(tmp_path) == []


def test_a_model_written_meanwhile_is_not_overwritten_by_fit(files, tmp_path, monkeypatch):
    model = tmp_path / "m.tsae"
    real = Detector.fit

    def fit_while_someone_writes(self, *args, **kwargs):
        model.write_bytes((files / "m.tsae").read_bytes())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Detector, "fit", fit_while_someone_writes)
    result = invoke("fit", files / "data.csv", "-o", model, *FAST)
    assert result.exit_code == 1 and "changed since it was read" in result.stderr
    assert model.read_bytes() == (files / "m.tsae").read_bytes()


def _limit_file_size(nbytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@pytest.mark.parametrize("command", ["score", "fit", "evaluate"])
def test_a_full_disk_leaves_no_partial_file(files, tmp_path, command):
    out = tmp_path / {"score": "s.csv", "fit": "m.tsae", "evaluate": "m.json"}[command]
    args = {
        "score": ["score", files / "data.csv", "-m", files / "m.tsae", "-o", out, "--chunk-rows", "500"],
        "fit": ["fit", files / "data.csv", "-o", out, *FAST],
        "evaluate": ["evaluate", files / "data.csv", "-m", files / "m.tsae", "--json", out],
    }[command]
    run = subprocess.run(
        [str(TSAE), *map(str, args)], capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(64)
    )
    assert run.returncode == 1, run.stderr
    assert one_line_error(run.stderr) and "cannot write" in run.stderr, run.stderr
    assert not out.exists() and temps(tmp_path) == []


def test_standard_output_on_a_full_disk_is_one_error_line(files):
    with open("/dev/full", "w") as full:
        run = subprocess.run(
            [str(TSAE), "score", str(files / "data.csv"), "-m", str(files / "m.tsae")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert run.returncode == 1
    assert one_line_error(run.stderr) and "No space left" in run.stderr, run.stderr


@pytest.fixture(scope="module")
def big(files):
    """A file that takes a few seconds to score, to be interrupted mid-write."""
    frame = read_table(files / "data.csv").drop(columns="label")
    frame = pd.concat([frame] * 100, ignore_index=True)
    frame["timestamp"] = pd.date_range("2024-01-01", periods=len(frame), freq="s")
    write_table(frame, files / "big.csv")
    return files / "big.csv"


def _written(directory):
    """Whether a temporary file in ``directory`` has bytes in it."""
    sizes = []
    for name in temps(directory):
        try:
            sizes.append((Path(directory) / name).stat().st_size)
        except FileNotFoundError:  # renamed or removed since listed
            pass
    return any(size > 0 for size in sizes)


def _start_scoring(big, files, out):
    proc = subprocess.Popen(
        [
            str(TSAE),
            "score",
            str(big),
            "-m",
            str(files / "m.tsae"),
            "-o",
            str(out),
            "--chunk-rows",
            "2000",
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    # wait for rows in the temporary file: the CLI first checks the output folder is
    # writable with an empty file of the same kind of name, removed at once
    deadline = time.monotonic() + 60
    while not _written(out.parent) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if not _written(out.parent):
        ended = proc.poll()
        stderr = proc.communicate(timeout=30)[1] if ended is not None else "(still running)"
        raise AssertionError(f"the output's temporary file never appeared (exit {ended}): {stderr[-500:]}")
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_a_signal_mid_write_removes_the_temporary_file(files, big, tmp_path, sig):
    out = tmp_path / "scores.csv"
    proc = _start_scoring(big, files, out)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr and f"interrupted by {signal.Signals(sig).name}" in stderr
    assert not out.exists() and temps(tmp_path) == []


def test_kill_9_leaves_a_temporary_file_that_the_next_write_removes(files, big, tmp_path):
    out = tmp_path / "scores.csv"
    proc = _start_scoring(big, files, out)
    proc.kill()
    proc.wait(timeout=30)
    left = temps(tmp_path)
    assert len(left) == 1 and left[0].startswith(".scores.csv.tsae-tmp-") and not out.exists()
    result = invoke("score", files / "data.csv", "-m", files / "m.tsae", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert temps(tmp_path) == [] and len(read_table(out)) == 3000


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["fit", "{data}", "--rows", "-100"], 2, "--rows"),
        (["fit", "{data}", "--threads", "-1"], 2, "--threads"),
        (["fit", "{data}", "--depth", "50", "--window", "16"], 1, "depth"),
        (["fit", "{data}", "--epochs", "0"], 1, "epochs must be a positive integer"),
        (["fit", "{data}", "--sep", "ab"], 1, "--sep must be one character"),
        (["fit", "{data}", "--columns", "v,,w"], 1, "--columns has an empty name"),
        (["score", "{data}", "-m", "{data}"], 1, "is not a tsae model file"),
        (["score", "{tmp}/d.csv", "-m", "{model}"], 1, "is a directory"),
        (["evaluate", "{data}", "-m", "{model}", "--label-column", "truth"], 1, "has no label column 'truth'"),
    ],
    ids=[
        "negative-rows",
        "negative-threads",
        "huge-depth",
        "zero-epochs",
        "long-sep",
        "empty-column",
        "data-as-model",
        "directory-as-data",
        "missing-label",
    ],
)
def test_bad_arguments_fail_cleanly(files, tmp_path, args, code, message):
    out = tmp_path / "m.tsae"
    (tmp_path / "d.csv").mkdir()
    args = [a.format(data=files / "data.csv", model=files / "m.tsae", tmp=tmp_path) for a in args]
    result = invoke(*args, *(["-o", out] if args[0] == "fit" else []))
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
    if code == 1:
        assert one_line_error(result.stderr)
    assert not out.exists() and temps(tmp_path) == []
