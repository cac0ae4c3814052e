"""Choosing columns of a table and turning them into clean float arrays.

* :func:`find_timestamp` and :func:`find_value_columns` pick the columns;
* :func:`to_values` converts them to a float64 array (text and infinities are errors,
  missing values stay NaN);
* :class:`GapFiller` fills short runs of missing values, with state, so a file read in
  chunks gives exactly the same values as the whole file.

Row numbers in messages are the frame's index labels: 0-based data rows, absolute
when the frame is a chunk from :func:`tsae.io.iter_table_chunks`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from tsae.errors import ConfigError, DataError

__all__ = ["LABEL_COLUMNS", "TIMESTAMP_NAMES", "find_timestamp", "find_value_columns", "to_values", "GapFiller"]

#: Column names (case-insensitive) that hold labels and are never value columns by default.
LABEL_COLUMNS = ("label", "labels", "is_anomaly", "anomaly")

#: Column names (case-insensitive) taken as the timestamp when no column has a datetime dtype.
TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime")

# Text cells that mean "missing" rather than "text" (compared lower-cased and stripped).
_MISSING_TEXT = frozenset({"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>"})


def _listing(df: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in df.columns)


def _is_label(name: object) -> bool:
    return str(name).lower() in LABEL_COLUMNS


def _is_temporal(series: pd.Series) -> bool:
    dtype = series.dtype
    return pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)


def _is_text_dtype(series: pd.Series) -> bool:
    """True for columns that need parsing: strings, objects, categoricals."""
    dtype = series.dtype
    return not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) or _is_temporal(series))


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
        Columns requested by the user; they must exist and must not be all text.
    source : str, default "input"
        Name of the data (usually the file name) for messages.

    Returns
    -------
    list of str
        ``columns`` if given; else every column except the timestamp, label-like
        columns (:data:`LABEL_COLUMNS`), other datetime columns, and columns that are
        entirely text (no cell parses as a number, e.g. host names).

    Raises
    ------
    DataError
        If a requested column is missing or all text, or no value column remains.
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
            if _is_temporal(series):
                raise DataError(f"{source}: column '{name}' holds timestamps, not numbers")
            if _is_text_dtype(series) and _all_text(series):
                raise DataError(f"{source}: column '{name}' holds text, not numbers")
        if not columns:
            raise DataError(f"{source}: no value columns were given")
        return columns

    chosen = []
    for name in df.columns:
        series = df[name]
        if name == timestamp or _is_label(name) or _is_temporal(series):
            continue
        if _is_text_dtype(series) and _all_text(series):
            continue
        chosen.append(name)
    if not chosen:
        raise DataError(f"{source} has no numeric columns (columns: {_listing(df)})")
    return chosen


def _first_row(df: pd.DataFrame, mask: np.ndarray) -> object:
    return df.index[int(np.argmax(mask))]


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
        If a column is missing, holds timestamps, has a text cell that is not a
        number, or an infinite value (the message names column and row).
    """
    columns = list(columns)
    out = np.empty((len(df), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        if name not in df.columns:
            raise DataError(f"{source} has no column '{name}' (columns: {_listing(df)})")
        series = df[name]
        if _is_temporal(series):
            raise DataError(f"{source}: column '{name}' holds timestamps, not numbers")
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
        infinite = np.isinf(column)
        if infinite.any():
            raise DataError(f"{source}: column '{name}' has an infinite value at row {_first_row(df, infinite)}")
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
        return {"max_gap": self.max_gap,
                "last": None if self._last is None else [None if np.isnan(v) else float(v) for v in self._last],
                "open": None if self._open is None else [int(v) for v in self._open]}

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
        edges = np.diff(np.concatenate(([0], missing.view(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
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


def read_labels(df: pd.DataFrame, column: str = "label", source: str = "input") -> np.ndarray:
    """The 0/1 label column of ``df`` as an int array; DataError if it is missing,
    has gaps or holds anything but 0 and 1 (naming the row)."""
    if column not in df.columns:
        raise DataError(f"{source} has no label column {column!r} (columns: {_listing(df)}); "
                        f"choose one with --label-column")
    values = to_values(df, [column], source)[:, 0]
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = _first_row(df, bad)
        raise DataError(f"{source}: label column {column!r} must hold 0 or 1, found {values[bad][0]:g} at row {row}")
    return values.astype(np.int8)
