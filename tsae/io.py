"""Reading and writing tables (CSV and Parquet) with pyarrow.

All reading goes through :func:`read_table` (whole file) or :func:`iter_table_chunks`
(bounded memory); all writing goes through :class:`TableWriter`, which writes to a
temporary file and moves it into place only when everything was written.

Problems with the user's files raise :class:`~tsae.errors.DataError` with a one-line
message naming the file (and the column and 0-based data row where known).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tsae.errors import ConfigError, DataError

__all__ = [
    "SUFFIXES",
    "CSV_BLOCK_BYTES",
    "table_format",
    "read_table",
    "iter_table_chunks",
    "TableWriter",
    "write_table",
]

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

#: Bytes per block of the streaming CSV reader; column types are inferred from the first block.
CSV_BLOCK_BYTES = 1 << 20

# Cells such as "", "NA", "null", "NaN" are missing values in every column, text ones included.
_CSV_CONVERT = dict(strings_can_be_null=True)

_INDEX_COLUMN = re.compile(r"__index_level_\d+__")
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to ([^:]+):", re.S)
_INVALID_VALUE = re.compile(r"(invalid value|in) '(.*)'\s*$", re.S)


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


def _check_readable(path: str | os.PathLike) -> str:
    """Check suffix and existence of an input file and return its format."""
    fmt = table_format(path)
    if not os.path.exists(path):
        raise DataError(f"file not found: {path}")
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory, not a data file")
    if os.path.getsize(path) == 0:
        raise _empty(path)
    return fmt


def _empty(path: str | os.PathLike) -> DataError:
    return DataError(f"{path} is empty (no data rows)")


def _reading_error(path: str | os.PathLike, exc: Exception) -> DataError:
    """Turn an exception from pyarrow or the OS into a one-line DataError."""
    if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
        reason = exc.strerror or exc
        return DataError(f"cannot read {path}: {_one_line(reason)}")
    if isinstance(exc, pa.ArrowInvalid) and "Empty CSV file" in str(exc):
        return _empty(path)
    return DataError(f"cannot read {path}: {_one_line(exc)}")


def _check_columns(path: str | os.PathLike, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path} has two columns named '{name}'")
        seen.add(name)


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


def _to_frame(table: pa.Table, start: int) -> pd.DataFrame:
    """Convert to pandas with a RangeIndex starting at ``start`` (absolute data row)."""
    frame = _plain(table).to_pandas()
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a whole CSV or Parquet file.

    ISO-8601 timestamps in CSV become datetime columns; cells such as ``""``, ``NA``,
    ``null`` or ``NaN`` are missing values, also in text columns. A numeric column
    with some text in it is read as a text column (see :func:`tsae.frames.to_values`).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.parquet`` or ``.pq`` file.

    Returns
    -------
    pandas.DataFrame
        The table, with a RangeIndex ``0..n-1`` (0-based data rows).

    Raises
    ------
    DataError
        If the file is missing, of an unsupported type, empty (no data rows),
        corrupt, or has duplicate column names.
    """
    fmt = _check_readable(path)
    try:
        if fmt == "csv":
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(**_CSV_CONVERT))
        else:
            table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _reading_error(path, exc) from None
    table = _plain(table)
    _check_columns(path, table.column_names)
    if table.num_rows == 0:
        raise _empty(path)
    return _to_frame(table, 0)


def iter_table_chunks(path: str | os.PathLike, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Read a CSV or Parquet file in chunks of at most ``chunk_rows`` rows.

    Memory stays bounded by about one chunk. Every chunk has the same columns,
    and its index continues the previous one (absolute 0-based data rows), so
    errors found in a chunk can name the row in the file. Column dtypes can
    widen in later chunks (an integer column that later holds ``1.5`` becomes
    float; a column empty in the first rows gets a type once values appear).

    The file is opened and the first chunk read before this returns, so a missing,
    unsupported or empty file raises here and not at the first ``next()``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.parquet`` or ``.pq`` file.
    chunk_rows : int, default 100_000
        Largest number of rows per chunk; only the last chunk may be shorter.

    Returns
    -------
    Iterator[pandas.DataFrame]
        The chunks, in file order.

    Raises
    ------
    ConfigError
        If ``chunk_rows`` is not a positive integer.
    DataError
        As :func:`read_table`; also (while iterating a CSV file) when a cell in a
        later block does not fit the column type inferred from the first block,
        e.g. text in a numeric column.
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    fmt = _check_readable(path)
    batches = _csv_batches(path) if fmt == "csv" else _parquet_batches(path, int(chunk_rows))
    chunks = _rechunk(batches, int(chunk_rows))
    try:
        first = next(chunks)
    except StopIteration:
        raise _empty(path) from None
    _check_columns(path, list(first.columns))
    return _chain(first, chunks)


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _rechunk(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pd.DataFrame]:
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
            buffered = [b.cast(batch.schema) for b in buffered]
        buffered.append(batch)
        count += batch.num_rows
        if count < chunk_rows:
            continue
        table = pa.Table.from_batches(buffered)
        while table.num_rows >= chunk_rows:
            yield _to_frame(table.slice(0, chunk_rows), start)
            start += chunk_rows
            table = table.slice(chunk_rows)
        buffered = table.to_batches()
        count = table.num_rows
    if count:
        yield _to_frame(pa.Table.from_batches(buffered), start)


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


def _open_csv(path: str | os.PathLike, types: dict[str, pa.DataType] | None) -> pacsv.CSVStreamingReader:
    try:
        return pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=types, **_CSV_CONVERT),
        )
    except (pa.ArrowException, OSError) as exc:
        raise _reading_error(path, exc) from None


