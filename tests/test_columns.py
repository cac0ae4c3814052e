"""Which columns are channels: label-like names, constant flags, lists, the CSV dialect
in messages, values beyond float32's range, and labels for evaluate/calibrate."""

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from tsae import Detector, TsaeWarning, load
from tsae.errors import DataError
from tsae.frames import (
    LABEL_COLUMNS,
    GapFiller,
    choose_fit_columns,
    classify_columns,
    find_label_column,
    find_value_columns,
    read_labels,
    to_values,
)
from tsae.io import iter_table_chunks, read_table, write_table

TINY = dict(window=16, epochs=1, max_windows=64, threads=1)


def series(n=600, seed=0):
    """Two periodic channels (period 25) with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame(
        {
            "a": np.sin(2 * np.pi * t / 25) + 0.05 * rng.normal(size=n),
            "b": np.cos(2 * np.pi * t / 25) + 0.05 * rng.normal(size=n),
        }
    )


def skab_like(n=600):
    """A SKAB-style table: timestamp, two sensors, 'anomaly' and 'changepoint' labels,
    a constant 1 flag and a constant 0 integer column."""
    frame = series(n)
    frame.insert(0, "datetime", pd.date_range("2024-01-01", periods=n, freq="s"))
    return frame.assign(anomaly=0, changepoint=0, valve_open=True, alarm=0)


def fit_recording(frame, **kwargs):
    """Fit a tiny dense detector; return it and the TsaeWarning messages about columns
    (not the one about a cutoff resting on few validation scores: tests/test_fit_limits.py)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det = Detector("dense", **{**TINY, **kwargs}).fit(frame, source="train.csv")
    return det, [
        str(w.message)
        for w in caught
        if issubclass(w.category, TsaeWarning) and "validation scores" not in str(w.message)
    ]


# --- label-like names ------------------------------------------------------------------


def test_label_like_names_include_changepoint_attack_and_fault():
    assert LABEL_COLUMNS == ("label", "labels", "anomaly", "is_anomaly", "changepoint", "attack", "fault")
    names = ["value", "Label", "LABELS", "Anomaly", "is_anomaly", "ChangePoint", "attack", "Fault"]
    df = pd.DataFrame({name: [0, 1, 0] for name in names})
    chosen, left_out = classify_columns(df)
    assert chosen == ["value"]
    assert left_out == {name: "label name" for name in names[1:]}


def test_fit_leaves_out_labels_and_constant_flags_in_one_warning():
    det, messages = fit_recording(skab_like())
    assert det.channels_ == ["a", "b"]
    assert det.ignored_columns_ == ["anomaly", "changepoint", "valve_open", "alarm"]
    assert det._header()["ignored_columns"] == det.ignored_columns_
    assert messages == [
        "train.csv: left out column(s) anomaly (label name), changepoint (label name), "
        "valve_open (constant 1), alarm (constant 0); choose the columns explicitly to use them"
    ]


def test_constant_column_that_is_not_a_flag_is_kept_with_a_warning():
    det, messages = fit_recording(series().assign(setpoint=5.0))
    assert det.channels_ == ["a", "b", "setpoint"] and det.ignored_columns_ == []
    assert messages == [
        "train.csv: column(s) setpoint are constant in the training data, so any change in them will look anomalous"
    ]


def test_explicit_columns_keep_a_constant_flag():
    det, messages = fit_recording(skab_like(), columns=["a", "alarm"])
    assert det.channels_ == ["a", "alarm"] and det.ignored_columns_ == []
    assert messages == [
        "train.csv: column(s) alarm are constant in the training data, so any change in them will look anomalous"
    ]


def test_only_constant_flags_is_an_error():
    with pytest.raises(
        DataError,
        match=r"^train\.csv has no value columns but constant 0/1 flags: "
        r"on \(constant 1\), off \(constant 0\)$",
    ):
        Detector("dense", **TINY).fit(pd.DataFrame({"on": [1] * 100, "off": [0.0] * 100}), source="train.csv")


