"""tsae on Apache Spark: one model per series, fitted, scored and streamed by Spark.

Needs ``pip install 'tsae[spark]'`` (pyspark, Java 17+); pyspark is imported only when
a function here runs. Every function hands the rows of one key to the engine-neutral
layer (``tsae.fleet``), so Spark gives the same scores as ``Detector.score`` on each
series alone.

- :func:`fit`: ``groupBy(key).applyInPandas``: the models table, one row per key (the
  key columns, then ``tsae.fleet.MODEL_COLUMNS``: model bytes, fingerprint, window,
  cutoff ...). A series that cannot be fitted gets its one-line ``error`` instead of
  stopping the job. Save it with ``models.write.parquet(path)``.
- :func:`score`: ``cogroup`` of the data and the models table by key: each task gets
  one series and its one model row (never a model copy per data row); loaded models are
  cached per Python worker (``tsae.fleet.MODELS``).
- :func:`stream`: keyed Structured Streaming with ``transformWithStateInPandas``
  (pyspark 4) or ``applyInPandasWithState`` (pyspark 3.4+, or ``api="v1"``). The
  scorer's state (JSON text with the model's fingerprint) is the group state, so a
  restart from the checkpoint resumes each series where its last committed batch left
  it. A key that receives no rows for ``flush_after`` gets the scores of its last
  ``window - 1`` rows (the stream's end for that key) and its state is dropped. The
  models come from the models table saved as Parquet (``models_path``), read per key
  by each worker once. End-marker rows (``end_column``) end a key's series on bounded
  inputs.

Spark packs small groups into few tasks (adaptive coalescing); :func:`session`
makes a local session set up for many small groups (one per core).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Iterator

import pandas as pd

from .errors import ConfigError, DataError, TsaeError
from .fleet import _keys, fit_series, score_series, stream_series

__all__ = ["session", "fit", "fit_parquet", "score", "stream", "models_schema"]

_STATE_FIELD = "scorer"


def _pyspark():
    """pyspark, or ConfigError saying how to get it."""
    try:
        import pyspark
    except ImportError:
        raise ConfigError("tsae.spark needs pyspark: pip install 'tsae[spark]' (and Java 17+)") from None
    return pyspark


def session(cores: int = 2, app: str = "tsae", **conf):
    """A local SparkSession (``local[cores]``) set up for one model per series: adaptive
    coalescing off (it would pack every small group into one task), as many shuffle
    partitions as cores, Arrow batches for pandas, one torch thread per task, Python
    workers on this interpreter, the RocksDB state store (transformWithStateInPandas
    needs it). ``conf`` adds Spark settings (underscores for dots:
    ``spark_sql_shuffle_partitions=8``)."""
    _pyspark()
    from pyspark.sql import SparkSession

    settings = {
        "spark.sql.adaptive.coalescePartitions.enabled": "false",
        "spark.sql.shuffle.partitions": str(cores),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.executorEnv.TSAE_THREADS": "1",
        "spark.ui.enabled": "false",
        # transformWithStateInPandas keeps its state in RocksDB (the default store refuses it)
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        **{key.replace("_", "."): str(value) for key, value in conf.items()},
    }
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers on this interpreter (with tsae)
    builder = SparkSession.builder.master(f"local[{cores}]").appName(app)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def models_schema(key_fields):
    """The models table's Spark schema: ``key_fields`` (StructFields), then the columns
    of ``tsae.fleet.MODEL_COLUMNS``."""
    from pyspark.sql.types import BinaryType, DoubleType, LongType, StringType, StructField, StructType

    return StructType(
        [
            *key_fields,
            StructField("model", BinaryType()),
            StructField("fingerprint", StringType()),
            StructField("window", LongType()),
            StructField("cutoff", DoubleType()),
            StructField("rows", LongType()),
            StructField("seconds", DoubleType()),
            StructField("warnings", StringType()),
            StructField("error", StringType()),
        ]
    )


def _fields(df, names: Iterable[str]):
    missing = [name for name in names if name not in df.columns]
    if missing:
        raise DataError(f"the Spark DataFrame lacks column(s) {', '.join(missing)} (has {', '.join(df.columns)})")
    return [df.schema[name] for name in names]


def fit(df, by: str | list[str], params: dict | None = None, time_column: str | None = None, on_error="record"):
    """Fit one Detector per key of the Spark DataFrame ``df``; return the models table
    (a Spark DataFrame, lazily computed: write it, e.g. ``.write.parquet(path)``).
    ``params``: Detector parameters for every series; ``time_column``: the timestamp
    (default: detected per series); ``on_error="raise"`` fails the job on the first
    series that cannot be fitted instead of recording its error."""
    by = _keys(by)
    schema = models_schema(_fields(df, by))

    def run(rows: pd.DataFrame) -> pd.DataFrame:
        return fit_series(rows, by, params, time_column, on_error)

    return df.groupBy(*by).applyInPandas(run, schema)


def fit_parquet(spark, path: str, by: str | list[str], **options):
    """:func:`fit` on a Parquet file or directory (partitioned by key or not)."""
    return fit(spark.read.parquet(path), by, **options)


def _score_output_schema(df, by: list[str], time_column: str | None, errors: bool):
    from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType

    time_fields = _fields(df, [time_column]) if time_column else []
    return StructType(
        [
            *_fields(df, by),
            *time_fields,
            StructField("score", DoubleType()),
            StructField("probability", DoubleType()),
            StructField("is_anomaly", BooleanType()),
            *([StructField("error", StringType())] if errors else []),
        ]
    )


def score(df, models, by: str | list[str], time_column: str, on_error: str = "raise"):
    """Score every key of ``df`` with its model from the models table ``models`` (a
    Spark DataFrame, e.g. ``spark.read.parquet(path)``): a cogroup by key, so each
    task holds one series and one model. Returns the key columns, ``time_column`` and
    ``score``, ``probability``, ``is_anomaly``. A series that cannot be scored (no
    fitted model, bad values ...) fails the job (``on_error="raise"``), or gets one row
    with its one-line ``error`` (an extra column, null elsewhere) and no scores
    (``on_error="record"``)."""
    if on_error not in ("raise", "record"):
        raise ConfigError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    by = _keys(by)
    schema = _score_output_schema(df, by, time_column, errors=on_error == "record")
    columns = schema.fieldNames()

    def run(rows: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
        """A key's rows and its models-table rows -> scored rows (none for a key with a
        model but no rows)."""
        if rows.empty:
            return pd.DataFrame(columns=columns)
        try:
            scored = score_series(rows, model, by, time_column)
        except TsaeError as exc:
            if on_error == "raise":
                raise
            scored = pd.DataFrame([{**rows[by].iloc[0].to_dict(), "error": str(exc)}])
        for name in columns:  # the columns of the other outcome, empty (None: no float NaN in text)
            if name not in scored.columns:
                scored[name] = pd.Series([None] * len(scored), dtype=object, index=scored.index)
        return scored[columns]

    return df.groupBy(*by).cogroup(models.groupBy(*by)).applyInPandas(run, schema)


# ------------------------------------------------------------------ streaming
@functools.lru_cache(maxsize=4096)
def _stream_model(path: str, by: tuple, key: tuple) -> bytes:
    """The model bytes of ``key`` in the models table at ``path`` (read once per worker)."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet")
    match = None
    for name, value in zip(by, key):
        term = ds.field(name) == value
        match = term if match is None else match & term
    table = dataset.to_table(columns=["model", "error"], filter=match)
    label = ", ".join(f"{k}={v}" for k, v in zip(by, key))
    if table.num_rows != 1:
        raise DataError(f"stream: {table.num_rows} models for series {label} in {path} (one expected)")
    if table["error"][0].as_py() is not None:
        raise DataError(f"stream: the model of series {label} did not fit: {table['error'][0].as_py()}")
    return table["model"][0].as_py()


