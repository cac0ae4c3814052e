"""Tests for tsae.io: reading, chunked reading and atomic writing of CSV and Parquet."""

import datetime
import os
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tsae import io
from tsae.errors import ConfigError, DataError, TsaeError
from tsae.frames import to_values


def sample_frame(n=50):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2021-03-01", periods=n, freq="min"),
            "value": rng.normal(size=n) * 1e3,
            "other": rng.random(n) / 3,
            "flag": np.arange(n) % 3 == 0,
            "host": [f"h{i % 4}" for i in range(n)],
            "count": np.arange(n, dtype=np.int64),
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq"])
def test_round_trip(tmp_path, suffix):
    df = sample_frame()
    path = tmp_path / f"data{suffix}"
    io.write_table(df, path)
    back = io.read_table(path)
    assert list(back.columns) == list(df.columns)
    assert isinstance(back.index, pd.RangeIndex) and back.index[0] == 0 and len(back) == len(df)
    np.testing.assert_array_equal(back["value"].to_numpy(), df["value"].to_numpy())  # floats exact
    np.testing.assert_array_equal(back["other"].to_numpy(), df["other"].to_numpy())
    np.testing.assert_array_equal(back["flag"].to_numpy(), df["flag"].to_numpy())
    np.testing.assert_array_equal(back["count"].to_numpy(), df["count"].to_numpy())
    assert back["host"].tolist() == df["host"].tolist()
    assert pd.api.types.is_datetime64_any_dtype(back["timestamp"])
    assert (back["timestamp"] == df["timestamp"]).all()


def test_csv_missing_values_and_text_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b\n1,x\n,NA\n3,\n")
    df = io.read_table(path)
    assert np.isnan(df["a"][1]) and df["a"][2] == 3
    assert df["b"][0] == "x" and df["b"].isna().tolist() == [False, True, True]


def test_csv_with_text_in_numeric_column_reads_as_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("value\n1\n2\nabc\n4\n")
    df = io.read_table(path)
    assert df["value"].tolist() == ["1", "2", "abc", "4"]


def test_parquet_pandas_index_is_dropped_or_becomes_column(tmp_path):
    unnamed = pd.DataFrame({"v": [1.0, 2.0]}, index=[7, 9])
    unnamed.to_parquet(tmp_path / "u.parquet")
    df = io.read_table(tmp_path / "u.parquet")
    assert list(df.columns) == ["v"] and list(df.index) == [0, 1]
    named = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.date_range("2020", periods=2, name="timestamp"))
    named.to_parquet(tmp_path / "n.parquet")
    df = io.read_table(tmp_path / "n.parquet")
    assert sorted(df.columns) == ["timestamp", "v"] and list(df.index) == [0, 1]


def _check_chunks(path, whole, chunk_rows):
    chunks = list(io.iter_table_chunks(path, chunk_rows=chunk_rows))
    assert len(chunks) == -(-len(whole) // chunk_rows)
    assert all(len(c) == chunk_rows for c in chunks[:-1]) and 0 < len(chunks[-1]) <= chunk_rows
    start = 0
    for chunk in chunks:
        assert list(chunk.columns) == list(whole.columns)
        assert list(chunk.index) == list(range(start, start + len(chunk)))
        start += len(chunk)
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 50, 1000])
def test_chunked_read_equals_whole(tmp_path, suffix, chunk_rows):
    path = tmp_path / f"data{suffix}"
    io.write_table(sample_frame(50), path)
    _check_chunks(path, io.read_table(path), chunk_rows)


def test_chunked_csv_many_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)  # many pyarrow blocks, not aligned to chunks
    path = tmp_path / "big.csv"
    io.write_table(sample_frame(3000), path)
    _check_chunks(path, io.read_table(path), 333)


