"""Tests for tsae.io: reading, chunked reading and atomic writing of CSV and Parquet."""

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tsae import io
from tsae.errors import ConfigError, DataError


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


def test_chunked_csv_text_in_late_block_is_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "CSV_BLOCK_BYTES", 4096)
    lines = ["timestamp,value"] + [f"{k},{k * 0.5}" for k in range(3000)]
    lines[2501] = "2500,abc"  # data row 2500
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        for _ in io.iter_table_chunks(path, chunk_rows=1000):
            pass
    message = str(info.value)
    assert "late.csv" in message and "'value'" in message and "'abc'" in message and "row 2500" in message
    assert "\n" not in message
    assert not isinstance(info.value, pa.ArrowInvalid)


def test_chunked_csv_text_in_late_block_default_block_size(tmp_path):
    n = 150_000  # more than one default block (1 MiB)
    values = np.arange(n) * 0.25
    text = "value\n" + "\n".join(map(str, values)) + "\n"
    text = text.replace(f"\n{values[140_000]}\n", "\noops\n")
    path = tmp_path / "big.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"column 'value' has non-numeric text 'oops' at row 140000"):
        list(io.iter_table_chunks(path))


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
