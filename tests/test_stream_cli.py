"""`tsae stream` (stdin, files, --follow with signals) and `tsae score --fail-on-anomaly`,
every file under tmp_path."""

import json
import os
import queue
import signal as signals
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tsae import load
from tsae.io import read_table
from tsae_cli.main import app

TSAE = Path(sys.executable).parent / "tsae"
WINDOW = 16
N = 120  # rows streamed in most tests


@pytest.fixture(autouse=True)
def keep_sigterm_handler():
    """`stream` installs a SIGTERM handler in the process that runs it: restore pytest's."""
    before = signals.getsignal(signals.SIGTERM)
    yield
    signals.signal(signals.SIGTERM, before)


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, signal):
    """A tiny dense model fitted with the CLI, its training data and a stream with a spike."""
    root = tmp_path_factory.mktemp("stream")
    signal.iloc[:1500][["timestamp", "ch0", "ch1"]].to_csv(root / "train.csv", index=False)
    result = CliRunner().invoke(
        app,
        [
            "fit",
            str(root / "train.csv"),
            "-o",
            str(root / "m.tsae"),
            "--arch",
            "dense",
            "--window",
            str(WINDOW),
            "--epochs",
            "2",
            "--threads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    data = signal.iloc[1500 : 1500 + N][["timestamp", "ch0", "ch1"]].reset_index(drop=True)
    data.loc[60, "ch0"] += 1000.0  # a huge spike: flagged by any model
    data.to_csv(root / "data.csv", index=False)
    return root


def run(runner, *args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def parse_jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def ready_scores(lines):
    """{row: (score, is_anomaly)} of the ready lines; each row at most once."""
    out = {}
    for line in lines:
        if line["ready"]:
            assert line["row"] not in out, f"row {line['row']} scored twice"
            out[line["row"]] = (line["score"], line["is_anomaly"])
    return out


def assert_scores_match_batch(files, got, frame):
    det = load(files / "m.tsae", threads=1)
    batch = det.score(frame).to_numpy()
    flags = det.predict(frame).to_numpy()
    assert sorted(got) == list(range(len(frame)))
    # the README's promise: float32 rounding, 1e-5 absolute or 1e-6 relative
    np.testing.assert_allclose([got[r][0] for r in range(len(frame))], batch, rtol=1e-6, atol=1e-5)
    assert [got[r][1] for r in range(len(frame))] == flags.tolist()


# ------------------------------------------------------------------------ stdin
def test_stream_stdin_jsonl_one_line_per_row_plus_flush(runner, files):
    text = (files / "data.csv").read_text()
    result = run(runner, "stream", "-m", files / "m.tsae", "--threads", "1", input=text)
    assert result.exit_code == 0, result.output + result.stderr
    lines = parse_jsonl(result.stdout)
    assert len(lines) == N  # exactly one line per input row, in row order
    assert all(
        set(line) == {"timestamp", "score", "probability", "is_anomaly", "ready", "row", "delay"} for line in lines
    )
    assert [line["row"] for line in lines] == list(range(N)) and all(line["ready"] for line in lines)
    head, tail = lines[: N - WINDOW + 1], lines[N - WINDOW + 1 :]
    frame = read_table(files / "data.csv")
    for line in head:  # written as soon as final: window - 1 rows after arrival
        assert line["delay"] == WINDOW - 1 and line["timestamp"] == str(frame["timestamp"][line["row"]])
    assert all(line["delay"] == 0 for line in tail)  # the rows still waiting, written at the end of input
    got = ready_scores(lines)
    assert_scores_match_batch(files, got, frame)
    assert got[60][1] and sum(flag for _, flag in got.values()) < N // 2


def test_stream_csv_format(runner, files):
    result = run(
        runner,
        "stream",
        "-m",
        files / "m.tsae",
        "--format",
        "csv",
        "--threads",
        "1",
        input=(files / "data.csv").read_text(),
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "timestamp,row,score,probability,is_anomaly,ready"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == N and all(len(r) == 6 for r in rows)
    assert [int(r[1]) for r in rows] == list(range(N))
    got = {int(r[1]): (float(r[2]), r[4] == "true") for r in rows if r[5] == "true"}
    assert_scores_match_batch(files, got, read_table(files / "data.csv"))


def test_only_anomalies(runner, files):
    result = run(
        runner,
        "stream",
        "-m",
        files / "m.tsae",
        "--only-anomalies",
        "--threads",
        "1",
        input=(files / "data.csv").read_text(),
    )
    assert result.exit_code == 0, result.stderr
    lines = parse_jsonl(result.stdout)
    flags = load(files / "m.tsae").predict(read_table(files / "data.csv")).to_numpy()
    assert lines and all(line["is_anomaly"] and line["ready"] for line in lines)
    assert sorted(line["row"] for line in lines) == np.flatnonzero(flags).tolist()
    assert 60 in {line["row"] for line in lines}


def data_with_bad_row(files, row=30):
    lines = (files / "data.csv").read_text().splitlines()
    fields = lines[1 + row].split(",")
    fields[2] = "oops"  # ch1 of data row `row`
    lines[1 + row] = ",".join(fields)
    return "\n".join(lines) + "\n"


def test_bad_row_is_reported_and_skipped(runner, files):
    result = run(
        runner, "stream", "-m", files / "m.tsae", "--on-error", "skip", "--threads", "1", input=data_with_bad_row(files)
    )
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and "warning" in warnings[0]
    assert "row 30" in warnings[0] and "ch1" in warnings[0] and "oops" in warnings[0]
    lines = parse_jsonl(result.stdout)
    assert len(lines) == N - 1
    frame = read_table(files / "data.csv").drop(index=30).reset_index(drop=True)
    assert_scores_match_batch(files, ready_scores(lines), frame)  # as if the row was never there


def test_bad_row_with_on_error_stop_exits_1(runner, files):
    result = run(
        runner, "stream", "-m", files / "m.tsae", "--on-error", "stop", "--threads", "1", input=data_with_bad_row(files)
    )
    assert result.exit_code == 1
    assert "row 30" in result.stderr and "oops" in result.stderr
    lines = parse_jsonl(result.stdout)
    assert len(lines) == 30  # the rows before the bad one, flushed
    assert sorted(ready_scores(lines)) == list(range(30))


def test_row_with_a_wrong_number_of_fields_is_skipped(runner, files):
    lines = (files / "data.csv").read_text().splitlines()
    lines.insert(21, "2030-01-01 00:00:00,1.0")  # data row 20
    result = run(runner, "stream", "-m", files / "m.tsae", "--threads", "1", input="\n".join(lines) + "\n")
    assert result.exit_code == 0
    assert "row 20" in result.stderr and "2 fields" in result.stderr
    assert len(parse_jsonl(result.stdout)) == N


def test_short_stream_has_no_scores_and_stays_valid_json(runner, files):
    text = "\n".join((files / "data.csv").read_text().splitlines()[: 1 + 5]) + "\n"  # 5 rows < window
    result = run(runner, "stream", "-m", files / "m.tsae", "--threads", "1", input=text)
    assert result.exit_code == 0, result.stderr
    assert "NaN" not in result.stdout
    lines = parse_jsonl(result.stdout)
    assert len(lines) == 5 and not any(line["ready"] or line["score"] is not None for line in lines)
    assert [line["row"] for line in lines] == list(range(5))


@pytest.mark.parametrize(
    "text, message",
    [
        ("timestamp,ch0\n2024-01-01,1.0\n", "lacks column(s) ch1"),
        ("", "empty"),
    ],
)
def test_bad_input_is_a_one_line_error(runner, files, text, message):
    result = run(runner, "stream", "-m", files / "m.tsae", "--threads", "1", input=text)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


# ------------------------------------------------------------------------- files
def test_stream_input_file(runner, files):
    result = run(runner, "stream", "-m", files / "m.tsae", "--input", files / "data.csv", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    lines = parse_jsonl(result.stdout)
    assert len(lines) == N
    assert_scores_match_batch(files, ready_scores(lines), read_table(files / "data.csv"))


def test_stream_missing_input_file(runner, files, tmp_path):
    for extra in ([], ["--follow"]):
        result = run(runner, "stream", "-m", files / "m.tsae", "-i", tmp_path / "nope.csv", *extra)
        assert result.exit_code == 1 and "nope.csv" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_follow_needs_input(runner, files):
    result = run(runner, "stream", "-m", files / "m.tsae", "--follow", input="")
    assert result.exit_code == 2
    assert "--follow needs --input" in result.stderr


class Lines:
    """Lines of a subprocess's stdout, read by a thread so that waiting can time out."""

    def __init__(self, stream):
        self.queue, self.lines = queue.Queue(), []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self.queue.put(None)
                break
            self.lines.append(json.loads(line))
        return self.lines


def restore_sigint():
    os.setpgrp()
    signals.signal(signals.SIGINT, signals.SIG_DFL)  # not ignored even if pytest runs in the background


@pytest.mark.parametrize("sig", [signals.SIGTERM, signals.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_follow_a_growing_file_until_a_signal(files, tmp_path, sig):
    rows = (files / "data.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    path = tmp_path / "live.csv"
    path.write_text("\n".join([header, *body[:40]]) + "\n")
    proc = subprocess.Popen(
        [str(TSAE), "stream", "-m", str(files / "m.tsae"), "--input", str(path), "--follow", "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )
    try:
        out = Lines(proc.stdout)
        first = 40 - WINDOW + 1  # rows whose score is final: window - 1 behind
        assert len(out.wait_for(first, timeout=60)) == first, proc.stderr.read() if proc.poll() is not None else ""
        with path.open("a") as fh:  # more rows, and one line written in two parts
            fh.write("\n".join(body[40:80]) + "\n" + body[80][:12])
            fh.flush()
            time.sleep(0.5)
            assert len(out.wait_for(80 - WINDOW + 1, timeout=20)) == 80 - WINDOW + 1  # partial line held back
            fh.write(body[80][12:] + "\n" + "\n".join(body[81:N]) + "\n")
        assert len(out.wait_for(N - WINDOW + 1, timeout=20)) == N - WINDOW + 1
        assert proc.poll() is None  # still following
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
        lines = out.wait_for(N, timeout=5)
        assert len(lines) == N  # the rows waiting for their score were flushed
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert_scores_match_batch(files, ready_scores(lines), read_table(files / "data.csv"))


# ------------------------------------------------------------ score --fail-on-anomaly
def test_score_fail_on_anomaly(runner, files, tmp_path):
    model = files / "m.tsae"
    flagged = run(runner, "score", files / "data.csv", "-m", model, "--fail-on-anomaly", "-o", tmp_path / "s.csv")
    assert flagged.exit_code == 3, flagged.stderr
    assert read_table(tmp_path / "s.csv")["is_anomaly"].any()
    assert run(runner, "score", files / "data.csv", "-m", model).exit_code == 0  # without the flag
    det = load(model)
    det.threshold_.cutoff_ = 1e9
    det.save(tmp_path / "lenient.tsae")
    quiet = run(runner, "score", files / "data.csv", "-m", tmp_path / "lenient.tsae", "--fail-on-anomaly")
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout.count("True") == 0 and len(quiet.stdout.strip().splitlines()) == 1 + N


# ------------------------------------------------------------------- hostile input
def test_hostile_rows_are_reported_and_the_stream_goes_on(runner, files):
    lines = (files / "data.csv").read_text().splitlines()
    header, body = lines[0], lines[1 : N + 1]
    hostile = [
        "2030-01-01 00:00:00," + "9" * 200_000 + ",1.0",  # a field over csv's default 128 kB limit
        '2030-01-01 00:00:00,1.0,"unclosed',  # not CSV
        "2030-01-01 00:00:00,1e39,1.0",  # beyond float32: would score NaN
        "\x00\x01\x02binary",  # binary garbage
    ]
    text = "\n".join([header, *body[:10], *hostile, *body[10:]]) + "\n"
    raw = text.encode("utf-8") + b"\xff\xfe\xfa,\x81\n"  # undecodable bytes at the end
    result = runner.invoke(app, ["stream", "-m", str(files / "m.tsae"), "--threads", "1"], input=raw)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == len(hostile) + 1 and all(w.startswith("warning: row ") for w in warnings)
    assert "float32" in warnings[2] and "row 12" in warnings[2]
    lines = parse_jsonl(result.stdout)
    assert len(lines) == N  # the good rows, one line each
    assert_scores_match_batch(files, ready_scores(lines), read_table(files / "data.csv"))


def test_missing_value_spellings_are_gaps_as_in_batch(runner, files):
    lines = (files / "data.csv").read_text().splitlines()
    for row, spelling in ((20, "None"), (21, "N/A"), (40, "NA"), (41, "null"), (70, "")):
        fields = lines[1 + row].split(",")
        fields[1] = spelling
        lines[1 + row] = ",".join(fields)
    text = "\n".join(lines) + "\n"
    result = run(runner, "stream", "-m", files / "m.tsae", "--threads", "1", input=text)
    assert result.exit_code == 0 and result.stderr == ""
    frame = read_table(files / "data.csv")
    for row in (20, 21, 40, 41, 70):
        frame.loc[row, "ch0"] = np.nan
    assert_scores_match_batch(files, ready_scores(parse_jsonl(result.stdout)), frame)


def test_semicolon_streams_are_sniffed_and_columns_checked(runner, files):
    text = (files / "data.csv").read_text().replace(",", ";")
    result = run(runner, "stream", "-m", files / "m.tsae", "--threads", "1", "--columns", "ch1,ch0", input=text)
    assert result.exit_code == 0, result.stderr
    assert_scores_match_batch(files, ready_scores(parse_jsonl(result.stdout)), read_table(files / "data.csv"))
    wrong = run(runner, "stream", "-m", files / "m.tsae", "--columns", "ch0", input=text)
    assert wrong.exit_code == 1 and "must name the model's channels" in wrong.stderr
    forced = run(runner, "stream", "-m", files / "m.tsae", "--sep", ",", input=text)
    assert forced.exit_code == 1 and "lacks column(s) ch0, ch1" in forced.stderr and "','" in forced.stderr


def test_stream_input_that_is_a_directory(runner, files, tmp_path):
    result = run(runner, "stream", "-m", files / "m.tsae", "--input", tmp_path)
    assert result.exit_code == 1 and "is a directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