def test_chunked_csv_widens_types_in_late_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    n = 2000
    lines = ["t,i,late"] + [f"2020-01-01T00:00:{k % 60:02d},{k}," for k in range(n)]
    lines.append("2020-01-01T00:00:00.5,2.5,7")  # fraction of a second, float, first value
    path = tmp_path / "w.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = list(io.iter_table_chunks(path, chunk_rows=500))
    whole = pd.concat(chunks)
    assert len(whole) == n + 1 and list(whole.index) == list(range(n + 1))
    assert whole["i"].iloc[-1] == 2.5 and whole["i"].iloc[10] == 10
    assert whole["late"].iloc[-1] == 7 and pd.isna(whole["late"].iloc[0])
    assert whole["t"].iloc[-1] == pd.Timestamp("2020-01-01T00:00:00.5")


def _values_of_every_chunk(path, column, **kwargs):
    for chunk in io.iter_table_chunks(path, **kwargs):
        to_values(chunk, [column], source=str(path))


def test_chunked_csv_text_in_late_block_names_row(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    lines = ["timestamp,value"] + [f"{k},{k * 0.5}" for k in range(3000)]
    lines[2501] = "2500,abc"  # data row 2500
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    expected = r"late\.csv: column 'value' has text 'abc' at row 2500 \(numbers expected\)$"
    with pytest.raises(DataError, match=expected):
        _values_of_every_chunk(path, "value", chunk_rows=1000)
    with pytest.raises(DataError, match=expected):
        to_values(io.read_table(path), ["value"], source=str(path))
    chunks = list(io.iter_table_chunks(path, chunk_rows=1000))
    assert chunks[1]["value"].dtype == np.float64 and chunks[2]["value"][2500] == "abc"
    assert chunks[2]["value"][2001] == "1000.5" and chunks[2]["value"][2999] == "1499.5"


def test_chunked_csv_text_in_late_block_default_block_size(tmp_path):
    n = 150_000  # more than one default block (1 MiB)
    values = np.arange(n) * 0.25
    text = "value\n" + "\n".join(map(str, values)) + "\n"
    text = text.replace(f"\n{values[140_000]}\n", "\noops\n")
    path = tmp_path / "big.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"column 'value' has text 'oops' at row 140000 \(numbers expected\)$"):
        _values_of_every_chunk(path, "value")
    whole = io.read_table(path)
    assert whole["value"][139_999] == str(values[139_999]) and whole["value"][140_000] == "oops"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"^file not found: .*nope\.csv$"):
        io.read_table(path)
    with pytest.raises(DataError, match=r"^file not found: .*nope\.csv$"):
        io.iter_table_chunks(path)


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_unsupported_suffix(tmp_path, reader):
    path = tmp_path / "data.txt"
    path.write_text("a\n1\n")
    with pytest.raises(DataError, match=r"unsupported file type '\.txt' for .*data\.txt: use \.csv or \.parquet"):
        reader(path)


def test_table_format():
    assert io.table_format("x.CSV") == "csv"
    assert io.table_format("dir.v1/x.pq") == "parquet"
    with pytest.raises(DataError, match="unsupported file type"):
        io.table_format("noext")


@pytest.mark.parametrize("content", ["", "a,b\n", "a,b"])
@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_empty_csv(tmp_path, content, reader):
    path = tmp_path / "e.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=r"e\.csv is empty \(no data rows\)$"):
        reader(path)


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_empty_parquet(tmp_path, reader):
    path = tmp_path / "e.parquet"
    io.write_table(pd.DataFrame({"a": pd.Series([], dtype=float)}), path)
    with pytest.raises(DataError, match=r"e\.parquet is empty \(no data rows\)$"):
        reader(path)
    (tmp_path / "zero.parquet").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.parquet is empty"):
        reader(tmp_path / "zero.parquet")


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_corrupt_parquet(tmp_path, reader):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet at all, just some bytes")
    with pytest.raises(DataError, match=r"cannot read .*bad\.parquet: ") as info:
        reader(path)
    assert "\n" not in str(info.value)


def test_duplicate_column_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,a\n1,2\n")
    with pytest.raises(DataError, match="two columns named 'a'"):
        io.read_table(path)


def test_bad_chunk_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ConfigError, match="chunk_rows"):
        io.iter_table_chunks(path, chunk_rows=0)


# --- CSV dialects ----------------------------------------------------------------------


