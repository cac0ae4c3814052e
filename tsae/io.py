"""Reading and writing tables (CSV and Parquet) with pyarrow.

All reading goes through :func:`read_table` (whole file) or :func:`iter_table_chunks`
(bounded memory); all writing goes through :class:`TableWriter`, which writes to a
temporary file and moves it into place only when everything was written.

CSV files are read in their own dialect (:class:`CsvDialect`): the separator
(comma, semicolon, tab or ``|``), the decimal mark and the text encoding are found
by :func:`sniff_csv` from the start of the file. Column types are pyarrow's
inference on the first block of the file; every cell is then read as text and
converted by tsae, so a column whose later rows do not fit its type is widened
(integer -> float, float -> text, ...) instead of failing.

Problems with the user's files raise :class:`~tsae.errors.DataError` with a one-line
message naming the file (and the column and 0-based data row where known).
"""

from __future__ import annotations

import codecs
import csv
import os
import queue
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tsae.atomic import atomic_file, check_output_path
from tsae.errors import ConfigError, DataError, TsaeError

__all__ = [
    "SUFFIXES",
    "CSV_BLOCK_BYTES",
    "SNIFF_BYTES",
    "CsvDialect",
    "sniff_csv",
    "table_format",
    "read_table",
    "iter_table_chunks",
    "TableWriter",
    "write_table",
]

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

#: Bytes per block of the CSV reader; column types are inferred from the first block.
CSV_BLOCK_BYTES = 1 << 20

#: Bytes at the start of a CSV file from which :func:`sniff_csv` finds its dialect.
SNIFF_BYTES = 1 << 16

_SEPARATORS = (",", ";", "\t", "|")
_INDEX_COLUMN = re.compile(r"__index_level_\d+__")

# Numbers in the sample, to choose the decimal mark: "1,5" votes for a decimal comma,
# "1.5" for a dot; a grouped number such as "1.234,5" or "1,234.5" forbids guessing.
_COMMA_DECIMAL = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_DOT_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:(?:\.\d{3})+,\d*|(?:,\d{3})+\.\d*|(?:,\d{3}){2,})")
# The same decimal comma, as an RE2 pattern that turns "-1,5" into "-1.5" in a whole column.
_COMMA_DECIMAL_CELL = r"^(\s*[+-]?\d*),(\d+(?:[eE][+-]?\d+)?\s*)$"


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written: field separator, decimal mark and text encoding.

    Parameters
    ----------
    sep : str, default ","
        Field separator, one character.
    decimal : str, default "."
        Decimal mark of the numbers: ``"."`` or ``","``.
    encoding : str, default "utf-8"
        Python codec name: ``"utf-8"``, ``"utf-8-sig"`` (with a byte order mark),
        ``"cp1252"`` or ``"latin-1"``.

    Examples
    --------
    >>> CsvDialect(";", ",", "cp1252").description
    "';'-separated, decimal ',', cp1252"
    """

    sep: str = ","
    decimal: str = "."
    encoding: str = "utf-8"

    @property
    def description(self) -> str:
        """One line for people, e.g. ``"';'-separated, decimal ',', cp1252"``."""
        sep = "tab" if self.sep == "\t" else f"'{self.sep}'"
        return f"{sep}-separated, decimal '{self.decimal}', {self.encoding}"

    def __str__(self) -> str:
        return self.description


def _one_line(text: object, limit: int = 200) -> str:
    """Collapse whitespace to single spaces and cut ``text`` to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def table_format(path: str | os.PathLike) -> str:
    """Return the table format chosen by the file name's suffix.

    Parameters
    ----------
    path : str or os.PathLike
        File name; the suffix is matched case-insensitively.

    Returns
    -------
    str
        ``"csv"`` or ``"parquet"``.

    Raises
    ------
    DataError
        If the suffix is not one of :data:`SUFFIXES`.
    """
    suffix = Path(path).suffix
    fmt = SUFFIXES.get(suffix.lower())
    if fmt is None:
        shown = f"'{suffix}'" if suffix else "(no suffix)"
        raise DataError(f"unsupported file type {shown} for {path}: use .csv or .parquet")
    return fmt


