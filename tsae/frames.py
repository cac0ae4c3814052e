"""Choosing columns of a table and turning them into clean float arrays.

* :func:`find_timestamp` and :func:`find_value_columns` pick the columns (at fit time
  :func:`choose_fit_columns` also leaves out constant 0/1 flags and says what it left
  out); :func:`find_label_column` finds the 0/1 label column;
* :func:`to_values` converts them to a float64 array (text, infinities and values
  beyond float32's range are errors, missing values stay NaN);
* :class:`GapFiller` fills short runs of missing values, with state, so a file read in
  chunks gives exactly the same values as the whole file.

Row numbers in messages are the frame's index labels: 0-based data rows, absolute
when the frame is a chunk from :func:`tsae.io.iter_table_chunks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from tsae.errors import ConfigError, DataError
from tsae.events import runs

__all__ = [
    "LABEL_COLUMNS",
    "TIMESTAMP_NAMES",
    "FLOAT32_MAX",
    "FitColumns",
    "find_timestamp",
    "is_label_column",
    "classify_columns",
    "find_value_columns",
    "choose_fit_columns",
    "find_label_column",
    "read_labels",
    "to_values",
    "GapFiller",
]

#: Column names (case-insensitive) that hold labels and are never value columns by default.
LABEL_COLUMNS = ("label", "labels", "anomaly", "is_anomaly", "changepoint", "attack", "fault")

#: Largest magnitude the model can hold: it computes in float32, where larger values become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)

#: Column names (case-insensitive) taken as the timestamp when no column has a datetime dtype.
TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime")

# Text cells that mean "missing" rather than "text" (compared lower-cased and stripped).
_MISSING_TEXT = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>"})


def _listing(df: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in df.columns)


def is_label_column(name: object) -> bool:
    """True if ``name`` is one of :data:`LABEL_COLUMNS` (case-insensitive)."""
    return str(name).lower() in LABEL_COLUMNS


def _is_temporal(series: pd.Series) -> bool:
    dtype = series.dtype
    return pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)


def _is_text_dtype(series: pd.Series) -> bool:
    """True for columns that need parsing: strings, objects, categoricals."""
    dtype = series.dtype
    return not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) or _is_temporal(series))


def _arrow_kind(dtype: pa.DataType) -> str | None:
    """The container kind of a pyarrow type (see :func:`_container_kind`), or None."""
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype):
        return "lists"
    if pa.types.is_struct(dtype) or pa.types.is_map(dtype):
        return "dicts"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return "bytes"
    return None


def _container_kind(series: pd.Series) -> str | None:
    """The kind of container the column's cells are: ``lists``, ``dicts`` or ``bytes`` (as
    Parquet list, struct and binary columns are read), else None; judged by the first
    non-null cell."""
    if isinstance(series.dtype, pd.ArrowDtype):
        return _arrow_kind(series.dtype.pyarrow_dtype)
    if series.dtype != object:
        return None
    present = series.notna().to_numpy()
    if not present.any():
        return None
    cell = series.iloc[int(np.argmax(present))]
    if isinstance(cell, (list, tuple, set, frozenset, np.ndarray)):
        return "lists"
    if isinstance(cell, dict):
        return "dicts"
    if isinstance(cell, (bytes, bytearray, memoryview)):
        return "bytes"
    return None


def find_timestamp(df: pd.DataFrame, explicit: str | None = None, source: str = "input") -> str | None:
    """Return the name of the timestamp column, or None.

    Parameters
    ----------
    df : pandas.DataFrame
        The table (or its first chunk).
    explicit : str, optional
        Column named by the user; it must exist.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    str or None
        ``explicit`` if given; else the first column with a datetime dtype; else the
        first column named timestamp, time, date or datetime (case-insensitive, any
        dtype, so an integer ``timestamp`` index counts); else None.

    Raises
    ------
    DataError
        If ``explicit`` is not a column of ``df``.
    """
    if explicit is not None:
        if explicit not in df.columns:
            raise DataError(f"{source} has no column '{explicit}' (columns: {_listing(df)})")
        return explicit
    for name in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[name].dtype):
            return name
    for name in df.columns:
        if str(name).lower() in TIMESTAMP_NAMES:
            return name
    return None


def _missing_text(series: pd.Series) -> np.ndarray:
    """Boolean mask of cells that are missing: null, or a blank / NA-like string."""
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    present = ~missing
    if present.any():
        cells = series[present].astype(str).str.strip().str.lower()
        missing[np.flatnonzero(present)[cells.isin(_MISSING_TEXT).to_numpy()]] = True
    return missing


def _parse_text(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a text column; return (float values, mask of cells that are text, not numbers)."""
    try:  # fast path: every cell is a number or null (pyarrow does 10M cells in under a second)
        numbers = pa.array(series, from_pandas=True).cast(pa.float64()).to_numpy(zero_copy_only=False)
        return numbers, np.zeros(len(series), dtype=bool)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    failed = np.isnan(numbers)
    text = np.zeros(len(series), dtype=bool)
    if failed.any():
        candidates = np.flatnonzero(failed)
        text[candidates] = ~_missing_text(series.iloc[candidates])
    return numbers, text