def _both_readers(path, chunk_rows=3, **kwargs):
    """The whole read and the concatenated chunked read."""
    whole = io.read_table(path, **kwargs)
    chunks = list(io.iter_table_chunks(path, chunk_rows=chunk_rows, **kwargs))
    assert all(c.attrs == whole.attrs for c in chunks)
    return whole, pd.concat(chunks)


@pytest.mark.parametrize("sep, shown", [(",", "','"), (";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_separator_is_detected(tmp_path, sep, shown):
    path = tmp_path / "s.csv"
    rows = [["timestamp", "value", "host"]] + [[f"2021-01-01 00:0{k}:00", str(k * 1.5), f"h{k}"] for k in range(7)]
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n")
    assert io.sniff_csv(path) == io.CsvDialect(sep, ".", "utf-8")
    for df in _both_readers(path):
        assert list(df.columns) == ["timestamp", "value", "host"]
        assert df["value"].tolist() == [k * 1.5 for k in range(7)]
        assert pd.api.types.is_datetime64_any_dtype(df["timestamp"])
        assert df.attrs["csv_dialect"] == f"{shown}-separated, decimal '.', utf-8"


def test_separator_detection_respects_quotes(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a;b\n"x;y";1\n"p;q";2\n')  # a comma never appears, the quoted ';' must not count
    assert io.sniff_csv(path).sep == ";"
    df = io.read_table(path)
    assert df["a"].tolist() == ["x;y", "p;q"] and df["b"].tolist() == [1, 2]


def test_single_column_falls_back_to_comma(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("value\n1.5\n2.5\n")
    assert io.sniff_csv(path) == io.CsvDialect(",", ".", "utf-8")
    assert io.read_table(path)["value"].tolist() == [1.5, 2.5]


def test_single_column_with_decimal_comma(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("wert\n1,5\n-0,25\n")  # a comma splits the rows but not the header
    assert io.sniff_csv(path) == io.CsvDialect(";", ",", "utf-8")
    assert io.read_table(path)["wert"].tolist() == [1.5, -0.25]


def test_separator_survives_a_malformed_line(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a;b\n" + "".join(f"{k};{k}\n" for k in range(20)) + "1;2;3\n")
    assert io.sniff_csv(path).sep == ";"
    expected = r"m\.csv: row 20 has 3 fields but the header has 2 \('1;2;3'; read as ';'-separated"
    with pytest.raises(DataError, match=expected):
        io.read_table(path)


@pytest.mark.parametrize(
    "make, message", [(lambda p: None, "file not found"), (lambda p: p.write_bytes(b""), "is empty")]
)
def test_sniff_csv_missing_or_empty(tmp_path, make, message):
    path = tmp_path / "x.csv"
    make(path)
    with pytest.raises(DataError, match=message):
        io.sniff_csv(path)


def test_forced_separator(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b;c\n1,2;3\n4,5;6\n")  # sniffing picks ',' (tie, comma first)
    assert list(io.read_table(path).columns) == ["a", "b;c"]
    for df in _both_readers(path, sep=";"):
        assert list(df.columns) == ["a,b", "c"] and df["c"].tolist() == [3, 6]
        assert df["a,b"].tolist() == [1.2, 4.5]  # with ';' as separator, "1,2" has a decimal comma
    assert io.sniff_csv(path, sep=";") == io.CsvDialect(";", ",", "utf-8")


@pytest.mark.parametrize("sep", ["", ";;", '"', "\n", 1])
def test_bad_separator_is_config_error(tmp_path, sep):
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    for call in (io.read_table, io.iter_table_chunks, io.sniff_csv):
        with pytest.raises(ConfigError, match="sep must be one character"):
            call(path, sep=sep)


def test_decimal_comma(tmp_path):
    path = tmp_path / "de.csv"
    path.write_text(
        "zeit;wert;n;name\n2021-01-01 00:00:00;1,5;3;a,b\n2021-01-01 00:01:00;-0,25;4;x\n"
        "2021-01-01 00:02:00;;5;y\n2021-01-01 00:03:00;1e3;6;z\n"
    )
    assert io.sniff_csv(path) == io.CsvDialect(";", ",", "utf-8")
    for df in _both_readers(path):
        assert df["wert"].tolist()[:2] == [1.5, -0.25] and np.isnan(df["wert"][2]) and df["wert"][3] == 1000
        assert df["n"].tolist() == [3, 4, 5, 6]
        assert df["name"].tolist() == ["a,b", "x", "y", "z"]  # text with a comma stays as it is
        assert df.attrs["csv_dialect"] == "';'-separated, decimal ',', utf-8"


def test_decimal_comma_late_in_file(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    lines = ["t;v"] + [f"{k};{k},25" for k in range(3000)]
    lines[2801] = "2800;abc"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    whole = io.read_table(path)
    assert whole["v"][2799] == "2799.25" and whole["v"][2800] == "abc"
    with pytest.raises(DataError, match=r"column 'v' has text 'abc' at row 2800 "):
        _values_of_every_chunk(path, "v", chunk_rows=1000)
    ok = to_values(whole.drop(index=2800), ["v"])[:, 0]
    assert ok.tolist() == [k + 0.25 for k in range(3000) if k != 2800]


@pytest.mark.parametrize(
    "cells",
    [
        ["1.234,5", "2,5"],  # digit grouping with dots: never guessed
        ["1,5", "2.5"],  # a dot decimal too
        ["1,234,567", "2,5"],
    ],
)
def test_decimal_comma_is_not_guessed(tmp_path, cells):
    path = tmp_path / "g.csv"
    path.write_text("a;b\n" + "".join(f"{c};x\n" for c in cells))
    assert io.sniff_csv(path).decimal == "."
    assert io.read_table(path)["a"].tolist() == cells  # left as text: tsae.frames names the cell


def test_comma_separated_never_has_decimal_comma(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('a,b\n"1,5",2\n')
    assert io.sniff_csv(path) == io.CsvDialect(",", ".", "utf-8")
    assert io.read_table(path)["a"].tolist() == ["1,5"]


@pytest.mark.parametrize("sep", [",", ";"])
def test_utf8_bom(tmp_path, sep):
    path = tmp_path / "bom.csv"
    path.write_bytes(f"\ufefftimestamp{sep}value\n2021-01-01{sep}1\n2021-01-02{sep}2\n".encode())
    assert io.sniff_csv(path) == io.CsvDialect(sep, ".", "utf-8-sig")
    for df in _both_readers(path):
        assert list(df.columns) == ["timestamp", "value"] and df["value"].tolist() == [1, 2]


def test_cp1252_header_and_cells(tmp_path):
    path = tmp_path / "win.csv"
    text = "température;débit €;lieu\n20,5;1;Orléans\n-3,25;2;“Zürich”\n"
    path.write_bytes(text.encode("cp1252"))
    assert io.sniff_csv(path) == io.CsvDialect(";", ",", "cp1252")
    for df in _both_readers(path):
        assert list(df.columns) == ["température", "débit €", "lieu"]
        assert df["température"].tolist() == [20.5, -3.25] and df["lieu"].tolist() == ["Orléans", "“Zürich”"]
        assert df.attrs["csv_dialect"] == "';'-separated, decimal ',', cp1252"


def test_latin1_when_not_cp1252(tmp_path):
    path = tmp_path / "l1.csv"
    path.write_bytes(b"a,b\n1,x\x81\xe9\n")  # 0x81 is not a cp1252 character
    assert io.sniff_csv(path).encoding == "latin-1"
    assert io.read_table(path)["b"].tolist() == ["x\x81é"]


def test_invalid_utf8_after_the_sample_is_recovered(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    rows = 20_000  # ~200 kB: the bad bytes lie far beyond SNIFF_BYTES
    data = "value,host\n" + "".join(f"{k},hé{k % 3}\n" for k in range(rows))
    path = tmp_path / "mixed.csv"
    path.write_bytes(data.encode("utf-8") + b"1.5,caf\xe9\n")  # one row written in cp1252
    assert io.sniff_csv(path).encoding == "utf-8"
    for df in _both_readers(path, chunk_rows=1000):
        assert df["host"][0] == "hé0" and df["host"][rows] == "café" and df["value"][rows] == 1.5


def test_late_invalid_cp1252_byte_is_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    data = b"a,b\n1,caf\xe9\n" + b"2,x\n" * 40_000 + b"3,\x81\n"  # 0x81 is no cp1252 character
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    for read in (io.read_table, lambda p: list(io.iter_table_chunks(p))):
        with pytest.raises(DataError, match=r"bad\.csv as ','-separated, decimal '\.', cp1252: byte 0x81 .*cp1252"):
            read(path)


# --- late type changes ---------------------------------------------------------------------


LATE = {  # column: text in rows 0-2999, text in row 3000, early value read whole / in the first chunk, last value
    "null_to_float": ("", "2.5", None, None, 2.5),
    "null_to_text": ("", "abc", None, None, "abc"),
    "int_to_float": ("7", "0.5", 7.0, 7, 0.5),
    "int_to_text": ("7", "x", "7", 7, "x"),
    "float_to_text": ("0.25", "y", "0.25", 0.25, "y"),
    "bool_to_text": ("true", "maybe", "true", True, "maybe"),
    "date_to_timestamp": (
        "2021-03-01",
        "2021-03-01 12:00:00",
        pd.Timestamp("2021-03-01"),
        datetime.date(2021, 3, 1),
        pd.Timestamp("2021-03-01 12:00"),
    ),
    "seconds_to_ns": (
        "2021-03-01 00:00:01",
        "2021-03-01 00:00:01.25",
        pd.Timestamp("2021-03-01 00:00:01"),
        pd.Timestamp("2021-03-01 00:00:01"),
        pd.Timestamp("2021-03-01 00:00:01.25"),
    ),
}


@pytest.fixture
def late_file(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    names = list(LATE)
    lines = [",".join(names)] + [",".join(LATE[n][0] for n in names)] * 3000
    lines.append(",".join(LATE[n][1] for n in names))
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _same(a, b):
    """Equal values of the same kind (text, timestamp, date, number); None: missing."""
    if b is None:
        return pd.isna(a)
    kinds = (str, pd.Timestamp, datetime.date)
    return a == b and [isinstance(a, k) for k in kinds] == [isinstance(b, k) for k in kinds]


@pytest.mark.parametrize("column", list(LATE))
def test_late_type_widening(late_file, column):
    _, _, whole_early, chunk_early, last = LATE[column]
    whole = io.read_table(late_file)
    chunks = list(io.iter_table_chunks(late_file, chunk_rows=1000))
    assert len(whole) == 3001 and [len(c) for c in chunks] == [1000, 1000, 1000, 1]
    assert _same(whole[column][0], whole_early) and _same(whole[column][2999], whole_early)
    assert _same(chunks[0][column][0], chunk_early) and _same(chunks[1][column][1999], chunk_early)
    assert _same(whole[column][3000], last) and _same(chunks[3][column][3000], last)


def test_late_numbers_stay_exact(late_file):
    whole = io.read_table(late_file)
    assert whole["int_to_float"].dtype == np.float64 and (whole["int_to_float"][:3000] == 7).all()
    assert whole["float_to_text"][0] == "0.25" and whole["int_to_text"][0] == "7"  # numbers read back as text


@pytest.mark.parametrize("bad", ["not a time", "2021-03-01T00:00:00Z", "12.5"])
def test_late_bad_timestamp_names_row(tmp_path, monkeypatch, bad):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    lines = ["timestamp,value"] + [f"2021-03-01 00:{k // 60 % 60:02d}:{k % 60:02d},{k}" for k in range(3000)]
    lines[2701] = f"{bad},2700"
    path = tmp_path / "ts.csv"
    path.write_text("\n".join(lines) + "\n")
    expected = rf"^{path}: column 'timestamp' has '{bad}' at row 2700, which is not a timestamp"
    with pytest.raises(DataError, match=expected):
        io.read_table(path)
    with pytest.raises(DataError, match=expected):
        list(io.iter_table_chunks(path, chunk_rows=500))


@pytest.mark.skipif(pa.cpu_count() == 1, reason="one CPU thread allowed: blocks are read without a read-ahead thread")
def test_abandoned_chunk_iterator_stops_its_reader_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    path = tmp_path / "many.csv"
    io.write_table(sample_frame(5000), path)
    chunks = io.iter_table_chunks(path, chunk_rows=10)
    next(chunks)
    assert any(t.name == "tsae-csv-read-ahead" for t in threading.enumerate())
    del chunks
    deadline = time.monotonic() + 5
    while any(t.name == "tsae-csv-read-ahead" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "tsae-csv-read-ahead" for t in threading.enumerate())


# --- files that cannot be read -------------------------------------------------------------


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
@pytest.mark.parametrize(
    "body, row, fields",
    [("1,2\n3,4,5\n6,7\n", 1, 3), ("1,2\n3,4\n5\n", 2, 1), ('1,2\n"a,b",3,4\n', 1, 3)],
)
def test_wrong_field_count_names_row_and_dialect(tmp_path, reader, body, row, fields):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n" + body)
    with pytest.raises(DataError) as info:
        list(reader(path))
    message = str(info.value)
    assert message.startswith(f"{path}: row {row} has {fields} fields but the header has 2 ")
    assert "read as ','-separated, decimal '.', utf-8" in message and "\n" not in message


@pytest.mark.parametrize("row", [4000, 15000])  # inside and after the sniffed sample
def test_wrong_field_count_late_in_file(tmp_path, monkeypatch, row):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    lines = ["a;b"] + [f"{k};{k}" for k in range(20000)]
    lines[row + 1] = f"{row};1;2"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    expected = rf"late\.csv: row {row} has 3 fields but the header has 2 .*';'-separated"
    for read in (io.read_table, lambda p: list(io.iter_table_chunks(p))):
        with pytest.raises(DataError, match=expected):
            read(path)


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_duplicate_column_names_in_both_readers(tmp_path, reader):
    path = tmp_path / "d.csv"
    path.write_text("a;b;a\n1;2;3\n")
    with pytest.raises(DataError, match=r"d\.csv has two columns named 'a'$"):
        reader(path)


def test_quoted_separators_newlines_and_crlf(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)  # quoted line ends cross block boundaries
    n = 2000
    rows = [f'{k},"note {k}, line one\r\nline ""two""",{k / 4}' for k in range(n)]
    path = tmp_path / "q.csv"
    path.write_bytes(("id,note,value\r\n" + "\r\n".join(rows) + "\r\n").encode())
    whole = io.read_table(path)
    assert len(whole) == n and whole["note"][7] == 'note 7, line one\r\nline "two"'
    assert whole["value"].tolist() == [k / 4 for k in range(n)]
    _check_chunks(path, whole, 333)


def test_field_over_128_kb(tmp_path):
    big = "x" * 200_000
    path = tmp_path / "big.csv"
    path.write_text(f'a,b\n"{big}",1\nsmall,2\n')
    for df in _both_readers(path):
        assert df["a"].tolist() == [big, "small"] and df["b"].tolist() == [1, 2]


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_nul_bytes(tmp_path, reader):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"a,b\n1,\x002\n")
    with pytest.raises(DataError, match=r"nul\.csv has NUL bytes"):
        reader(path)


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_utf16_is_data_error(tmp_path, reader):
    path = tmp_path / "u16.csv"
    path.write_bytes("a,b\n1,2\n".encode("utf-16"))
    with pytest.raises(DataError, match=r"u16\.csv has NUL bytes, .*UTF-16"):
        reader(path)


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage(tmp_path, seed):
    data = np.random.default_rng(seed).integers(1, 256, 5000, dtype=np.uint8).tobytes()  # no NUL
    path = tmp_path / "junk.csv"
    path.write_bytes(data)
    try:
        df = io.read_table(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert not any(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns)


@pytest.mark.parametrize("content", [b"\n\n\n", b"a,b\r\n", b"\xef\xbb\xbfa;b\n", b"  \n"])
@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_blank_and_header_only_files_are_empty(tmp_path, reader, content):
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"e\.csv is empty \(no data rows\)$"):
        reader(path)


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks, io.sniff_csv])
def test_directory(tmp_path, reader):
    path = tmp_path / "dir.csv"
    path.mkdir()
    with pytest.raises(DataError, match=r"dir\.csv is a directory, not a data file$"):
        reader(path)


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading"
)
@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_unreadable_file(tmp_path, reader):
    path = tmp_path / "locked.csv"
    path.write_text("a\n1\n")
    os.chmod(path, 0)
    with pytest.raises(DataError, match=r"^cannot read .*locked\.csv: Permission denied$"):
        reader(path)


@pytest.mark.parametrize("reader", [io.read_table, io.iter_table_chunks])
def test_open_failure_is_data_error(tmp_path, monkeypatch, reader):
    """The same path as an unreadable file, simulated (chmod cannot stop root)."""
    path = tmp_path / "locked.csv"
    path.write_text("a\n1\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io, "open", refuse, raising=False)  # shadows the builtin inside tsae.io only
    with pytest.raises(DataError, match=r"^cannot read .*locked\.csv: Permission denied$"):
        reader(path)


@pytest.mark.parametrize("reader", [io.read_table, lambda p: pd.concat(io.iter_table_chunks(p, chunk_rows=2))])
def test_parquet_nested_columns_are_kept(tmp_path, reader):
    table = pa.table(
        {
            "v": [1.0, 2.0, 3.0],
            "tags": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
            "meta": pa.array([{"k": "a"}, {"k": "b"}, None], pa.struct([("k", pa.string())])),
        }
    )
    path = tmp_path / "nested.parquet"
    pq.write_table(table, path)
    df = reader(path)
    assert df["v"].tolist() == [1.0, 2.0, 3.0] and list(df["tags"][0]) == [1, 2] and df["meta"][1] == {"k": "b"}
    assert "csv_dialect" not in df.attrs


def test_truncated_parquet(tmp_path):
    path = tmp_path / "cut.parquet"
    io.write_table(sample_frame(200), path)
    path.write_bytes(path.read_bytes()[:-100])
    for read in (io.read_table, lambda p: list(io.iter_table_chunks(p))):
        with pytest.raises(DataError, match=r"^cannot read .*cut\.parquet: ") as info:
            read(path)
        assert isinstance(info.value, TsaeError) and "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_writer_in_chunks(tmp_path, suffix):
    df = sample_frame(30)
    path = tmp_path / f"out{suffix}"
    with io.TableWriter(path) as out:
        for start in range(0, 30, 8):
            out.write(df.iloc[start : start + 8])
        assert not path.exists()  # only the temporary file exists while writing
    back = io.read_table(path)
    np.testing.assert_array_equal(back["value"].to_numpy(), df["value"].to_numpy())
    assert back["count"].tolist() == list(range(30))
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_writer_failure_leaves_target_untouched(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError, match="boom"):
        with io.TableWriter(path) as out:
            out.write(sample_frame(5))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []

    io.write_table(sample_frame(3), path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with io.TableWriter(path) as out:
            out.write(sample_frame(40))
            raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_writer_rejects_bad_targets(tmp_path):
    with pytest.raises(DataError, match=r"unsupported file type '\.json'"):
        io.TableWriter(tmp_path / "out.json")
    with pytest.raises(DataError, match=r"cannot write .*out\.csv: directory .* does not exist"):
        io.TableWriter(tmp_path / "missing" / "out.csv")
    assert os.listdir(tmp_path) == []


def test_writer_rejects_changed_columns(tmp_path):
    path = tmp_path / "out.csv"
    with pytest.raises(DataError, match="chunk has columns a, c but the first chunk had a, b"):
        with io.TableWriter(path) as out:
            out.write(pd.DataFrame({"a": [1], "b": [2]}))
            out.write(pd.DataFrame({"a": [1], "c": [2]}))
    assert not path.exists()


@pytest.mark.parametrize("target", [None, "-"])
def test_writer_stdout(capsys, target):
    with io.TableWriter(target) as out:
        out.write(pd.DataFrame({"a": [1.5, 2.0], "b": [True, False]}))
        out.write(pd.DataFrame({"a": [0.1], "b": [True]}))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ['"a","b"', "1.5,true", "2,false", "0.1,true"]


def test_writer_keeps_existing_file_mode(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    io.write_table(pd.DataFrame({"a": [1]}), path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert path.read_text() == '"a"\n1\n'
