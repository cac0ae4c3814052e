"""One detector per series for a fleet: pandas in, pandas out, on any engine.

Each ``*_series`` function takes the rows of one series (one key) and returns a
DataFrame: the shape that Spark's ``applyInPandas`` and ``cogroup``, Dask's
``groupby().apply`` and Ray's ``map_groups`` hand to a function. Nothing here imports
an engine (``tsae.spark`` brings Spark, lazily); ``fit_fleet``/``score_fleet`` run the
same functions over a whole frame in local processes.

- Rows are sorted by time first (stably, by the timestamp column given or detected):
  engines do not keep the order of rows within a group. The key columns are never
  channels.
- A model travels as bytes (``Detector.to_bytes``, checksummed): the models table has
  one row per key with :data:`MODEL_COLUMNS`. ``ModelCache`` keeps the loaded detectors
  of a process, so scoring many batches of a key parses its model once.
- torch runs on one thread per series (``TSAE_THREADS`` overrides): the parallelism
  is across series, one per core, which is what an engine's task slots give.

Example (pandas only; ``df`` has columns ``series_id``, ``timestamp``, ``value``)::

    models = fit_fleet(df, by="series_id", params={"epochs": 5})
    scores = score_fleet(df, models, by="series_id")
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .errors import DataError, TsaeError
from .frames import find_timestamp

__all__ = [
    "MODEL_COLUMNS",
    "SCORE_COLUMNS",
    "ModelCache",
    "fit_series",
    "score_series",
    "stream_series",
    "fit_fleet",
    "score_fleet",
    "fleet_threads",
]

#: Columns of the models table after the key columns: the model file's bytes, its
#: fingerprint (``Detector.fingerprint``), window, cutoff, rows fitted on, fit seconds,
#: the fit's warnings (one per line) and its error (None when it fitted).
MODEL_COLUMNS = ("model", "fingerprint", "window", "cutoff", "rows", "seconds", "warnings", "error")
#: Columns of scored rows after the key and timestamp columns.
SCORE_COLUMNS = ("score", "probability", "is_anomaly")


def fleet_threads() -> int:
    """torch threads per series: ``TSAE_THREADS`` if set, else 1 (one series per core)."""
    env = os.environ.get("TSAE_THREADS", "")
    return int(env) if env.isdigit() and int(env) >= 1 else 1


def _keys(by: str | Iterable[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _key_of(rows: pd.DataFrame, by: list[str], what: str) -> dict:
    """The key shared by every row (DataError if the rows are empty, lack a key column,
    or hold more than one key)."""
    missing = [c for c in by if c not in rows.columns]
    if missing:
        raise DataError(f"{what}: the rows lack the key column(s) {', '.join(missing)}")
    if rows.empty:
        raise DataError(f"{what}: no rows")
    first = rows[by].iloc[0]
    if first.isna().any():
        raise DataError(f"{what}: a key column is empty ({', '.join(by)})")
    if len(rows[by].drop_duplicates()) > 1:
        raise DataError(f"{what}: the rows hold more than one key of {', '.join(by)}")
    return {c: _plain(first[c]) for c in by}


def _plain(value):
    """A numpy scalar as the Python value (keys go into messages and tables)."""
    return value.item() if isinstance(value, np.generic) else value


def _label(key: dict) -> str:
    return "series " + ", ".join(f"{k}={v}" for k, v in key.items())


def _in_time_order(rows: pd.DataFrame, by: list[str], time_column: str | None, source: str):
    """(the rows without the key columns, sorted stably by time, index reset; the
    timestamp column or None)."""
    series = rows.drop(columns=by)
    column = find_timestamp(series, time_column, source)
    if column is not None:
        series = series.sort_values(column, kind="stable")
    return series.reset_index(drop=True), column


class ModelCache:
    """The detectors a process has loaded, by the sha256 of their bytes (least recently
    used dropped beyond ``size``): scoring every batch of a key parses its model once.
    The digest is of the whole file, cutoff included, so a recalibrated model is not
    mistaken for the old one."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._models: OrderedDict[str, object] = OrderedDict()

    def get(self, model: bytes):
        """The Detector of ``model`` (the bytes of ``Detector.to_bytes``), loaded once."""
        digest = hashlib.sha256(model).hexdigest()
        if digest in self._models:
            self._models.move_to_end(digest)
            return self._models[digest]
        from .detector import Detector

        detector = Detector.from_bytes(bytes(model), device="auto", threads=fleet_threads())
        self._models[digest] = detector
        if len(self._models) > self.size:
            self._models.popitem(last=False)
        return detector