def _skip(reader: pacsv.CSVStreamingReader, rows: int) -> Iterator[pa.RecordBatch]:
    """Yield the reader's batches after dropping the first ``rows`` rows."""
    for batch in reader:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_batches(path: str | os.PathLike) -> Iterator[pa.RecordBatch]:
    """Stream record batches; when a later block does not fit a column's type, widen it.

    pyarrow infers types from the first block only. On a conversion error the
    column is widened where that is lossless (null -> float64 or string,
    integer -> float64, timestamp -> timestamp[ns]) and the file is read again,
    skipping the rows already delivered. Anything else (text in a numeric column)
    is a DataError naming column and row.
    """
    reader = _open_csv(path, None)
    first_schema = reader.schema
    types: dict[str, pa.DataType] | None = None
    done = 0
    while True:
        try:
            for batch in _skip(reader, done if types else 0):
                done += batch.num_rows
                yield batch
            return
        except pa.ArrowInvalid as exc:
            types = _widen(path, reader.schema, first_schema, exc, done)
        except (pa.ArrowException, OSError) as exc:
            raise _reading_error(path, exc) from None
        reader = _open_csv(path, types)


def _widen(
    path: str | os.PathLike, schema: pa.Schema, first_schema: pa.Schema, exc: Exception, done: int
) -> dict[str, pa.DataType]:
    """Return the column types to read the file with again, or raise DataError."""
    message = str(exc)
    found = _CONVERSION_ERROR.search(message)
    if found is None:
        raise _reading_error(path, exc)
    index = int(found.group(1))
    name = schema.names[index]
    old = schema.types[index]
    value_match = _INVALID_VALUE.search(message)
    value = value_match.group(2) if value_match else None
    invalid = value_match is not None and value_match.group(1) == "invalid value"
    new = None
    if pa.types.is_null(old):
        new = pa.float64() if value is not None and _parses_as_float(value) else pa.string()
    elif pa.types.is_integer(old) and value is not None and _parses_as_float(value):
        new = pa.float64()
    elif pa.types.is_floating(old) and pa.types.is_null(first_schema.field(name).type):
        new = pa.string()  # was empty in the first block: a text column, not a numeric one
    elif pa.types.is_timestamp(old) and old.unit != "ns" and invalid:  # e.g. fractional seconds
        new = pa.timestamp("ns", tz=old.tz)
    if new is not None:
        return dict(zip(schema.names, [new if i == index else t for i, t in enumerate(schema.types)]))

    types = dict(zip(schema.names, schema.types))
    row = _locate(path, {**types, name: pa.string()}, name, done, value)
    where = f" at row {row}" if row is not None else ""
    shown = f" '{_one_line(value, 60)}'" if value is not None else ""
    if pa.types.is_integer(old) or pa.types.is_floating(old):
        raise DataError(f"{path}: column '{name}' has non-numeric text{shown}{where}")
    raise DataError(
        f"{path}: column '{name}' has value{shown}{where}, which does not fit the type {old} "
        "inferred from the first rows"
    )


def _locate(
    path: str | os.PathLike, types: dict[str, pa.DataType], name: str, done: int, value: str | None
) -> int | None:
    """Find the absolute row of the first offending cell of ``name`` at or after row ``done``."""
    if value is None:
        return None
    try:
        row = done
        for batch in _skip(_open_csv(path, types), done):
            cells = batch.column(name).to_pylist()
            for offset, cell in enumerate(cells):
                if cell == value:
                    return row + offset
            row += batch.num_rows
    except (pa.ArrowException, OSError, DataError):
        return None
    return None


class TableWriter:
    """Write a table chunk by chunk, atomically.

    With a file path, the chunks go to a temporary file in the same directory
    (``.NAME.tmp-XXXX``), which replaces the target only when the ``with`` block
    ends without an exception; on an exception it is removed and an existing
    target is left untouched. The suffix picks CSV or Parquet. With ``None`` or
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
            parent = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(parent):
                raise DataError(f"cannot write {self.path}: directory {parent} does not exist")
            if os.path.isdir(self.path):
                raise DataError(f"cannot write {self.path}: it is a directory")
        self._tmp: str | None = None
        self._file = None
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._open = False
        self._header_done = False

    def __enter__(self) -> TableWriter:
        if self.path is not None:
            directory, name = os.path.split(os.path.abspath(self.path))
            try:
                fd, self._tmp = tempfile.mkstemp(prefix=f".{name}.tmp-", dir=directory)
            except OSError as exc:
                raise DataError(f"cannot write {self.path}: {_one_line(exc.strerror or exc)}") from None
            self._file = os.fdopen(fd, "wb")
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
        try:
            if exc_type is None and self.format == "parquet" and self._parquet is None:
                # Nothing was written: still produce a valid (empty) Parquet file.
                self._parquet = pq.ParquetWriter(self._file, self._schema or pa.schema([]))
            if self._parquet is not None:
                self._parquet.close()
            self._file.close()
            if exc_type is None:
                _match_mode(self._tmp, self.path)
                os.replace(self._tmp, self.path)
                self._tmp = None
        except (pa.ArrowException, OSError) as error:
            if exc_type is None:
                raise DataError(f"cannot write {self.path}: {_one_line(error)}") from None
        finally:
            if self._tmp is not None:
                try:
                    os.remove(self._tmp)
                except OSError:
                    pass
                self._tmp = None


def _match_mode(tmp: str, target: str | os.PathLike) -> None:
    """Give the temporary file the target's permissions (or the umask default)."""
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


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