def _check_file(path: str | os.PathLike) -> None:
    """Raise DataError unless ``path`` is an existing, non-empty file."""
    if not os.path.exists(path):
        raise DataError(f"file not found: {path}")
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory, not a data file")
    if os.path.getsize(path) == 0:
        raise _empty(path)


def _check_readable(path: str | os.PathLike) -> str:
    """Check suffix and existence of an input file and return its format."""
    fmt = table_format(path)
    _check_file(path)
    return fmt


def _check_sep(sep: str | None) -> None:
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1 or sep in '"\r\n'):
        raise ConfigError(f"sep must be one character such as ',' ';' or '\\t' (or None to detect it), got {sep!r}")


def _empty(path: str | os.PathLike) -> DataError:
    return DataError(f"{path} is empty (no data rows)")


def _reading_error(path: str | os.PathLike, exc: Exception, dialect: CsvDialect | None = None) -> DataError:
    """Turn an exception from pyarrow, the OS or a codec into a one-line DataError."""
    if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
        return DataError(f"cannot read {path}: {_one_line(exc.strerror or exc)}")
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start : exc.start + 1].hex()
        return DataError(
            f"cannot read {path} as {dialect}: byte 0x{byte} after the first rows is not {dialect.encoding} text"
        )
    where = f" as {dialect}" if dialect is not None else ""
    return DataError(f"cannot read {path}{where}: {_one_line(exc)}")


def _check_columns(path: str | os.PathLike, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path} has two columns named '{name}'")
        seen.add(name)


# --- the CSV dialect ---------------------------------------------------------------


def _read_head(path: str | os.PathLike) -> bytes:
    """The first :data:`SNIFF_BYTES` bytes of the file (DataError if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise _reading_error(path, exc) from None


def _sniff_encoding(head: bytes, whole: bool) -> str:
    """UTF-8 (with or without a byte order mark) if the bytes decode as such, else cp1252, else Latin-1."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=whole)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _records(text: str, sep: str, whole: bool) -> list[list[str]]:
    """Parse the sample into records (quotes respected, blank lines skipped).

    The last record is dropped when the sample is cut from a longer file.
    """
    records = []
    try:
        for record in csv.reader(StringIO(text, newline=""), delimiter=sep):
            if record:
                records.append(record)
    except csv.Error:
        whole = False
    return records if whole else records[:-1]


def _share(counts: list[int]) -> float:
    """Share of the sampled records with as many fields as the header (the first)."""
    return sum(count == counts[0] for count in counts) / len(counts)


def _sniff_sep(text: str, whole: bool) -> str:
    """The separator that best splits the sample into fields (see :func:`sniff_csv`)."""
    counts = {sep: [len(record) for record in _records(text, sep, whole)] for sep in _SEPARATORS}
    several = [sep for sep in _SEPARATORS if counts[sep] and counts[sep][0] > 1]
    if several:  # max() keeps the first of equals: the order of _SEPARATORS breaks ties
        return max(several, key=lambda sep: (_share(counts[sep]), counts[sep][0]))
    return next((sep for sep in _SEPARATORS if counts[sep] and max(counts[sep]) == 1), ",")


def _sniff_decimal(rows: list[list[str]], sep: str) -> str:
    """``","`` if numbers use a decimal comma (and none a dot or digit grouping), else ``"."``."""
    if sep == ",":
        return "."
    comma = False
    for row in rows:
        for cell in row:
            cell = cell.strip()
            if _GROUPED.fullmatch(cell) or _DOT_DECIMAL.fullmatch(cell):
                return "."
            comma = comma or _COMMA_DECIMAL.fullmatch(cell) is not None
    return "," if comma else "."


