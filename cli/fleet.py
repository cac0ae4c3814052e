"""`tsae fit --by KEY` and `tsae score --by KEY`: one model per series of a fleet, with
the grouped layer (tsae.fleet) in local processes or on Spark (`--engine spark`)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from tsae.errors import ConfigError, DataError


def input_files(data: Path) -> list[str]:
    """The files DATA names: a file, a directory (its CSV/Parquet files, at any depth:
    a partitioned dataset) or a glob; DataError when it names none."""
    text = os.fspath(data)
    if os.path.isdir(text):
        found = [
            os.path.join(root, name)
            for root, _, names in os.walk(text)
            for name in names
            if name.lower().endswith((".csv", ".parquet", ".pq", ".tsv", ".txt")) and not name.startswith((".", "_"))
        ]
    else:
        found = glob.glob(text, recursive=True) if glob.has_magic(text) else [text] if os.path.exists(text) else []
    if not found:
        raise DataError(f"{text}: no CSV or Parquet files {'match' if glob.has_magic(text) else 'found there'}")
    return sorted(found)


def _partition_values(path: str, root: str) -> dict:
    """``key=value`` folders between ``root`` and the file (a Hive-partitioned dataset)."""
    parts = Path(os.path.relpath(path, root)).parent.parts if os.path.isdir(root) else ()
    return dict(part.split("=", 1) for part in parts if "=" in part)


def read_fleet(data: Path, by: list[str], sep: str | None):
    """Every row of every file DATA names, as one DataFrame (a key in a folder name such
    as ``series_id=pump7/`` becomes a column). DataError naming the file that lacks a key."""
    import pandas as pd

    from tsae.io import read_table

    frames = []
    for path in input_files(data):
        frame = read_table(path, sep=sep)
        for key, value in _partition_values(path, os.fspath(data)).items():
            if key not in frame.columns:
                frame[key] = value
        missing = [c for c in by if c not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the key column(s) {', '.join(missing)} (given with --by)")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _spark_frame(spark, data: Path, sep: str | None):
    """DATA as a Spark DataFrame, read by Spark itself (Parquet, or CSV with a header)."""
    files = input_files(data)
    if all(f.lower().endswith((".parquet", ".pq")) for f in files):
        return (
            spark.read.option("basePath", os.fspath(data)).parquet(*files)
            if os.path.isdir(data)
            else spark.read.parquet(*files)
        )
    return spark.read.csv(files, header=True, inferSchema=True, sep=sep or ",")


def read_models(path: Path, by: list[str]):
    """The models table `tsae fit --by` wrote; DataError if the file is not one."""
    from tsae.fleet import MODEL_COLUMNS
    from tsae.io import read_table

    models = read_table(path)
    missing = [c for c in [*by, *MODEL_COLUMNS] if c not in models.columns]
    if missing:
        raise DataError(f"{path} is not a models table of tsae fit --by: it lacks column(s) {', '.join(missing)}")
    return models


def fit_by(data: Path, by: list[str], params: dict, out: Path, jobs: int, engine: str, sep, timestamp, quiet: bool):
    """Fit one model per key; the models table (the caller writes it, as Parquet)."""
    if Path(out).suffix.lower() not in (".parquet", ".pq"):
        raise ConfigError(f"{out}: the models table holds model bytes: write it as .parquet")
    if engine == "spark":
        from tsae import spark as tspark

        session = tspark.session(jobs)
        models = tspark.fit(_spark_frame(session, data, sep), by, params, timestamp).toPandas()
        models = models.sort_values(by, kind="stable").reset_index(drop=True)
    else:
        from tsae.fleet import fit_fleet

        frame = read_fleet(data, by, sep)
        models = fit_fleet(frame, by, params, timestamp, jobs=jobs, on_error="record", progress=not quiet)
    return models


def score_by(data: Path, by: list[str], models_path: Path, out, jobs: int, engine: str, sep, timestamp, quiet: bool):
    """Score every key with its model from the models table; write the scores. Returns them."""
    from tsae.io import write_table

    if engine == "spark":
        from tsae import spark as tspark
        from tsae.frames import find_timestamp

        session = tspark.session(jobs)
        rows = _spark_frame(session, data, sep)
        time_column = find_timestamp(rows.limit(100).toPandas(), timestamp, os.fspath(data))
        models = session.read.parquet(os.fspath(models_path))
        scores = tspark.score(rows, models, by, time_column, on_error="record").toPandas()
        failed = scores["error"].dropna()
        if len(failed):
            raise DataError(failed.iloc[0] + (f" (and {len(failed) - 1} more series)" if len(failed) > 1 else ""))
        scores = scores.drop(columns="error")
        scores = scores.sort_values([*by, time_column] if time_column else by, kind="stable").reset_index(drop=True)
    else:
        from tsae.fleet import score_fleet

        models = read_models(models_path, by)
        scores = score_fleet(read_fleet(data, by, sep), models, by, timestamp, jobs=jobs, progress=not quiet)
    write_table(scores, out)
    return scores
