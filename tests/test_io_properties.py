"""Property tests for tsae.io reading: whatever the file, a DataError or the right values.

Generated CSV files vary the separator, quoting, encoding, line ends, null token,
decimal mark and column kinds (floats from tiny to huge, integers, timestamps unsorted
and repeated, text, booleans, and columns mixing numbers and text); the values read
must equal the values written (floats exactly: they are written with ``repr``).
Random and damaged bytes must give a frame or a DataError, never another exception.
"""

import csv
import datetime
from dataclasses import dataclass
from io import StringIO
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsae import io
from tsae.errors import DataError, TsaeError

SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

# Text cells start with "x_" so that they never look like a number, a boolean or a null token;
# every character is in cp1252, and the separators, quotes and line ends must be quoted.
ALPHABET = "ab Zé€ü,;|\t\"'\n\r"
KINDS = ("float", "int", "timestamp", "text", "bool", "mixed")

floats = st.floats(allow_nan=False, allow_infinity=False)  # huge, tiny, subnormal and -0.0 included
integers = st.integers(-(2**53), 2**53)  # exact as float64 too (a column with gaps is float64 in pandas)
# csv.writer quotes "\n" but not a lone "\r" (a line end for CSV readers), and pyarrow (26) drops the
# "\n" of a quoted "\r\n" that straddles two blocks (apache/arrow#51368): line breaks in text are "\n".
texts = st.text(ALPHABET, max_size=8).map(lambda t: "x_" + t.replace("\r", "\n"))
moments = st.datetimes(datetime.datetime(1900, 1, 1), datetime.datetime(2200, 1, 1))
few_moments = st.sampled_from([datetime.datetime(2021, 3, 1, 12), datetime.datetime(1999, 12, 31, 23, 59, 59, 250_000)])


def values(kind):
    """Cell values (Python objects, None for a missing cell) of one column kind."""
    return {
        "float": floats,
        "int": integers,
        "timestamp": st.one_of(moments, few_moments),  # unsorted, and some repeated
        "text": texts,
        "bool": st.booleans(),
        "mixed": st.one_of(integers, floats, texts),
    }[kind]


@dataclass
class Case:
    columns: dict  # name -> list of values
    sep: str
    decimal: str
    encoding: str
    quoting: int
    null: str
    line_end: str
    t_sep: str

    def cell(self, value):
        if value is None:
            return self.null
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return repr(value).replace(".", self.decimal)
        if isinstance(value, datetime.datetime):
            return value.isoformat(sep=self.t_sep)
        return str(value)

    def to_bytes(self):
        text = StringIO()
        writer = csv.writer(text, delimiter=self.sep, quoting=self.quoting, lineterminator=self.line_end)
        writer.writerow(list(self.columns))
        for row in zip(*self.columns.values()):
            writer.writerow([self.cell(v) for v in row])
        return text.getvalue().encode(self.encoding)


@st.composite
def csv_cases(draw, max_rows=40):
    n = draw(st.integers(1, max_rows))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4))
    columns = {}
    for i, kind in enumerate(kinds):
        name = f"c{i}_{kind}" + draw(st.sampled_from(["", " é", "€"]))
        columns[name] = draw(st.lists(st.one_of(st.none(), values(kind)), min_size=n, max_size=n))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    decimal = "." if sep == "," else draw(st.sampled_from([".", ","]))
    # One column of quoted "1,5" cells is a valid comma-separated file of text too: not generated.
    ambiguous = len(columns) == 1 and decimal == ","
    return Case(
        columns=columns,
        sep=sep,
        decimal=decimal,
        encoding=draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])),
        quoting=csv.QUOTE_MINIMAL if ambiguous else draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        null=draw(st.sampled_from(["", "NA", "NaN", "null"])),
        line_end=draw(st.sampled_from(["\n", "\r\n"])),
        t_sep=draw(st.sampled_from([" ", "T"])),
    )


def same(read, written):
    """The cell read equals the value written (a column may have been read as text)."""
    if written is None:
        return read is None or (not isinstance(read, str) and pd.isna(read))
    if isinstance(written, str) and not isinstance(read, str):  # a chunk read before its column became text
        written = {"true": True, "false": False}.get(written) if isinstance(read, bool) else float(written)
    if isinstance(written, bool):
        return read == written if not isinstance(read, str) else read == ("true" if written else "false")
    if isinstance(written, (int, float)):
        if isinstance(read, str):
            read = float(read)
        return not isinstance(read, bool) and read == written
    if isinstance(written, datetime.datetime):
        return pd.Timestamp(read) == pd.Timestamp(written)
    return read == written