def _sniff(path: str | os.PathLike, sep: str | None) -> CsvDialect:
    """The dialect of an existing, non-empty file (see :func:`sniff_csv`)."""
    head = _read_head(path)
    if b"\x00" in head:
        raise DataError(f"{path} has NUL bytes, so it is not a text CSV file (binary, or UTF-16 text?)")
    whole = len(head) < SNIFF_BYTES
    encoding = _sniff_encoding(head, whole)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=whole)
    if not text.strip():
        raise _empty(path)
    sep = sep if sep is not None else _sniff_sep(text, whole)
    records = _records(text, sep, whole)
    if whole and len(records) < 2:
        raise _empty(path)
    return CsvDialect(sep, _sniff_decimal(records[1:], sep), encoding)


def sniff_csv(path: str | os.PathLike, sep: str | None = None) -> CsvDialect:
    """Find the dialect of a CSV file from its first :data:`SNIFF_BYTES` bytes.

    * **encoding**: ``utf-8-sig`` if the file starts with a UTF-8 byte order mark,
      else ``utf-8`` if the bytes are valid UTF-8, else ``cp1252`` if they are valid
      Windows-1252, else ``latin-1``;
    * **separator**: of comma, semicolon, tab and ``|`` (quotes respected), among
      those that split the header into several fields, the one giving the header's
      field count on the largest share of the sampled lines, then the one giving
      more fields, then the first in that order (a few malformed lines do not hide
      the separator: they are reported by row when read). When none splits the
      header (one column), the first that splits no line, else a comma;
    * **decimal mark**: a comma when the separator is not a comma and the numbers
      use a decimal comma (``1,5``, ``-0,25``), none uses a decimal dot and none is
      written with digit grouping (``1.234,5``); else a dot.

    Parameters
    ----------
    path : str or os.PathLike
        A text file (any suffix).
    sep : str, optional
        Use this separator instead of detecting it (the decimal mark and the
        encoding are still detected).

    Returns
    -------
    CsvDialect

    Raises
    ------
    ConfigError
        If ``sep`` is not one character (or is a quote or a line end).
    DataError
        If the file is missing, a directory, unreadable, empty (no data rows) or
        has NUL bytes.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w", encoding="cp1252") as f:
    ...     _ = f.write("température;valeur\\n20,5;-0,25\\n")
    >>> sniff_csv(path)
    CsvDialect(sep=';', decimal=',', encoding='cp1252')
    """
    _check_sep(sep)
    _check_file(path)
    return _sniff(path, sep)


# --- reading CSV: every cell as text, then converted by tsae ----------------------


def _read_options(dialect: CsvDialect) -> pacsv.ReadOptions:
    # pyarrow reads UTF-8 natively (and skips a byte order mark); other encodings are transcoded.
    encoding = "utf8" if dialect.encoding.startswith("utf-8") else dialect.encoding
    return pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding=encoding)


def _parse_options(dialect: CsvDialect) -> pacsv.ParseOptions:
    # Quoted values may span lines: without newlines_in_values, pyarrow can split such a
    # value at a block boundary and silently shift the cells that follow. (Known pyarrow
    # bug, apache/arrow#51368: a quoted "\r\n" straddling two blocks loses its "\n".)
    return pacsv.ParseOptions(delimiter=dialect.sep, newlines_in_values=True)


def _raw_options(names: list[str]) -> pacsv.ConvertOptions:
    """Every column as bytes; cells such as "", "NA", "null", "NaN" are missing values."""
    return pacsv.ConvertOptions(column_types={name: pa.binary() for name in names}, strings_can_be_null=True)


def _field_count_row(path: str | os.PathLike, dialect: CsvDialect) -> tuple[int, list[str], int] | None:
    """0-based data row and fields of the first record whose field count is not the header's
    (and the header's count), or None."""
    try:
        with open(path, encoding=dialect.encoding, errors="replace", newline="") as handle:
            records = (record for record in csv.reader(handle, delimiter=dialect.sep) if record)
            expected = len(next(records, []))
            for row, record in enumerate(records):
                if len(record) != expected:
                    return row, record, expected
    except (OSError, csv.Error):
        return None
    return None


