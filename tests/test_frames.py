"""Tests for tsae.frames: column choice, conversion to floats, and gap filling."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsae import io
from tsae.errors import ConfigError, DataError
from tsae.frames import GapFiller, find_timestamp, find_value_columns, to_values

NAN = np.nan


# --- find_timestamp -------------------------------------------------------------------


def test_timestamp_by_dtype_first():
    df = pd.DataFrame({"time": [1, 2], "when": pd.to_datetime(["2020-01-01", "2020-01-02"]), "v": [1.0, 2.0]})
    assert find_timestamp(df) == "when"


def test_timestamp_by_name_any_dtype():
    df = pd.DataFrame({"v": [1.0, 2.0], "TimeStamp": [0, 1]})
    assert find_timestamp(df) == "TimeStamp"
    assert find_timestamp(pd.DataFrame({"v": [1.0], "Date": ["x"]})) == "Date"
    assert find_timestamp(pd.DataFrame({"v": [1.0], "w": [2]})) is None


def test_timestamp_explicit():
    df = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    assert find_timestamp(df, "b") == "b"
    with pytest.raises(DataError, match=r"^data\.csv has no column 'ts' \(columns: a, b, c\)$"):
        find_timestamp(df, "ts", source="data.csv")


# --- find_value_columns ---------------------------------------------------------------


def test_value_columns_exclude_timestamp_labels_and_text():
    df = pd.DataFrame(
        {
            "timestamp": [0, 1, 2],
            "value": [1.0, 2.0, 3.0],
            "Label": [0, 1, 0],
            "is_anomaly": [0, 0, 1],
            "host": pd.Series(["a", "b", None], dtype="str"),
            "partly": pd.Series(["1", "x", "3"], dtype="str"),
            "other": [1, 2, 3],
        }
    )
    ts = find_timestamp(df)
    assert ts == "timestamp"
    assert find_value_columns(df, ts) == ["value", "partly", "other"]


def test_value_columns_explicit():
    df = pd.DataFrame({"a": [1.0], "label": [1], "host": ["x"]})
    assert find_value_columns(df, columns=["label", "a"]) == ["label", "a"]
    with pytest.raises(DataError, match=r"^d\.csv has no columns 'b', 'c' \(columns: a, label, host\)$"):
        find_value_columns(df, columns=["a", "b", "c"], source="d.csv")
    with pytest.raises(DataError, match=r"^d\.csv has no column 'b' \(columns: a, label, host\)$"):
        find_value_columns(df, columns=["b"], source="d.csv")
    with pytest.raises(DataError, match=r"^d\.csv: column 'host' holds text, not numbers$"):
        find_value_columns(df, columns=["host"], source="d.csv")


def test_no_numeric_columns():
    df = pd.DataFrame({"timestamp": pd.to_datetime(["2020-01-01"]), "host": ["a"], "label": [0]})
    with pytest.raises(DataError, match=r"^data\.csv has no numeric columns \(columns: timestamp, host, label\)$"):
        find_value_columns(df, find_timestamp(df), source="data.csv")


# --- to_values ------------------------------------------------------------------------


def test_to_values_types():
    df = pd.DataFrame(
        {
            "f": [1.5, NAN, 3.0],
            "i": [1, 2, 3],
            "b": [True, False, True],
            "s": pd.Series(["1e3", None, " 2 "], dtype="str"),
            "o": pd.Series([1, "", "NA"], dtype=object),
            "n": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    out = to_values(df, ["f", "i", "b", "s", "o", "n"])
    assert out.dtype == np.float64 and out.shape == (3, 6)
    expected = np.array([[1.5, 1, 1, 1000, 1, 1], [NAN, 2, 0, NAN, NAN, NAN], [3, 3, 1, 2, NAN, 3]])
    np.testing.assert_array_equal(out, expected)


def test_to_values_text_names_column_and_row():
    df = pd.DataFrame({"value": pd.Series(["1", "2", "abc", "x"], dtype="str", index=range(15, 19))})
    with pytest.raises(DataError, match=r"^data\.csv: column 'value' has text 'abc' at row 17 \(numbers expected\)$"):
        to_values(df, ["value"], source="data.csv")


def test_to_values_text_from_whole_csv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("timestamp,value\n" + "".join(f"{i},{i}\n" if i != 17 else "17,abc\n" for i in range(30)))
    df = io.read_table(path)
    with pytest.raises(DataError, match=r"data\.csv: column 'value' has text 'abc' at row 17 \(numbers expected\)"):
        to_values(df, find_value_columns(df, find_timestamp(df)), source="data.csv")


def test_to_values_infinite():
    df = pd.DataFrame({"value": [1.0, 2, 3, 4, 5, -np.inf]}, index=range(6))
    with pytest.raises(DataError, match=r"^x\.csv: column 'value' has an infinite value at row 5$"):
        to_values(df, ["value"], source="x.csv")
    df = pd.DataFrame({"value": pd.Series(["1", "inf"], dtype="str", index=[40, 41])})
    with pytest.raises(DataError, match=r"column 'value' has an infinite value at row 41$"):
        to_values(df, ["value"])


def test_to_values_rejects_timestamps():
    df = pd.DataFrame({"t": pd.to_datetime(["2020-01-01"])})
    with pytest.raises(DataError, match="column 't' holds timestamps"):
        to_values(df, ["t"])


def test_to_values_large_string_column_is_fast_enough():
    n = 1_000_000
    df = pd.DataFrame({"v": pd.Series(np.arange(n).astype(str), dtype="str")})
    out = to_values(df, ["v"])
    assert out[-1, 0] == n - 1


# --- GapFiller ------------------------------------------------------------------------


def col(*xs):
    return np.array(xs, dtype=float).reshape(-1, 1)


def test_short_gap_forward_filled():
    out = GapFiller(2).fill(col(1, NAN, NAN, 4, NAN), 0, "x", ["v"])
    np.testing.assert_array_equal(out.ravel(), [1, 1, 1, 4, 4])


def test_long_gap_error_names_rows():
    values = np.ones((120, 1))
    values[100:112] = NAN
    with pytest.raises(DataError) as info:
        GapFiller(5).fill(values, 0, "data.csv", ["value"])
    assert str(info.value) == (
        "data.csv: column 'value' has 12 missing values in a row at rows 100-111 (at most 5 are filled; see max_gap)"
    )


def test_leading_gap_backfilled_and_too_long_leading_gap():
    out = GapFiller(3).fill(col(NAN, NAN, NAN, 7, 8), 0, "x", ["v"])
    np.testing.assert_array_equal(out.ravel(), [7, 7, 7, 7, 8])
    with pytest.raises(DataError, match=r"has 4 missing values in a row at rows 0-3"):
        GapFiller(3).fill(col(NAN, NAN, NAN, NAN, 8), 0, "x", ["v"])


def test_max_gap_zero_and_config():
    with pytest.raises(DataError, match=r"^x: column 'v' has a missing value at row 12 \(at most 0"):
        GapFiller(0).fill(col(1, 2, NAN), 10, "x", ["v"])
    np.testing.assert_array_equal(GapFiller(0).fill(col(1, 2)).ravel(), [1, 2])
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ConfigError, match="max_gap"):
            GapFiller(bad)


def test_gap_spanning_chunks_counted_whole():
    filler = GapFiller(3)
    np.testing.assert_array_equal(filler.fill(col(1, 2, NAN, NAN), 0).ravel(), [1, 2, 2, 2])
    np.testing.assert_array_equal(filler.fill(col(NAN, 5), 4).ravel(), [2, 5])
    filler = GapFiller(3)
    filler.fill(col(1, 2, NAN, NAN), 0, "x", ["v"])
    with pytest.raises(DataError, match=r"has 4 missing values in a row at rows 2-5 "):
        filler.fill(col(NAN, NAN, 5), 4, "x", ["v"])


def test_first_chunk_without_valid_value():
    with pytest.raises(DataError, match=r"column 'v' has no valid value in its first 2 rows \(rows 0-1\)"):
        GapFiller(5).fill(col(NAN, NAN), 0, "x", ["v"])


def test_input_not_mutated_and_reset():
    values = col(1, NAN, 3)
    before = values.copy()
    filler = GapFiller(2)
    out = filler.fill(values)
    np.testing.assert_array_equal(values, before)
    assert out is not values and out[1, 0] == 1
    filler.fill(col(NAN))  # continues the series: filled with 3
    filler.reset()
    with pytest.raises(DataError, match="no valid value"):
        filler.fill(col(NAN))


def test_error_leaves_state_unchanged():
    filler = GapFiller(1)
    filler.fill(col(1, 2), 0)
    with pytest.raises(DataError):
        filler.fill(col(5, NAN, NAN), 2)
    np.testing.assert_array_equal(filler.fill(col(NAN, 9), 2).ravel(), [2, 9])


@st.composite
def gappy(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 3))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k))).reshape(n, k)
    values = np.arange(n * k, dtype=float).reshape(n, k) + 1
    values[mask] = NAN
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=6))) if n > 1 else []
    return values, cuts, draw(st.integers(0, 4))


@settings(max_examples=400, deadline=None)
@given(gappy())
def test_chunked_filling_equals_whole(case):
    values, cuts, max_gap = case
    columns = [f"c{j}" for j in range(values.shape[1])]
    try:
        whole = GapFiller(max_gap).fill(values, 0, "x", columns)
    except DataError:
        whole = None

    filler = GapFiller(max_gap)
    parts = []
    bounds = [0, *cuts, len(values)]
    try:
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            parts.append(filler.fill(values[lo:hi], lo, "x", columns))
        chunked = np.vstack(parts)
    except DataError as exc:
        chunked = None
        message = str(exc)

    if whole is None:
        assert chunked is None  # an error in the whole array is an error in chunks too
    elif chunked is None:
        # The only allowed difference: a first chunk with no valid value in a column.
        first = values[: bounds[1]]
        assert np.isnan(first).all(axis=0).any() and "no valid value" in message
    else:
        np.testing.assert_array_equal(chunked, whole)
        assert not np.isnan(whole).any()