def cells(series):
    """The values of a column, None for missing ones."""
    return [None if not isinstance(v, str) and pd.isna(v) else v for v in series.tolist()]


def check_values(frame, columns):
    assert list(frame.columns) == list(columns)
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
    for name, written in columns.items():
        read = frame[name].tolist()
        assert len(read) == len(written)
        for row, (r, w) in enumerate(zip(read, written)):
            assert same(r, w), f"column {name!r} row {row}: wrote {w!r}, read {r!r}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("props")


@settings(max_examples=150, **SETTINGS)
@given(case=csv_cases())
def test_csv_values_read_back(workdir, case):
    path = workdir / "case.csv"
    path.write_bytes(case.to_bytes())
    frame = io.read_table(path)
    check_values(frame, case.columns)
    assert frame.attrs["csv_dialect"] == str(io.sniff_csv(path))
    assert io.sniff_csv(path).decimal in (".", case.decimal)


@settings(max_examples=60, **SETTINGS)
@given(case=csv_cases(max_rows=150), chunk_rows=st.integers(1, 80), block=st.sampled_from([1024, 2048, 1 << 20]))
def test_csv_chunks_equal_whole(workdir, case, chunk_rows, block):
    path = workdir / "chunks.csv"
    path.write_bytes(case.to_bytes())
    with mock.patch.object(io, "CSV_BLOCK_BYTES", block):  # small blocks: types widen in late blocks
        whole = io.read_table(path)
        chunks = list(io.iter_table_chunks(path, chunk_rows=chunk_rows))
    check_values(whole, case.columns)
    assert [len(c) for c in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= chunk_rows
    assert all(c.attrs == whole.attrs for c in chunks)
    joined = pd.concat(chunks)
    assert list(joined.index) == list(range(len(whole)))
    check_values(joined, {name: cells(whole[name]) for name in whole.columns})


@st.composite
def frames(draw):
    n = draw(st.integers(1, 30))
    data = {}
    kinds = draw(st.lists(st.sampled_from(["float", "int", "timestamp", "text"]), min_size=1, max_size=4))
    for i, kind in enumerate(kinds):
        column = draw(st.lists(values(kind), min_size=n, max_size=n))
        data[f"c{i}_{kind}"] = pd.Series(column, dtype="datetime64[us]" if kind == "timestamp" else None)
    if "c0_float" in data:  # missing values too
        data["c0_float"][draw(st.integers(0, n - 1))] = np.nan
    return pd.DataFrame(data)


@settings(max_examples=40, **SETTINGS)
@given(frame=frames(), chunk_rows=st.integers(1, 40))
def test_parquet_values_read_back(workdir, frame, chunk_rows):
    path = workdir / "case.parquet"
    frame.to_parquet(path)
    whole = io.read_table(path)
    written = {name: cells(frame[name]) for name in frame.columns}
    check_values(whole, written)
    pd.testing.assert_frame_equal(pd.concat(io.iter_table_chunks(path, chunk_rows=chunk_rows)), whole)


def read_or_data_error(path):
    """Read whole and in chunks; a DataError (one line, naming the file) is fine, nothing else."""
    for read in (io.read_table, lambda p: list(io.iter_table_chunks(p, chunk_rows=7))):
        try:
            read(path)
        except DataError as exc:
            assert isinstance(exc, TsaeError)
            message = str(exc)
            assert "\n" not in message and (str(path) in message), message


@settings(max_examples=150, **SETTINGS)
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".parquet"]))
def test_random_bytes(workdir, data, suffix):
    path = workdir / f"random{suffix}"
    path.write_bytes(data)
    read_or_data_error(path)


@settings(max_examples=150, **SETTINGS)
@given(
    case=csv_cases(),
    edits=st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=3), st.integers(0, 3)), min_size=1, max_size=4),
)
def test_damaged_csv(workdir, case, edits):
    data = bytearray(case.to_bytes())
    for where, insert, remove in edits:  # replace a few bytes anywhere
        at = int(where * len(data))
        data[at : at + remove] = insert
    path = workdir / "damaged.csv"
    path.write_bytes(bytes(data))
    read_or_data_error(path)


@settings(max_examples=30, **SETTINGS)
@given(frame=frames(), cut=st.floats(0, 1))
def test_damaged_parquet(workdir, frame, cut):
    path = workdir / "damaged.parquet"
    frame.to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(cut * (len(data) - 1))])
    read_or_data_error(path)