def _csv_error(path: str | os.PathLike, dialect: CsvDialect, exc: Exception) -> DataError:
    """DataError for a CSV file pyarrow could not parse; names a row with a wrong field count."""
    found = _field_count_row(path, dialect) if isinstance(exc, pa.ArrowInvalid) else None
    if found is None:
        return _reading_error(path, exc, dialect)
    row, record, expected = found
    return DataError(
        f"{path}: row {row} has {len(record)} fields but the header has {expected} "
        f"('{_one_line(dialect.sep.join(record), 60)}'; read as {dialect})"
    )


_CSV_FAILURES = (pa.ArrowException, OSError, UnicodeDecodeError)


def _initial_type(inferred: pa.DataType) -> pa.DataType:
    """The column type to convert to at first: pyarrow's inference, times of day and bytes as text."""
    if pa.types.is_time(inferred) or pa.types.is_binary(inferred) or pa.types.is_large_binary(inferred):
        return pa.string()
    return inferred


def _infer_types(path: str | os.PathLike, dialect: CsvDialect) -> pa.Schema:
    """Column names and initial types: pyarrow's inference on the first block of the file."""
    try:
        reader = pacsv.open_csv(
            path,
            read_options=_read_options(dialect),
            parse_options=_parse_options(dialect),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True, decimal_point=dialect.decimal),
        )
        schema = reader.schema
        reader.close()
    except _CSV_FAILURES as exc:
        raise _csv_error(path, dialect, exc) from None
    _check_columns(path, schema.names)
    return pa.schema([field.with_type(_initial_type(field.type)) for field in schema])


def _decode_cell(cell: bytes | None) -> str | None:
    """A cell as text: UTF-8 if it is valid UTF-8, else cp1252, else Latin-1."""
    if cell is None:
        return None
    for encoding in ("utf-8", "cp1252"):
        try:
            return cell.decode(encoding)
        except UnicodeDecodeError:
            continue
    return cell.decode("latin-1")


def _decode(raw: pa.Array) -> pa.Array:
    """Bytes to text; cells that are not valid UTF-8 are read as cp1252 (or Latin-1)."""
    try:
        return pc.cast(raw, pa.string())
    except pa.ArrowInvalid:
        return pa.array([_decode_cell(cell) for cell in raw.to_pylist()], pa.string())


def _is_number(target: pa.DataType) -> bool:
    return pa.types.is_integer(target) or pa.types.is_floating(target)