def test_scoring_data_that_still_has_the_left_out_columns(tmp_path):
    det, _ = fit_recording(skab_like())
    test = skab_like(300)
    test.loc[100:120, ["anomaly", "changepoint", "alarm"]] = 1  # the flags change: still not channels
    test.loc[100:120, "valve_open"] = False
    scores = det.score(test)
    assert len(scores) == 300 and scores.notna().all()
    write_table(test, tmp_path / "test.csv")
    np.testing.assert_allclose(det.score(tmp_path / "test.csv").to_numpy(), scores.to_numpy())
    det.save(tmp_path / "m.tsae")
    again = load(tmp_path / "m.tsae", threads=1)
    assert again.ignored_columns_ == det.ignored_columns_
    np.testing.assert_array_equal(again.score(test).to_numpy(), scores.to_numpy())


def test_without_labels_drops_every_label_like_column_that_is_not_a_channel():
    det, _ = fit_recording(skab_like(), columns=["a", "b", "changepoint"])
    frame = skab_like(50).assign(truth=0)
    kept = det._without_labels(frame, "truth").columns.tolist()
    assert kept == ["datetime", "a", "b", "changepoint", "valve_open", "alarm"]


# --- find_label_column, evaluate and calibrate -----------------------------------------


def test_find_label_column():
    df = pd.DataFrame({"value": [1.0], "Anomaly": [0], "changepoint": [0]})
    assert find_label_column(df) == "Anomaly"
    assert find_label_column(df, "changepoint") == "changepoint"
    assert find_label_column(df[["value"]]) is None
    message = r"^d\.csv has no label column 'truth' \(columns: value, Anomaly, changepoint\)$"
    with pytest.raises(DataError, match=message):
        find_label_column(df, "truth", source="d.csv")


def test_read_labels_without_a_label_column_says_what_it_looked_for():
    df = pd.DataFrame({"value": [1.0], "truth": [0]})
    with pytest.raises(
        DataError,
        match=r"^d\.csv has no label column \(looked for label, labels, anomaly, "
        r"is_anomaly, changepoint, attack, fault; columns: value, truth\)$",
    ):
        read_labels(df, source="d.csv")


@pytest.fixture(scope="module")
def labelled():
    """(a detector fitted on clean data, a test frame labelled in 'anomaly' with a
    'changepoint' column too, its labels)."""
    frame = series(1200)
    det = Detector("dense", **TINY).fit(frame.iloc[:600])
    test = frame.iloc[600:].reset_index(drop=True)
    labels = np.zeros(len(test), dtype=int)
    labels[300:320] = 1
    test.loc[300:319, "a"] += 3.0
    return det, test.assign(anomaly=labels, changepoint=(np.arange(len(test)) == 300).astype(int)), labels


def test_evaluate_finds_the_anomaly_column(labelled):
    det, test, labels = labelled
    result = det.evaluate(test, source="test.csv")
    assert result["rows"] == 600 and result["anomalous_rows"] == 20
    assert result == det.evaluate(test.drop(columns=["anomaly", "changepoint"]), labels=labels)


def test_calibrate_finds_the_anomaly_column(labelled):
    det, test, labels = labelled
    found = copy.deepcopy(det).calibrate(test, "pr").threshold_.cutoff_
    given = copy.deepcopy(det).calibrate(test.drop(columns=["anomaly", "changepoint"]), "pr", labels=labels)
    assert found == given.threshold_.cutoff_


def test_calibrate_pr_without_labels_is_a_clear_error(labelled):
    det, test, _ = labelled
    with pytest.raises(DataError, match=r"^test\.csv has no label column \(looked for label, .*; columns: a, b\)$"):
        copy.deepcopy(det).calibrate(test[["a", "b"]], "pr", source="test.csv")


# --- lists, dicts and bytes ------------------------------------------------------------


@pytest.fixture
def parquet_with_containers(tmp_path):
    """train.parquet: channels a, b and a list, a struct and a binary column; the list
    column is null in the first 300 rows."""
    frame = series(600).assign(tags=[None] * 300 + [[1.0, 2.0]] * 300, meta=[{"k": 1}] * 600, raw=[b"1"] * 600)
    frame = frame[["a", "tags", "meta", "raw", "b"]]
    path = tmp_path / "train.parquet"
    frame.to_parquet(path)
    return path