def _stream_output_schema(df, by: list[str], time_column: str):
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StructField, StructType

    return StructType(
        [
            *_fields(df, by),
            StructField("row", LongType()),
            *_fields(df, [time_column]),
            StructField("score", DoubleType()),
            StructField("probability", DoubleType()),
            StructField("is_anomaly", BooleanType()),
        ]
    )


class _Stream:
    """One step of one key's stream, shared by both Spark APIs: rows in, final rows out.
    ``time_kind``: ``datetime``, ``number`` or ``text``, the Spark type of the time
    column (timestamps that waited in a state come back as text)."""

    def __init__(self, models_path, by: list[str], time_column: str, columns: list[str], time_kind: str, end_column):
        self.models_path, self.by, self.time_column, self.columns = models_path, by, time_column, columns
        self.time_kind, self.end_column = time_kind, end_column

    def _typed(self, stamps: pd.Series) -> pd.Series:
        if self.time_kind == "datetime":
            return pd.to_datetime(stamps)
        return pd.to_numeric(stamps) if self.time_kind == "number" else stamps.astype(str)

    def step(self, key: tuple, frames: Iterator[pd.DataFrame], state: str | None, final: bool):
        """(output frame, new state or None) after this key's new rows (or its end)."""
        key = tuple(k.item() if hasattr(k, "item") else k for k in key)
        model = _stream_model(self.models_path, tuple(self.by), key)
        rows = [frame for frame in frames if len(frame)]
        batch = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=self.by)
        if self.end_column is not None and len(batch):  # marker rows end the series and carry no values
            ends = batch.pop(self.end_column).fillna(False).astype(bool)
            final, batch = final or bool(ends.any()), batch[~ends.to_numpy()]
        named = dict(zip(self.by, key))
        out, new_state = stream_series(batch, model, state, self.by, self.time_column, final=final, key=named)
        if out.empty:
            return pd.DataFrame(columns=self.columns), new_state
        out[self.time_column] = self._typed(out.pop("timestamp"))
        return out[self.columns], new_state