def _try_cast(cells: pa.Array, target: pa.DataType) -> pa.Array | None:
    """``pc.cast``, or None if some cell does not convert."""
    try:
        return pc.cast(cells, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _cast(text: pa.Array, target: pa.DataType) -> pa.Array | None:
    """``text`` converted to ``target``, or None if some cell does not fit.

    Numbers may have blanks around them (as pyarrow's own inference allows).
    """
    if pa.types.is_string(target):
        return text
    if pa.types.is_null(target):
        return pa.nulls(len(text)) if text.null_count == len(text) else None
    cells = _try_cast(text, target)
    if cells is None and _is_number(target):
        cells = _try_cast(pc.utf8_trim_whitespace(text), target)
    return cells


def _wider(target: pa.DataType) -> list[pa.DataType]:
    """The types to try, in order, when a cell does not fit ``target`` (none: not widened)."""
    if pa.types.is_null(target) or pa.types.is_integer(target):
        return [pa.float64(), pa.string()]
    if pa.types.is_date(target):
        return [pa.timestamp("s"), pa.timestamp("ns")]
    if pa.types.is_timestamp(target):
        return [pa.timestamp("ns", tz=target.tz)] if target.unit != "ns" else []
    return [] if pa.types.is_string(target) else [pa.string()]


def _first_misfit(text: pa.Array, target: pa.DataType) -> int:
    """Position of the first cell of ``text`` that does not convert to ``target`` (one must exist)."""
    lo, hi = 0, len(text)  # text[lo:hi] holds a misfit, text[:lo] none
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _cast(text.slice(lo, mid - lo), target) is None:
            hi = mid
        else:
            lo = mid
    return lo


class _Columns:
    """Convert the text cells of a CSV file to column types, widening a type when cells need it.

    Widening is lossless where it can be (null -> float64 or text, integer -> float64,
    date -> timestamp[s] -> timestamp[ns], numbers and booleans -> text). A cell
    that is not a timestamp in a date or timestamp column is a DataError.
    """

    def __init__(self, path: str | os.PathLike, dialect: CsvDialect, schema: pa.Schema) -> None:
        self.path = path
        self.dialect = dialect
        self.names = schema.names
        self.types = list(schema.types)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(list(zip(self.names, self.types)))

    def convert(self, index: int, raw: pa.Array, start: int) -> pa.Array:
        """Column ``index`` of the rows from ``start`` (absolute 0-based data row), typed.

        In a file with a decimal comma, cells that are such numbers get a decimal
        dot first (also in text columns, so that they parse as numbers later).
        """
        if self.dialect.decimal == "." and _is_number(self.types[index]):
            cells = _try_cast(raw, self.types[index])  # numbers need no UTF-8 check: cast the bytes
            if cells is not None:
                return cells
        text = _decode(raw)
        if self.dialect.decimal == ",":
            text = pc.replace_substring_regex(text, _COMMA_DECIMAL_CELL, r"\1.\2")
        types = [self.types[index], *_wider(self.types[index])]
        for target in types:
            cells = _cast(text, target)
            if cells is not None:
                self.types[index] = target
                return cells
        position = _first_misfit(text, types[-1])
        value = _one_line(text[position].as_py(), 60)
        raise DataError(
            f"{self.path}: column '{self.names[index]}' has '{value}' at row {start + position}, "
            f"which is not a timestamp like the rows before it (read as {self.dialect})"
        )

    def convert_batch(self, raw: pa.RecordBatch, start: int) -> pa.RecordBatch:
        """A record batch of text cells (rows from ``start``) with every column typed."""
        columns = [self.convert(i, raw.column(i), start) for i in range(raw.num_columns)]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)