def _all_text(series: pd.Series) -> bool:
    """True if the column has cells, none missing-like, and no cell parses as a number."""
    head = series.iloc[:1000]
    numbers, text = _parse_text(head)
    if not np.isnan(numbers).all():
        return False
    if len(series) > len(head):
        numbers, text = _parse_text(series)
        if not np.isnan(numbers).all():
            return False
    return bool(text.any())


def _left_out_reason(series: pd.Series, name: object) -> str | None:
    """Why the automatic choice leaves out a column (None: it is a value column)."""
    if is_label_column(name):
        return "label name"
    if _is_temporal(series):
        return "timestamps"
    kind = _container_kind(series)
    if kind is not None:
        return f"holds {kind}"
    if _is_text_dtype(series) and _all_text(series):
        return "text"
    return None


def classify_columns(df: pd.DataFrame, timestamp: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Split the columns other than the timestamp into value columns and columns left out.

    Parameters
    ----------
    df : pandas.DataFrame
        The table (or a chunk of it).
    timestamp : str, optional
        The timestamp column, in neither list.

    Returns
    -------
    tuple of (list of str, dict of str to str)
        The value columns, in table order, and the columns left out with the reason:
        ``"label name"`` (:data:`LABEL_COLUMNS`), ``"timestamps"`` (another datetime
        column), ``"holds lists"`` / ``"holds dicts"`` / ``"holds bytes"`` (e.g. Parquet
        list, struct and binary columns) or ``"text"`` (no cell parses as a number,
        e.g. host names).
    """
    chosen, left_out = [], {}
    for name in df.columns:
        if name == timestamp:
            continue
        reason = _left_out_reason(df[name], name)
        if reason is None:
            chosen.append(name)
        else:
            left_out[name] = reason
    return chosen, left_out


def _no_numeric_columns(df: pd.DataFrame, source: str) -> DataError:
    """The error for a table without value columns; says how a CSV file was read
    (``df.attrs["csv_dialect"]``), since a wrong separator makes every column text."""
    dialect = df.attrs.get("csv_dialect")
    how = f"read as {dialect}; " if dialect else ""
    return DataError(f"{source} has no numeric columns ({how}columns: {_listing(df)})")


def _check_requested(series: pd.Series, name: str, source: str) -> None:
    """DataError if a column the user asked for cannot hold numbers (timestamps, containers)."""
    if _is_temporal(series):
        raise DataError(f"{source}: column '{name}' holds timestamps, not numbers")
    kind = _container_kind(series)
    if kind is not None:
        raise DataError(f"{source}: column '{name}' holds {kind}, not numbers")


def find_value_columns(
    df: pd.DataFrame,
    timestamp: str | None = None,
    columns: Sequence[str] | None = None,
    source: str = "input",
) -> list[str]:
    """Choose the columns that hold the series values.

    Parameters
    ----------
    df : pandas.DataFrame
        The table (or its first chunk).
    timestamp : str, optional
        The timestamp column (from :func:`find_timestamp`), never a value column.
    columns : sequence of str, optional
        Columns requested by the user; they must exist and must hold numbers.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    list of str
        ``columns`` if given; else the value columns of :func:`classify_columns`:
        every column except the timestamp, label-like columns (:data:`LABEL_COLUMNS`),
        other datetime columns, columns of lists, dicts or bytes, and columns that are
        entirely text.

    Raises
    ------
    DataError
        If a requested column is missing or holds timestamps, lists, dicts, bytes or
        only text, or no value column remains (the message says how a CSV file was
        read when ``df.attrs["csv_dialect"]`` is set).
    """
    if columns is not None:
        columns = list(columns)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            names = ", ".join(f"'{c}'" for c in missing)
            word = "column" if len(missing) == 1 else "columns"
            raise DataError(f"{source} has no {word} {names} (columns: {_listing(df)})")
        for name in columns:
            series = df[name]
            _check_requested(series, name, source)
            if _is_text_dtype(series) and _all_text(series):
                raise DataError(f"{source}: column '{name}' holds text, not numbers")
        if not columns:
            raise DataError(f"{source}: no value columns were given")
        return columns

    chosen, _ = classify_columns(df, timestamp)
    if not chosen:
        raise _no_numeric_columns(df, source)
    return chosen


class FitColumns(NamedTuple):
    """The value columns chosen for fitting (see :func:`choose_fit_columns`)."""

    channels: list[str]
    values: np.ndarray  # (n_rows, n_channels) float64, NaN where missing
    left_out: dict[str, str]  # column -> why it was left out
    constant: list[str]  # channels with a single value in the training data

    def warnings(self, source: str = "input") -> list[str]:
        """One-line messages about the columns left out and the constant channels."""
        messages = []
        if self.left_out:
            listed = ", ".join(f"{name} ({why})" for name, why in self.left_out.items())
            messages.append(f"{source}: left out column(s) {listed}; choose the columns explicitly to use them")
        if self.constant:
            messages.append(
                f"{source}: column(s) {', '.join(self.constant)} are constant in the training data, "
                "so any change in them will look anomalous"
            )
        return messages


def _constant_values(values: np.ndarray) -> dict[int, float]:
    """{column index: value} for the columns whose present values are all equal."""
    constant = {}
    for j in range(values.shape[1]):
        present = values[:, j][~np.isnan(values[:, j])]
        if len(present) and present.min() == present.max():
            constant[j] = float(present[0])
    return constant


def choose_fit_columns(
    df: pd.DataFrame,
    timestamp: str | None = None,
    columns: Sequence[str] | None = None,
    source: str = "input",
) -> FitColumns:
    """Choose and convert the value columns of training data.

    As :func:`find_value_columns`; when the columns are chosen automatically, a column
    that is constant 0 or constant 1 in ``df`` is left out too: a flag that never
    changes carries no signal, and any later change would look anomalous. Columns
    that are constant at another value are kept (see :meth:`FitColumns.warnings`).

    Parameters
    ----------
    df : pandas.DataFrame
        The training table.
    timestamp : str, optional
        The timestamp column, never a value column.
    columns : sequence of str, optional
        Columns requested by the user: all kept, none reported as left out.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    FitColumns
        The channels, their values (missing values NaN), the columns left out with
        the reason (empty for requested columns) and the constant channels.

    Raises
    ------
    DataError
        As :func:`find_value_columns` and :func:`to_values`; also when every value
        column is a constant 0/1 flag.
    """
    if columns is not None:
        chosen, left_out = find_value_columns(df, timestamp, columns, source), {}
    else:
        chosen, left_out = classify_columns(df, timestamp)
        if not chosen:
            raise _no_numeric_columns(df, source)
    values = to_values(df, chosen, source)
    constant = _constant_values(values)
    flags = [j for j, value in constant.items() if value in (0.0, 1.0)] if columns is None else []
    if len(flags) == len(chosen):
        listed = ", ".join(f"{chosen[j]} (constant {constant[j]:g})" for j in flags)
        raise DataError(f"{source} has no value columns but constant 0/1 flags: {listed}")
    left_out.update({chosen[j]: f"constant {constant[j]:g}" for j in flags})
    left_out = {name: left_out[name] for name in df.columns if name in left_out}  # table order
    keep = [j for j in range(len(chosen)) if j not in flags]
    return FitColumns([chosen[j] for j in keep], values[:, keep], left_out, [chosen[j] for j in keep if j in constant])


def _first_row(df: pd.DataFrame, mask: np.ndarray) -> object:
    return df.index[int(np.argmax(mask))]


def _check_finite(column: np.ndarray, df: pd.DataFrame, name: str, source: str) -> None:
    """DataError naming the first infinite value or value beyond float32's range."""
    infinite = np.isinf(column)
    if infinite.any():
        raise DataError(f"{source}: column '{name}' has an infinite value at row {_first_row(df, infinite)}")
    with np.errstate(over="ignore"):
        huge = np.isinf(column.astype(np.float32))  # beyond FLOAT32_MAX by more than float32's rounding
    if huge.any():
        pos = int(np.argmax(huge))
        raise DataError(
            f"{source}: column '{name}' has {column[pos]:g} at row {df.index[pos]}, beyond the "
            f"float32 range the model computes in (largest magnitude {FLOAT32_MAX:.7g})"
        )


def to_values(df: pd.DataFrame, columns: Sequence[str], source: str = "input") -> np.ndarray:
    """Convert columns of ``df`` to a float64 array of shape ``(len(df), len(columns))``.

    Numeric columns are used as they are, booleans become 0/1, and text columns are
    parsed as numbers. Missing cells (null, ``""``, ``NA``, ``NaN`` ...) become NaN;
    fill them with :class:`GapFiller`.

    Parameters
    ----------
    df : pandas.DataFrame
        The table or a chunk of it; its index gives the row numbers in messages.
    columns : sequence of str
        Columns to convert, e.g. from :func:`find_value_columns`.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    numpy.ndarray
        float64, C-contiguous, shape ``(n_rows, n_columns)``.

    Raises
    ------
    DataError
        If a column is missing, holds timestamps, lists, dicts or bytes, has a text
        cell that is not a number, an infinite value, or a value beyond float32's
        range (:data:`FLOAT32_MAX`, where the model would see infinity); the message
        names column and row.
    """
    columns = list(columns)
    out = np.empty((len(df), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        if name not in df.columns:
            raise DataError(f"{source} has no column '{name}' (columns: {_listing(df)})")
        series = df[name]
        _check_requested(series, name, source)
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
            column = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            column, text = _parse_text(series)
            if text.any():
                pos = int(np.argmax(text))
                cell = " ".join(str(series.iloc[pos]).split())
                cell = cell if len(cell) <= 60 else cell[:57] + "..."
                raise DataError(
                    f"{source}: column '{name}' has text '{cell}' at row {df.index[pos]} (numbers expected)"
                )
        _check_finite(column, df, name, source)
        out[:, j] = column
    return out


class GapFiller:
    """Fill short runs of missing values, identically for whole arrays and chunks.

    A run of at most ``max_gap`` consecutive NaNs in a column is filled with the
    last valid value before it (forward fill: causal, so it works on streams).
    NaNs at the very start of the series, before any valid value, are filled with
    the first valid value after them; this needs that value to be in the same
    (first) call. A longer run is an error.

    The filler keeps, per column, the last valid value and the length of a run
    still open at the end of the previous call, so a run spanning two chunks is
    counted whole. Call :meth:`reset` (or make a new filler) for another series.

    Parameters
    ----------
    max_gap : int, default 5
        Longest run of missing values that is filled; 0 makes every missing value
        an error.

    Raises
    ------
    ConfigError
        If ``max_gap`` is not a whole number >= 0.
    """

    def __init__(self, max_gap: int = 5) -> None:
        if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
            raise ConfigError(f"max_gap must be a whole number >= 0, got {max_gap!r}")
        self.max_gap = int(max_gap)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next call to :meth:`fill` starts a new series."""
        self._last: np.ndarray | None = None  # last valid value per column (NaN: none yet)
        self._open: np.ndarray | None = None  # length of the NaN run open at the end of the last call

    def state_dict(self) -> dict:
        """JSON-ready state (last valid value and open run length per column)."""
        return {
            "max_gap": self.max_gap,
            "last": None if self._last is None else [None if np.isnan(v) else float(v) for v in self._last],
            "open": None if self._open is None else [int(v) for v in self._open],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.max_gap = int(state["max_gap"])
        last, open_runs = state["last"], state["open"]
        self._last = None if last is None else np.array([np.nan if v is None else v for v in last], dtype=np.float64)
        self._open = None if open_runs is None else np.array(open_runs, dtype=np.int64)

    def fill(
        self,
        values: np.ndarray,
        first_row: int = 0,
        source: str = "input",
        columns: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Return a copy of ``values`` with short gaps filled.

        Parameters
        ----------
        values : numpy.ndarray
            float array of shape ``(n_rows, n_columns)``; not modified.
        first_row : int, default 0
            Absolute row number of ``values[0]`` (for messages).
        source : str, default "input"
            Name of the data (usually the file name) for messages.
        columns : sequence of str, optional
            Column names for messages (default: column numbers).

        Returns
        -------
        numpy.ndarray
            float64 copy without NaNs.

        Raises
        ------
        DataError
            If a column has more than ``max_gap`` missing values in a row, or the
            first call has no valid value in a column (leading gaps are filled
            backwards only within the first call).
        """
        out = np.array(values, dtype=np.float64, copy=True)
        if out.ndim != 2:
            raise ValueError(f"values must be 2-D (rows, columns), got shape {out.shape}")
        n, k = out.shape
        names = [str(c) for c in columns] if columns is not None else [f"#{j}" for j in range(k)]
        if len(names) != k:
            raise ValueError(f"{len(names)} column names given for {k} columns")
        if self._last is None:
            self._last = np.full(k, np.nan)
            self._open = np.zeros(k, dtype=np.int64)
        elif len(self._last) != k:
            raise ValueError(f"GapFiller saw {len(self._last)} columns before, now {k}; call reset()")
        if n == 0:
            return out
        if not self._open.any() and not np.isnan(out).any():  # fast path: nothing to fill
            self._last = out[-1].copy()
            return out

        last = self._last.copy()
        open_runs = self._open.copy()
        problems = []  # (start row, message)
        for j in range(k):
            problem = self._fill_column(out[:, j], j, last, open_runs, first_row)
            if problem is not None:
                start, length, closed = problem
                problems.append((start, j, length, closed))
        if problems:
            start, j, length, closed = min(problems)
            raise DataError(self._message(source, names[j], start, length, closed))
        self._last = last
        self._open = open_runs
        return out

    def _fill_column(
        self, col: np.ndarray, j: int, last: np.ndarray, open_runs: np.ndarray, first_row: int
    ) -> tuple[int, int, bool] | None:
        """Fill ``col`` in place and update the state; return (start, length, closed) of a bad run."""
        missing = np.isnan(col)
        n = len(col)
        carried = int(open_runs[j])
        if not missing.any():
            last[j] = col[-1]
            open_runs[j] = 0
            return None

        # Runs of NaN: starts and (exclusive) ends, positions within this call.
        spans = runs(missing)
        starts, ends = spans[:, 0], spans[:, 1] + 1
        lengths = ends - starts
        if starts[0] == 0:
            lengths[0] += carried
        too_long = np.flatnonzero(lengths > self.max_gap)
        if too_long.size:
            r = too_long[0]
            start = first_row + int(starts[r]) - (carried if starts[r] == 0 else 0)
            return start, int(lengths[r]), bool(ends[r] < n)

        valid = ~missing
        if not valid.any() and np.isnan(last[j]):
            # The first call has no value to fill this short leading run with.
            return first_row - carried, n + carried, False

        # Forward fill: index of the last valid position at or before each row (-1: none).
        index = np.where(valid, np.arange(n), -1)
        np.maximum.accumulate(index, out=index)
        lead = index < 0
        if lead.any():
            before = last[j] if not np.isnan(last[j]) else col[np.argmax(valid)]
            col[lead] = before
        col[~lead] = col[index[~lead]]
        if valid.any():
            last[j] = col[np.flatnonzero(valid)[-1]]
        open_runs[j] = int(lengths[-1]) if ends[-1] == n else 0
        return None

    def _message(self, source: str, name: str, start: int, length: int, closed: bool) -> str:
        if not closed and length <= self.max_gap:
            return (
                f"{source}: column '{name}' has no valid value in its first {length} rows "
                f"(rows {start}-{start + length - 1}), so the missing values cannot be filled; "
                "read larger chunks"
            )
        if length == 1:
            what = f"a missing value at row {start}"
        else:
            amount = f"{length}" if closed else f"at least {length}"
            what = f"{amount} missing values in a row at rows {start}-{start + length - 1}"
        return f"{source}: column '{name}' has {what} (at most {self.max_gap} are filled; see max_gap)"


def find_label_column(df: pd.DataFrame, explicit: str | None = None, source: str = "input") -> str | None:
    """Return the name of the 0/1 label column, or None.

    Parameters
    ----------
    df : pandas.DataFrame
        The labelled table.
    explicit : str, optional
        Column named by the user; it must exist.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    str or None
        ``explicit`` if given; else the first column whose name is label-like
        (:data:`LABEL_COLUMNS`, case-insensitive, the columns fitting leaves out);
        else None.

    Raises
    ------
    DataError
        If ``explicit`` is not a column of ``df``.
    """
    if explicit is not None:
        if explicit not in df.columns:
            raise DataError(f"{source} has no label column '{explicit}' (columns: {_listing(df)})")
        return explicit
    return next((name for name in df.columns if is_label_column(name)), None)


def read_labels(df: pd.DataFrame, column: str | None = None, source: str = "input") -> np.ndarray:
    """The 0/1 label column of ``df`` as an int8 array.

    Parameters
    ----------
    df : pandas.DataFrame
        The labelled table.
    column : str, optional
        The label column; default found by :func:`find_label_column`.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    numpy.ndarray
        int8 array of 0 and 1, one per row.

    Raises
    ------
    DataError
        If there is no such column, or it has gaps or holds anything but 0 and 1
        (naming the row).
    """
    name = find_label_column(df, column, source)
    if name is None:
        raise DataError(
            f"{source} has no label column (looked for {', '.join(LABEL_COLUMNS)}; columns: {_listing(df)})"
        )
    values = to_values(df, [name], source)[:, 0]
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = _first_row(df, bad)
        raise DataError(f"{source}: label column {name!r} must hold 0 or 1, found {values[bad][0]:g} at row {row}")
    return values.astype(np.int8)