def _time_kind(spark_type) -> str:
    from pyspark.sql.types import DateType, NumericType, TimestampNTZType, TimestampType

    if isinstance(spark_type, (TimestampType, TimestampNTZType, DateType)):
        return "datetime"
    return "number" if isinstance(spark_type, NumericType) else "text"


def _tws_processor(stream: _Stream, flush_after_ms: int | None):
    """A StatefulProcessor (pyspark 4) around ``stream``: the state is a value state of
    one string; a processing-time timer ``flush_after_ms`` after a key's last rows ends
    its stream (None: no timers)."""
    from pyspark.sql.streaming import StatefulProcessor

    class TsaeStream(StatefulProcessor):
        def init(self, handle):
            self.handle = handle
            self.state = handle.getValueState(_STATE_FIELD, f"{_STATE_FIELD} string")

        def _state(self):
            return self.state.get()[0] if self.state.exists() else None

        def handleInputRows(self, key, rows, timerValues):
            out, new_state = stream.step(key, rows, self._state(), final=False)
            if flush_after_ms is not None:
                for timer in self.handle.listTimers():
                    self.handle.deleteTimer(timer)
            if new_state is None:  # an end marker: the series is over
                self.state.clear()
            else:
                self.state.update((new_state,))
                if flush_after_ms is not None:
                    self.handle.registerTimer(timerValues.getCurrentProcessingTimeInMs() + flush_after_ms)
            yield out

        def handleExpiredTimer(self, key, timerValues, expiredTimerInfo):
            out, _ = stream.step(key, iter(()), self._state(), final=True)
            self.state.clear()
            yield out

        def close(self):
            pass

    return TsaeStream()


def _v1_function(stream: _Stream, flush_after_ms: int | None):
    """applyInPandasWithState's function around ``stream`` (same behaviour as the
    StatefulProcessor: a processing-time timeout or an end marker ends a key's stream)."""

    def run(key, frames, group_state):
        state = group_state.get[0] if group_state.exists else None
        if group_state.hasTimedOut:
            out, new_state = stream.step(key, iter(()), state, final=True)
        else:
            out, new_state = stream.step(key, frames, state, final=False)
        if new_state is None:
            group_state.remove()
        else:
            group_state.update((new_state,))
            if flush_after_ms is not None:
                group_state.setTimeoutDuration(flush_after_ms)
        yield out

    return run


def stream(
    df,
    models_path: str,
    by: str | list[str],
    time_column: str,
    flush_after: float | None = 600.0,
    end_column: str | None = None,
    api: str = "auto",
):
    """Score a streaming DataFrame ``df`` key by key as rows arrive.

    ``models_path``: the models table of :func:`fit`, saved as Parquet. Each key's
    scorer state is Spark's group state (JSON text, a few kB: the last window of rows),
    checkpointed with the query, so a restart neither loses nor repeats rows. Rows of a
    key are scored in ``time_column`` order within each micro-batch, and batches are
    expected to arrive in time order per key. A key idle for ``flush_after`` seconds of
    processing time is ended: the scores of its last ``window - 1`` rows come out and its
    state is dropped (later rows start a new stream); None sets no timers (needed with
    ``Trigger.AvailableNow``, which Spark keeps running while processing-time timers are
    pending). ``end_column``: a boolean column whose true rows end their key's series
    the same way (the end of a bounded input; such rows carry no values). ``api``: ``tws``
    (``transformWithStateInPandas``, pyspark 4; needs the RocksDB state store, which
    :func:`session` sets), ``v1`` (``applyInPandasWithState``) or
    ``auto`` (tws where available).

    Returns a streaming DataFrame: the key columns, ``row`` (the row's number in its
    series), ``time_column``, ``score``, ``probability``, ``is_anomaly``; write it with
    ``writeStream`` in ``append`` mode.
    """
    by = _keys(by)
    schema = _stream_output_schema(df, by, time_column)
    kind = _time_kind(schema[time_column].dataType)
    runner = _Stream(models_path, by, time_column, schema.fieldNames(), kind, end_column)
    flush_ms = None if flush_after is None else int(flush_after * 1000)
    grouped = df.groupBy(*by)
    if api == "auto":
        api = "tws" if hasattr(grouped, "transformWithStateInPandas") else "v1"
    if api == "tws":
        return grouped.transformWithStateInPandas(
            statefulProcessor=_tws_processor(runner, flush_ms),
            outputStructType=schema,
            outputMode="Append",
            timeMode="None" if flush_ms is None else "ProcessingTime",
        )
    if api == "v1":
        return grouped.applyInPandasWithState(
            _v1_function(runner, flush_ms),
            outputStructType=schema,
            stateStructType=f"{_STATE_FIELD} string",
            outputMode="append",
            timeoutConf="NoTimeout" if flush_ms is None else "ProcessingTimeTimeout",
        )
    raise ConfigError(f"api must be auto, tws or v1, got {api!r}")