#: The cache of this process (of each Spark executor's Python worker, each Dask worker...).
MODELS = ModelCache()


def _detector(model, cache: ModelCache, what: str):
    """A Detector from a Detector, model bytes, or the models table's rows for one key."""
    from .detector import Detector

    if isinstance(model, Detector):
        return model
    if isinstance(model, pd.DataFrame):
        if len(model) != 1:
            raise DataError(f"{what}: {'no model' if model.empty else f'{len(model)} models'} in the models table")
        row = model.iloc[0]
        if isinstance(row.get("error"), str):
            raise DataError(f"{what}: its model did not fit: {row['error']}")
        model = row["model"]
    return cache.get(model)


def fit_series(
    rows: pd.DataFrame,
    by: str | Iterable[str],
    params: dict | None = None,
    time_column: str | None = None,
    on_error: str = "raise",
) -> pd.DataFrame:
    """Fit a Detector on the rows of one series; return its row of the models table.

    ``rows`` hold one key (the ``by`` columns), a timestamp column (``time_column`` or
    detected; rows are sorted by it) and the value columns. ``params`` are Detector
    parameters (``threads`` defaults to :func:`fleet_threads`). The fit's warnings are
    kept in the ``warnings`` column instead of being shown. With ``on_error="record"``
    a series that cannot be fitted (too short, bad values ...) gets a row with its
    one-line ``error`` and no model, so one bad series does not stop a fleet.

    Returns a one-row DataFrame: the key columns, then :data:`MODEL_COLUMNS`.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    from .detector import Detector

    by = _keys(by)
    key = _key_of(rows, by, "fit")
    source = _label(key)
    start = time.perf_counter()
    row = dict.fromkeys(MODEL_COLUMNS)
    try:
        series, _ = _in_time_order(rows, by, time_column, source)
        detector = Detector(**{"threads": fleet_threads(), **(params or {})})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            detector.fit(series, source=source)
        row.update(
            model=detector.to_bytes(),
            fingerprint=detector.fingerprint(),
            window=int(detector.window_),
            cutoff=detector.threshold_.cutoff_,
            rows=len(series),
            warnings="\n".join(str(w.message) for w in caught) or None,
        )
    except TsaeError as exc:
        if on_error == "raise":
            raise
        row.update(rows=len(rows), error=str(exc))
    row["seconds"] = time.perf_counter() - start
    return pd.DataFrame([{**key, **row}])


def score_series(
    rows: pd.DataFrame,
    model,
    by: str | Iterable[str],
    time_column: str | None = None,
    cache: ModelCache = MODELS,
) -> pd.DataFrame:
    """Score the rows of one series with its model.

    ``model`` is a Detector, the bytes of one, or the models table's rows for this key
    (what ``cogroup`` hands over: exactly one row, fitted). Rows are sorted by time and
    scored as one series (``Detector.assess``). Returns the key columns, the timestamp
    column (when there is one) and :data:`SCORE_COLUMNS`, in time order.
    """
    by = _keys(by)
    key = _key_of(rows, by, "score")
    source = _label(key)
    detector = _detector(model, cache, source)
    series, column = _in_time_order(rows, by, time_column or detector.timestamp_, source)
    scored = detector.assess(series, source=source)
    out = pd.DataFrame(key, index=series.index)
    if column is not None:
        out[column] = series[column]
    return pd.concat([out, scored], axis=1)


def stream_series(
    rows: pd.DataFrame,
    model,
    state: str | None,
    by: str | Iterable[str],
    time_column: str | None = None,
    final: bool = False,
    key: dict | None = None,
    cache: ModelCache = MODELS,
) -> tuple[pd.DataFrame, str | None]:
    """Advance the stream of one series by ``rows`` from its ``state``.

    ``state`` is the JSON text this function returned last time (None: a new stream);
    it records the model's fingerprint, so a state is never resumed with another model.
    ``rows`` (possibly none, e.g. when a timer fires) are sorted by time and scored as
    they would be one by one (``StreamingScorer.update_many``). With ``final`` the
    stream ends: the last ``window - 1`` rows get their scores (``flush``) and the new
    state is None. ``key`` ({column: value}) names the series when ``rows`` are empty.

    Returns (the rows whose scores became final: the key columns, ``row`` (the row's
    number in the series), ``timestamp``, :data:`SCORE_COLUMNS`; the new state).
    """
    by = _keys(by)
    key = _key_of(rows, by, "stream") if len(rows) else dict(key or {})
    detector = _detector(model, cache, _label(key) if key else "stream")
    scorer = detector.streaming(state=None if state is None else json.loads(state), threads=fleet_threads())
    parts = []
    if len(rows):
        series, _ = _in_time_order(rows, by, time_column or detector.timestamp_, _label(key))
        parts.append(scorer.update_many(series))
    if final:
        parts.append(scorer.flush())
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["row", "timestamp", *SCORE_COLUMNS])
    for i, (name, value) in enumerate(key.items()):
        out.insert(i, name, value)
    return out, None if final else json.dumps(scorer.state_dict())


# ------------------------------------------------------------ local processes
def _groups(data: pd.DataFrame, by: list[str]):
    """(key tuple, rows) per key, in key order (DataError for rows without a key)."""
    missing = [c for c in by if c not in data.columns]
    if missing:
        raise DataError(f"the data lack the key column(s) {', '.join(missing)}")
    empty = data[by].isna().any(axis=1)
    if empty.any():
        raise DataError(f"row {int(np.argmax(empty.to_numpy()))} has no key ({', '.join(by)} empty)")
    return list(data.groupby(by if len(by) > 1 else by[0], sort=True))


def _run(function, tasks: list[tuple], jobs: int, progress: bool, what: str) -> list[pd.DataFrame]:
    """``function(*task)`` for every task: in this process (jobs 1) or in a pool of
    ``jobs`` processes (spawned: a forked torch can hang), results in task order, with a
    progress bar on stderr when ``progress``."""
    from rich.console import Console
    from rich.progress import track

    def shown(results):
        return list(track(results, what, total=len(tasks), console=Console(stderr=True), disable=not progress))

    if jobs <= 1:
        return shown(function(*task) for task in tasks)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return shown(future.result() for future in [pool.submit(function, *task) for task in tasks])


def fit_fleet(
    data: pd.DataFrame,
    by: str | Iterable[str],
    params: dict | None = None,
    time_column: str | None = None,
    jobs: int = 1,
    on_error: str = "raise",
    progress: bool = False,
) -> pd.DataFrame:
    """Fit one Detector per key of ``data`` (:func:`fit_series` per key) in ``jobs``
    local processes; return the models table, one row per key, in key order."""
    by = _keys(by)
    tasks = [(rows, by, params, time_column, on_error) for _, rows in _groups(data, by)]
    return pd.concat(_run(fit_series, tasks, jobs, progress, "fit"), ignore_index=True)


def score_fleet(
    data: pd.DataFrame,
    models: pd.DataFrame,
    by: str | Iterable[str],
    time_column: str | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Score every key of ``data`` with its model from the models table
    (:func:`score_series` per key) in ``jobs`` local processes; rows in key, then time
    order. DataError naming the first key without a (fitted) model."""
    by = _keys(by)
    table = models.set_index(by if len(by) > 1 else by[0])
    tasks = []
    for key, rows in _groups(data, by):
        match = table.loc[[key]] if key in table.index else table.iloc[:0]
        tasks.append((rows, match.reset_index(), by, time_column))
    return pd.concat(_run(score_series, tasks, jobs, progress, "score"), ignore_index=True)