def _raw_batches(path: str | os.PathLike, dialect: CsvDialect, names: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of text cells (as bytes), one per block of the file."""
    try:
        reader = pacsv.open_csv(
            path,
            read_options=_read_options(dialect),
            parse_options=_parse_options(dialect),
            convert_options=_raw_options(names),
        )
        yield from reader
    except _CSV_FAILURES as exc:
        raise _csv_error(path, dialect, exc) from None


def _put(ready: queue.Queue, item: tuple, stop: threading.Event) -> bool:
    """Put ``item`` when there is room, unless ``stop`` is set first; True if it was put."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _read_ahead(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Yield ``batches``, produced up to ``depth`` ahead in a background thread.

    pyarrow then parses the next block of the file while the caller converts this
    one. An exception in the producer is raised here; closing this generator stops it.
    """
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if not _put(ready, (batch, None), stop):
                    return
            _put(ready, (None, None), stop)
        except BaseException as exc:  # handed over to the consumer, raised there
            _put(ready, (None, exc), stop)

    threading.Thread(target=produce, name="tsae-csv-read-ahead", daemon=True).start()
    try:
        while True:
            batch, error = ready.get()
            if error is not None:
                raise error
            if batch is None:
                return
            yield batch
    finally:
        stop.set()


def _read_csv(path: str | os.PathLike, dialect: CsvDialect) -> pa.Table:
    """The whole file: all batches of :func:`_csv_batches`, cast to the last (widest) types."""
    batches = list(_csv_batches(path, dialect))
    if not batches:
        raise _empty(path)
    return pa.Table.from_batches(_widen_buffered(path, batches, batches[-1].schema))


def _csv_batches(path: str | os.PathLike, dialect: CsvDialect) -> Iterator[pa.RecordBatch]:
    """Typed record batches of the file, one per block; column types may widen from batch to batch.

    With more than one CPU thread allowed (``pa.cpu_count()``, e.g. ``OMP_NUM_THREADS``),
    the next block is parsed while this one is converted.
    """
    columns = _Columns(path, dialect, _infer_types(path, dialect))
    raw_batches = _raw_batches(path, dialect, columns.names)
    if pa.cpu_count() > 1:
        raw_batches = _read_ahead(raw_batches)
    start = 0
    for raw in raw_batches:
        yield columns.convert_batch(raw, start)
        start += raw.num_rows


# --- frames -------------------------------------------------------------------------


def _plain(table: pa.Table) -> pa.Table:
    """Drop pandas metadata and stored unnamed index columns; decode dictionary columns."""
    table = table.replace_schema_metadata(None)
    keep = [name for name in table.column_names if not _INDEX_COLUMN.fullmatch(name)]
    if len(keep) != table.num_columns:
        table = table.select(keep)
    if any(pa.types.is_dictionary(field.type) for field in table.schema):
        schema = pa.schema(
            [
                field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
                for field in table.schema
            ]
        )
        table = table.cast(schema)
    return table


def _to_frame(table: pa.Table, start: int, attrs: dict) -> pd.DataFrame:
    """Convert to pandas with a RangeIndex starting at ``start`` (absolute data row) and ``attrs``."""
    frame = _plain(table).to_pandas()
    frame.index = pd.RangeIndex(start, start + len(frame))
    frame.attrs.update(attrs)
    return frame


def _dialect_attrs(dialect: CsvDialect | None) -> dict:
    return {} if dialect is None else {"csv_dialect": dialect.description}


def read_table(path: str | os.PathLike, sep: str | None = None) -> pd.DataFrame:
    """Read a whole CSV or Parquet file.

    A CSV file is read in its dialect (see :func:`sniff_csv`): separator, decimal
    mark and encoding are detected unless ``sep`` is given; its description is put
    in ``df.attrs["csv_dialect"]``. ISO-8601 timestamps in CSV become datetime
    columns; cells such as ``""``, ``NA``, ``null`` or ``NaN`` are missing values,
    also in text columns. Column types are inferred from the first block of the
    file (:data:`CSV_BLOCK_BYTES`) and widened when later rows need it: a numeric
    column with some text in it is read as a text column (see
    :func:`tsae.frames.to_values`), an integer column with a fraction as floats.
    Times of day (``12:30:00``) are read as text.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.parquet`` or ``.pq`` file.
    sep : str, optional
        CSV field separator; None (default) detects it. Ignored for Parquet.

    Returns
    -------
    pandas.DataFrame
        The table, with a RangeIndex ``0..n-1`` (0-based data rows).

    Raises
    ------
    ConfigError
        If ``sep`` is not one character.
    DataError
        If the file is missing, of an unsupported type, unreadable, empty (no data
        rows), corrupt, has duplicate column names, a row with too many or too few
        fields, or a cell that is not a timestamp in a timestamp column.
    """
    _check_sep(sep)
    fmt = _check_readable(path)
    dialect = _sniff(path, sep) if fmt == "csv" else None
    if dialect is not None:
        table = _read_csv(path, dialect)
    else:
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise _reading_error(path, exc) from None
    table = _plain(table)
    _check_columns(path, table.column_names)
    if table.num_rows == 0:
        raise _empty(path)
    return _to_frame(table, 0, _dialect_attrs(dialect))


def iter_table_chunks(
    path: str | os.PathLike, chunk_rows: int = 100_000, sep: str | None = None
) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet file in chunks of at most ``chunk_rows`` rows.

    Memory stays bounded by about one chunk. Every chunk has the same columns,
    and its index continues the previous one (absolute 0-based data rows), so
    errors found in a chunk can name the row in the file. Column dtypes can
    widen in later chunks (an integer column that later holds ``1.5`` becomes
    float; a column empty in the first rows gets a type once values appear; a
    numeric column that later holds text becomes text). Chunks of a CSV file
    carry ``attrs["csv_dialect"]`` as :func:`read_table`.

    The file is opened and the first chunk read before this returns, so a missing,
    unsupported or empty file raises here and not at the first ``next()``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.parquet`` or ``.pq`` file.
    chunk_rows : int, default 100_000
        Largest number of rows per chunk; only the last chunk may be shorter.
    sep : str, optional
        CSV field separator; None (default) detects it. Ignored for Parquet.

    Returns
    -------
    Iterator[pandas.DataFrame]
        The chunks, in file order.

    Raises
    ------
    ConfigError
        If ``chunk_rows`` is not a positive integer or ``sep`` not one character.
    DataError
        As :func:`read_table`; errors in later rows are raised while iterating.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    _check_sep(sep)
    fmt = _check_readable(path)
    dialect = _sniff(path, sep) if fmt == "csv" else None
    batches = _csv_batches(path, dialect) if dialect is not None else _parquet_batches(path, int(chunk_rows))
    chunks = _rechunk(path, batches, int(chunk_rows), _dialect_attrs(dialect))
    try:
        first = next(chunks)
    except StopIteration:
        raise _empty(path) from None
    _check_columns(path, list(first.columns))
    return _chain(first, chunks)


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _widen_buffered(path: str | os.PathLike, batches: list[pa.RecordBatch], schema: pa.Schema) -> list[pa.RecordBatch]:
    """Cast batches read earlier to the wider ``schema`` of a later batch."""
    try:
        return [batch if batch.schema == schema else batch.cast(schema) for batch in batches]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"cannot read {path}: a column's type changed in later rows: {_one_line(exc)}") from None


def _rechunk(
    path: str | os.PathLike, batches: Iterator[pa.RecordBatch], chunk_rows: int, attrs: dict
) -> Iterator[pd.DataFrame]:
    """Regroup record batches into frames of exactly ``chunk_rows`` rows (last may be shorter).

    A batch with a wider schema than the ones buffered (after a CSV type change)
    makes the buffered batches be cast to the new schema.
    """
    buffered: list[pa.RecordBatch] = []
    count = 0
    start = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if buffered and batch.schema != buffered[0].schema:
            buffered = _widen_buffered(path, buffered, batch.schema)
        buffered.append(batch)
        count += batch.num_rows
        if count < chunk_rows:
            continue
        table = pa.Table.from_batches(buffered)
        while table.num_rows >= chunk_rows:
            yield _to_frame(table.slice(0, chunk_rows), start, attrs)
            start += chunk_rows
            table = table.slice(chunk_rows)
        buffered = table.to_batches()
        count = table.num_rows
    if count:
        yield _to_frame(pa.Table.from_batches(buffered), start, attrs)


def _parquet_batches(path: str | os.PathLike, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise _reading_error(path, exc) from None
    try:
        yield from parquet.iter_batches(batch_size=chunk_rows)
    except (pa.ArrowException, OSError) as exc:
        raise _reading_error(path, exc) from None
    finally:
        parquet.close()


class TableWriter:
    """Write a table chunk by chunk, atomically.

    With a file path, the chunks go to a temporary file in the same directory
    (:func:`tsae.atomic.atomic_file`), which replaces the target only when the
    ``with`` block ends without an exception; on an exception (a signal included)
    it is removed and an existing target is left untouched. The suffix picks CSV or Parquet. With ``None`` or
    ``"-"``, CSV is written to standard output, flushed after each chunk.

    CSV output has a header line; floats are written so that they read back
    exactly, missing values as empty cells, booleans as ``true``/``false`` and
    timestamps as ``2020-01-01 00:00:00.000000`` (pyarrow's conventions).

    Parameters
    ----------
    path : str, os.PathLike or None
        Target file, or ``None``/``"-"`` for standard output.

    Raises
    ------
    DataError
        For an unsupported suffix or a missing parent directory (before anything
        is written), or when a chunk cannot be written.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.csv")
    >>> with TableWriter(path) as out:
    ...     for start in (0, 2):
    ...         out.write(pd.DataFrame({"score": [start + 0.5, start + 1.5]}))
    >>> read_table(path)["score"].tolist()
    [0.5, 1.5, 2.5, 3.5]
    """

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = None if path is None or str(path) == "-" else path
        self.format = "csv" if self.path is None else table_format(self.path)
        if self.path is not None:
            try:
                check_output_path(self.path, "output", probe=False)
            except TsaeError as exc:
                raise DataError(str(exc)) from None
        self._atomic = None
        self._file = None
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._open = False
        self._header_done = False

    def __enter__(self) -> TableWriter:
        if self.path is not None:
            self._atomic = atomic_file(self.path, "wb", what="output")
            try:
                self._file = self._atomic.__enter__()
            except TsaeError as exc:
                raise DataError(str(exc)) from None
        self._open = True
        return self

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (its index is not written).

        Parameters
        ----------
        df : pandas.DataFrame
            Must have the same columns as the first chunk written.

        Raises
        ------
        DataError
            If the columns differ from the first chunk's or a column cannot be
            stored (e.g. mixed Python objects), or the disk write fails.
        """
        if not self._open:
            raise RuntimeError("TableWriter.write() must be called inside a 'with' block")
        target = self.path if self.path is not None else "standard output"
        try:
            table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise DataError(f"cannot write {target}: {_one_line(exc)}") from None
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            if table.column_names != self._schema.names:
                raise DataError(
                    f"cannot write {target}: chunk has columns {', '.join(table.column_names)} "
                    f"but the first chunk had {', '.join(self._schema.names)}"
                )
            if self.format == "parquet":
                try:
                    table = table.cast(self._schema)
                except (pa.ArrowException, ValueError) as exc:
                    raise DataError(f"cannot write {target}: {_one_line(exc)}") from None
        try:
            if self.format == "parquet":
                if self._parquet is None:
                    self._parquet = pq.ParquetWriter(self._file, self._schema)
                self._parquet.write_table(table)
            else:
                self._write_csv(table, header=not self._header_done)
        except BrokenPipeError:  # the reader of standard output went away (`| head`): not an error here
            raise
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"cannot write {target}: {_one_line(exc)}") from None

    def _write_csv(self, table: pa.Table, header: bool) -> None:
        options = pacsv.WriteOptions(include_header=header)
        if self._file is not None:
            pacsv.write_csv(table, self._file, options)
        else:
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(table, buffer, options)
            sys.stdout.write(buffer.getvalue().to_pybytes().decode("utf-8"))
            sys.stdout.flush()
        self._header_done = True

    def __exit__(self, exc_type, exc, tb) -> None:
        self._open = False
        if self.path is None:
            return
        failure = None
        try:
            if exc_type is None and self.format == "parquet" and self._parquet is None:
                # Nothing was written: still produce a valid (empty) Parquet file.
                self._parquet = pq.ParquetWriter(self._file, self._schema or pa.schema([]))
            if self._parquet is not None:
                self._parquet.close()
        except (pa.ArrowException, OSError) as error:
            if exc_type is None:
                failure = DataError(f"cannot write {self.path}: {_one_line(error)}")
                exc_type, exc, tb = DataError, failure, None
        try:  # atomic_file renames the temporary file into place, or removes it on an error
            self._atomic.__exit__(exc_type, exc, tb)
        except TsaeError as error:  # the rename or the final sync failed
            raise DataError(str(error)) from None
        if failure is not None:
            raise failure


def write_table(df: pd.DataFrame, path: str | os.PathLike | None) -> None:
    """Write ``df`` to a CSV or Parquet file atomically (or CSV to stdout for ``None``/``"-"``).

    Parameters
    ----------
    df : pandas.DataFrame
        The table; its index is not written.
    path : str, os.PathLike or None
        Target file; the suffix picks the format.

    Raises
    ------
    DataError
        As :class:`TableWriter`.
    """
    with TableWriter(path) as out:
        out.write(df)
