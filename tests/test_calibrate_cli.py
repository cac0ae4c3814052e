"""`tsae calibrate`, `tsae evaluate`, `tsae score --events` and fit's threshold/event
options through Typer's test runner, every file under tmp_path."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tsae.metrics
from tsae import load
from tsae.events import runs
from tsae.io import read_table, write_table
from tsae_cli.main import app

FAST = ["--window", "16", "--epochs", "2", "--threads", "1", "--quiet"]
PNG = b"\x89PNG\r\n\x1a\n"
METRICS = ["auc_pr", "auc_roc", "vus_pr", "vus_roc", "standard_f1", "pa_f1", "event_f1", "range_f1"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, fragment):
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory, signal):
    """train.csv (the clean first half), labelled.csv (the whole labelled set) and a
    model fitted on train.csv by the CLI, shared read-only by the module."""
    root = tmp_path_factory.mktemp("calibrate")
    write_table(signal.iloc[: signal.attrs["train_end"]], root / "train.csv")
    write_table(signal, root / "labelled.csv")
    result = run("fit", root / "train.csv", "-o", root / "base.tsae", *FAST)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def model(files, tmp_path):
    """A private copy of the fitted model (calibrate rewrites it)."""
    return shutil.copy(files / "base.tsae", tmp_path / "m.tsae")


@pytest.fixture(scope="module")
def frame(files):
    return read_table(files / "labelled.csv")


def test_calibrate_pr_rewrites_the_threshold_and_prints_it(files, model, frame):
    before = load(model).threshold_
    assert before.name == "percentile"
    result = run("calibrate", files / "labelled.csv", "-m", model, "--method", "pr")
    assert result.exit_code == 0, result.output
    det = load(model, threads=1)
    th = det.threshold_
    assert th.name == "pr" and th.beta == 1.0 and th.cutoff_ != before.cutoff_
    flags = det.predict(frame).to_numpy()
    got = tsae.metrics.point_f1(frame["label"].to_numpy(), flags)
    assert got["f1"] == pytest.approx(th.expected_["fbeta"])  # fitted on this very file
    out = result.stdout
    assert f"cutoff {th.cutoff_:.6g}" in out and f"flags {int(flags.sum())} of {len(frame)} rows" in out
    assert (f"precision {got['precision']:.3f}  recall {got['recall']:.3f}  F1 {got['f1']:.3f}") in out
    assert f"threshold written to {model}" in result.stderr


def test_calibrate_targets_and_beta(files, model, tmp_path):
    def calibrate(*options):
        result = run("calibrate", files / "labelled.csv", "-m", model, *options)
        assert result.exit_code == 0, result.output
        return load(model).threshold_

    tp = calibrate("--target-precision", "0.8")
    assert tp.target_precision == 0.8 and tp.expected_["precision"] >= 0.8
    tr = calibrate("--target-recall", "0.6")
    assert tr.target_recall == 0.6 and tr.expected_["recall"] >= 0.6
    f1, f2 = calibrate(), calibrate("--beta", "2")
    assert f2.beta == 2.0 and f2.expected_["beta"] == 2.0
    assert f2.cutoff_ <= f1.cutoff_ and f2.expected_["recall"] >= f1.expected_["recall"]
    both = run("calibrate", files / "labelled.csv", "-m", model, "--target-precision", "0.8", "--target-recall", "0.5")
    one_line_error(both, "give target_precision or target_recall, not both")
    # labels on the lowest-scored 5%: the highest scores are normal, precision stays low
    frame = read_table(files / "labelled.csv")
    scores = load(model, threads=1).score(frame).to_numpy()
    frame["label"] = (scores < np.quantile(scores, 0.05)).astype(int)
    write_table(frame, tmp_path / "inverted.csv")
    before = model.read_bytes()
    unreachable = run("calibrate", tmp_path / "inverted.csv", "-m", model, "--target-precision", "0.9")
    one_line_error(unreachable, "no cutoff reaches precision 0.9 (best is 0.")
    assert model.read_bytes() == before


def test_calibrate_plot_writes_a_png(files, model, tmp_path):
    result = run("calibrate", files / "labelled.csv", "-m", model, "--plot", tmp_path / "pr.png")
    assert result.exit_code == 0, result.output
    data = (tmp_path / "pr.png").read_bytes()
    assert data[:8] == PNG and len(data) > 5_000


@pytest.mark.parametrize(
    "method, check",
    [
        ("pot:1e-3", lambda th: th.risk == 1e-3 and th.tail_["n"] == 6000),
        ("contamination:0.05", lambda th: th.fraction == 0.05),
        ("percentile:99", lambda th: th.q == 99.0),
    ],
)
def test_calibrate_with_unlabelled_methods(files, model, frame, method, check):
    result = run("calibrate", files / "labelled.csv", "-m", model, "--method", method)
    assert result.exit_code == 0, result.output
    det = load(model, threads=1)
    assert det.threshold_.name == method.partition(":")[0] and check(det.threshold_)
    scores = det.score(frame).to_numpy()
    assert f"flags {int(det.threshold_(scores).sum())} of 6000 rows" in result.stdout
    if method.startswith("contamination"):
        assert abs(det.threshold_(scores).sum() - 300) <= 1


def test_calibrate_percentile_on_normal_data_with_an_all_zero_label_column(files, model, signal, tmp_path):
    # a label column without anomalies is fine for a method that needs no labels
    write_table(signal.iloc[:3000], tmp_path / "normal.csv")
    result = run("calibrate", tmp_path / "normal.csv", "-m", model, "--method", "percentile:99")
    assert result.exit_code == 0, result.output
    assert load(model).threshold_.q == 99.0 and "precision" not in result.stdout


def test_calibrate_bad_label_values_fail_and_keep_the_model(model, signal, tmp_path):
    path = tmp_path / "bad_labels.csv"
    write_table(signal.assign(label=signal["label"].where(signal.index != 4321, 2)), path)
    before = model.read_bytes()
    for method in ("pr", "percentile:99"):  # percentile needs no labels, but prints P/R from them
        result = run("calibrate", path, "-m", model, "--method", method)
        one_line_error(result, "label column 'label' must hold 0 or 1, found")
        assert "at row 4321" in result.stderr
        assert model.read_bytes() == before


@pytest.mark.parametrize(
    "label, message",
    [
        (0, "got 0 anomalous of 6000"),
        (1, "got 6000 anomalous of 6000"),
    ],
)
def test_calibrate_pr_with_one_class_fails_and_keeps_the_model(model, signal, tmp_path, label, message):
    path = tmp_path / "one_class.csv"
    write_table(signal.assign(label=label), path)
    before = model.read_bytes()
    one_line_error(run("calibrate", path, "-m", model, "--method", "pr"), message)
    assert model.read_bytes() == before


def test_calibrate_without_the_label_column(model, signal, tmp_path):
    path = tmp_path / "nolabel.csv"
    write_table(signal.drop(columns="label"), path)
    before = model.read_bytes()
    one_line_error(run("calibrate", path, "-m", model), "has no label column (looked for label, labels, anomaly")
    one_line_error(run("calibrate", path, "-m", model, "--label-column", "truth"), "has no label column 'truth'")
    assert model.read_bytes() == before


def test_calibrate_label_column_option(files, model, signal, tmp_path):
    # 'truth' holds the real labels; 'label' is all zero and would fail pr
    path = tmp_path / "truth.csv"
    write_table(signal.assign(truth=signal["label"], label=0), path)
    reference = shutil.copy(model, tmp_path / "reference.tsae")
    assert run("calibrate", files / "labelled.csv", "-m", reference).exit_code == 0
    one_line_error(run("calibrate", path, "-m", model), "has column(s) truth the model was not fitted on")
    result = run("calibrate", path, "-m", model, "--label-column", "truth")
    assert result.exit_code == 0, result.output
    assert load(model).threshold_.to_dict() == load(reference).threshold_.to_dict()
    evaluated = run("evaluate", path, "-m", model, "--label-column", "truth", "--json", tmp_path / "e.json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((tmp_path / "e.json").read_text())["anomalous_rows"] == int(signal["label"].sum())


def test_evaluate_prints_and_writes_metrics(files, frame, tmp_path):
    out = tmp_path / "metrics.json"
    result = run("evaluate", files / "labelled.csv", "-m", files / "base.tsae", "--json", out)
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert set(METRICS + ["at_threshold", "rows", "anomalous_rows"]) <= set(got)
    det = load(files / "base.tsae", threads=1)
    labels = frame["label"].to_numpy()
    direct = tsae.metrics.evaluate(labels, det.score(frame).to_numpy())
    for key in METRICS:
        assert 0 <= got[key] <= 1 and got[key] == pytest.approx(direct[key], abs=1e-12), key
        assert key in result.stdout and f"{got[key]:.4f}" in result.stdout
    assert got["auc_roc"] > 0.6  # the detector finds the anomalies
    at = got["at_threshold"]
    flags = det.predict(frame).to_numpy()
    assert at == pytest.approx(
        {**tsae.metrics.point_f1(labels, flags), "cutoff": det.threshold_.cutoff_, "flagged": int(flags.sum())}
    )
    assert got["rows"] == 6000 and got["anomalous_rows"] == int(labels.sum())
    assert f"{at['precision']:.3f} / {at['recall']:.3f} / {at['f1']:.3f}" in result.stdout


def test_evaluate_without_anomalies_fails_cleanly(files, signal, tmp_path):
    path = tmp_path / "normal.csv"
    write_table(signal.iloc[:3000], path)
    result = run("evaluate", path, "-m", files / "base.tsae", "--json", tmp_path / "m.json")
    one_line_error(result, "labels contain no anomaly (1)")
    assert not (tmp_path / "m.json").exists()


def check_events_against_rows(events, rows, stamps=None):
    flags = rows["is_anomaly"].to_numpy().astype(bool)
    scores = rows["score"].to_numpy()
    spans = runs(flags)
    assert len(events) == len(spans) > 0
    assert events["start"].tolist() == spans[:, 0].tolist() and events["end"].tolist() == spans[:, 1].tolist()
    assert (events["length"] == events["end"] - events["start"] + 1).all()
    assert events["length"].sum() == flags.sum()
    for event in events.itertuples():
        window = scores[event.start : event.end + 1]
        assert event.peak_row == event.start + int(np.argmax(window))
        assert event.peak_score == pytest.approx(window.max())
    if stamps is not None:
        for col, rows_col in (("start_time", "start"), ("end_time", "end"), ("peak_time", "peak_row")):
            assert (pd.to_datetime(events[col]).to_numpy() == pd.to_datetime(stamps[events[rows_col]]).to_numpy()).all()


def test_score_events_matches_the_per_row_output(files, model, frame, tmp_path):
    assert run("calibrate", files / "labelled.csv", "-m", model, "--method", "percentile:98").exit_code == 0
    rows_out, events_out = tmp_path / "rows.csv", tmp_path / "events.csv"
    assert run("score", files / "labelled.csv", "-m", model, "-o", rows_out).exit_code == 0
    result = run("score", files / "labelled.csv", "-m", model, "--events", "-o", events_out, "--chunk-rows", "1000")
    assert result.exit_code == 0, result.output
    events = read_table(events_out)
    assert list(events.columns) == [
        "start",
        "end",
        "length",
        "peak_score",
        "peak_row",
        "start_time",
        "end_time",
        "peak_time",
    ]
    assert f"{len(events)} events" in result.stderr
    check_events_against_rows(events, read_table(rows_out), frame["timestamp"].to_numpy())


def test_score_events_without_a_timestamp(signal, tmp_path):
    train, data = tmp_path / "train.csv", tmp_path / "data.csv"
    write_table(signal.iloc[:3000].drop(columns=["timestamp", "label"]), train)
    write_table(signal.drop(columns=["timestamp", "label"]), data)
    model = tmp_path / "m.tsae"
    assert run("fit", train, "-o", model, "--arch", "dense", "--threshold", "percentile:98", *FAST).exit_code == 0
    assert load(model).timestamp_ is None
    assert run("score", data, "-m", model, "--events", "-o", tmp_path / "ev.csv").exit_code == 0
    assert run("score", data, "-m", model, "-o", tmp_path / "rows.csv").exit_code == 0
    events = read_table(tmp_path / "ev.csv")
    assert list(events.columns) == ["start", "end", "length", "peak_score", "peak_row"]
    check_events_against_rows(events, read_table(tmp_path / "rows.csv"))


@pytest.mark.parametrize(
    "spec, method, param",
    [
        ("pot:1e-3", "pot", ("risk", 1e-3)),
        ("contamination:0.01", "contamination", ("fraction", 0.01)),
    ],
)
def test_fit_threshold_option(files, tmp_path, spec, method, param):
    out = tmp_path / "m.tsae"
    result = run("fit", files / "train.csv", "-o", out, "--arch", "dense", "--threshold", spec, *FAST)
    assert result.exit_code == 0, result.output
    info = run("info", out, "--json")
    header = json.loads(info.stdout)
    assert header["threshold"]["method"] == method and header["threshold"][param[0]] == param[1]
    assert header["threshold"]["cutoff"] == load(out).threshold_.cutoff_


def test_fit_rejects_pr_and_bad_rules(files, tmp_path):
    out = tmp_path / "m.tsae"
    one_line_error(run("fit", files / "train.csv", "-o", out, "--threshold", "pr", *FAST), "calibrate")
    one_line_error(
        run("fit", files / "train.csv", "-o", out, "--min-length", "0", *FAST),
        "min_length must be an integer >= 1, got 0",
    )
    assert not out.exists()


def test_fit_min_length_is_stored_and_applied(files, tmp_path):
    out = tmp_path / "m.tsae"
    # overlap scores are the jumpiest: the raw flags have short runs for the rules to act on
    result = run(
        "fit",
        files / "train.csv",
        "-o",
        out,
        "--arch",
        "dense",
        "--threshold",
        "percentile:97",
        "--min-length",
        "3",
        "--merge-gap",
        "2",
        "--cooldown",
        "4",
        "--score-mode",
        "overlap",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    header = json.loads(run("info", out, "--json").stdout)
    assert header["events"] == {"merge_gap": 2, "min_length": 3, "cooldown": 4}
    rows = tmp_path / "rows.csv"
    assert run("score", files / "labelled.csv", "-m", out, "-o", rows, "--chunk-rows", "777").exit_code == 0
    flags = read_table(rows)["is_anomaly"].to_numpy().astype(bool)
    spans = runs(flags)
    assert len(spans) > 0 and (spans[:, 1] - spans[:, 0] + 1 >= 3).all()
    assert (spans[1:, 0] - spans[:-1, 1] > 4).all()  # merge_gap 2 and cooldown 4: starts > 4 after an end
    det = load(out, threads=1)
    scores = det.score(read_table(files / "labelled.csv")).to_numpy()
    raw = det.threshold_(scores)
    assert (np.diff(runs(raw), axis=1) < 2).any()  # without the rules there are short runs
    np.testing.assert_array_equal(flags, det.events_.apply(raw))