def test_fit_skips_list_struct_and_binary_columns(parquet_with_containers):
    with pytest.warns(
        TsaeWarning,
        match=r"left out column\(s\) tags \(holds lists\), meta \(holds dicts\), "
        r"raw \(holds bytes\)",
    ):
        det = Detector("dense", **TINY).fit(parquet_with_containers)
    assert det.channels_ == ["a", "b"] and det.ignored_columns_ == ["tags", "meta", "raw"]
    path = str(parquet_with_containers)
    whole = det.score(path).to_numpy()
    gaps = GapFiller(det.max_gap)
    chunked = [
        det._prepare(chunk, path, gaps, first_row=int(chunk.index[0]))  # 'tags' all null at first: not extra
        for chunk in iter_table_chunks(path, 100)
    ]
    np.testing.assert_array_equal(np.vstack(chunked), read_table(path)[["a", "b"]].to_numpy())
    assert np.isfinite(whole).all()


def test_requested_list_column_is_a_clear_error(parquet_with_containers):
    path = str(parquet_with_containers)
    for name, kind in (("tags", "lists"), ("meta", "dicts"), ("raw", "bytes")):
        with pytest.raises(DataError, match=rf"^{path}: column '{name}' holds {kind}, not numbers$"):
            Detector("dense", **TINY, columns=["a", name]).fit(path)
        with pytest.raises(DataError, match=rf"column '{name}' holds {kind}, not numbers$"):
            to_values(read_table(path).iloc[300:], [name], path)


def test_list_column_never_gives_a_column_order_error(parquet_with_containers):
    det = Detector("dense", **TINY).fit(series(600))
    frame = read_table(parquet_with_containers)  # a, tags, meta, raw, b: a and b in the fitted order
    det._check_columns(frame)
    with pytest.raises(DataError, match="different order: b, a"):
        det._check_columns(frame[["b", "tags", "a"]])


# --- how a CSV file was read ------------------------------------------------------------


def test_no_numeric_columns_says_how_the_csv_was_read():
    df = pd.DataFrame({"time;value": ["2024-01-01;1,5", "2024-01-02;2,5"]})
    df.attrs["csv_dialect"] = "','-separated, decimal '.', utf-8"
    message = r"^x\.csv has no numeric columns \(read as ','-separated, decimal '\.', utf-8; columns: time;value\)$"
    with pytest.raises(DataError, match=message):
        find_value_columns(df, source="x.csv")
    with pytest.raises(DataError, match=message):
        choose_fit_columns(df, source="x.csv")


# --- float32 range ----------------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [(1e39, "1e+39"), (-1e308, "-1e+308"), ("3.5e38", "3.5e+38")])
def test_values_beyond_float32_are_refused(value, shown):
    cells = [1.0, 2.0, value, 4.0] if not isinstance(value, str) else ["1", "2", value, "4"]
    df = pd.DataFrame({"v": pd.Series(cells, index=range(10, 14))})
    message = (
        rf"^x\.csv: column 'v' has {re.escape(shown)} at row 12, beyond the float32 range "
        r"the model computes in \(largest magnitude 3\.402823e\+38\)$"
    )
    with pytest.raises(DataError, match=message):
        to_values(df, ["v"], source="x.csv")


def test_largest_float32_is_accepted():
    df = pd.DataFrame({"v": [3.4028235e38, -3.4028235e38, 0.0]})
    assert np.isfinite(to_values(df, ["v"])).all()


def test_huge_value_refused_in_batch_and_chunked_scoring(tmp_path):
    det = Detector("dense", **TINY).fit(series(600))
    frame = series(400, seed=1)
    frame.loc[250, "b"] = 1e39
    path = tmp_path / "huge.csv"
    write_table(frame, path)
    with pytest.raises(DataError, match=r"column 'b' has 1e\+39 at row 250, beyond the float32 range"):
        det.score(frame, source="huge.csv")
    with pytest.raises(DataError, match=r"huge\.csv: column 'b' has 1e\+39 at row 250, beyond the float32 range"):
        gaps = GapFiller(det.max_gap)
        for chunk in iter_table_chunks(path, 100):
            det._prepare(chunk, str(path), gaps, first_row=int(chunk.index[0]))
    with pytest.raises(DataError, match=r"column 'b' has 1e\+39 at row 250"):
        Detector("dense", **TINY).fit(frame)
