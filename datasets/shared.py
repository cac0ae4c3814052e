"""Loaders for the labelled public data in ``shared/datasets`` (NAB, UCR, SMD).

Layout (see ``shared/datasets/README.md``): one folder per collection, one CSV per
series (``timestamp``, value column(s), ``label``) and a ``meta.json`` whose
``series[id]`` is ``{"n", "train_end", "anomaly_ranges", "dims"}`` (ranges inclusive).

The folder is found through the ``TSAE_SHARED_DATASETS`` environment variable, else by
walking up from this file's directory to one that has ``shared/datasets`` in it (the
repository and ``shared/`` sit side by side).
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pandas as pd

from tsae.errors import DataError

__all__ = ["ENV_VAR", "available", "list_collections", "list_series", "load_series", "shared_root"]

ENV_VAR = "TSAE_SHARED_DATASETS"


def shared_root() -> Path:
    """The ``shared/datasets`` folder.

    ``$TSAE_SHARED_DATASETS`` if set (non-empty), else the first ``<dir>/shared/datasets``
    found walking up from this file's directory. Raises DataError if there is none.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise DataError(f"{ENV_VAR}={env!r} is not a directory")
        return root
    here = Path(__file__).resolve().parent
    found = _search_up(here)
    if found is not None:
        return found
    raise DataError(
        f"shared datasets not found: no 'shared/datasets' folder beside {here} or any of "
        f"its parents; set {ENV_VAR} to its path"
    )


def _search_up(start: Path) -> Path | None:
    """The first ``<dir>/shared/datasets`` folder for ``dir`` = start and its parents."""
    for d in (start, *start.parents):
        candidate = d / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return None


def available() -> bool:
    """Whether the shared data can be found (for skipping tests that need it)."""
    try:
        shared_root()
    except DataError:
        return False
    return True


def _read_meta(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object")
    return meta


def list_collections() -> list[str]:
    """Names of the collections with labelled series (folders whose meta.json has ``series``)."""
    root = shared_root()
    names = []
    for d in sorted(root.iterdir()):
        meta = d / "meta.json"
        if d.is_dir() and meta.is_file() and isinstance(_read_meta(meta).get("series"), dict):
            names.append(d.name)
    return names


def _collection_meta(collection: str) -> tuple[Path, dict]:
    names = list_collections()
    if collection not in names:
        raise DataError(f"unknown collection {collection!r} in {shared_root()}; choose one of: {', '.join(names)}")
    folder = shared_root() / collection
    return folder, _read_meta(folder / "meta.json")


def list_series(collection: str) -> list[str]:
    """Sorted ids of the series in ``collection`` ("nab", "ucr", "smd")."""
    _, meta = _collection_meta(collection)
    return sorted(meta["series"])


def load_series(collection: str, series_id: str) -> tuple[pd.DataFrame, dict]:
    """One series as ``(frame, meta)``.

    The frame has the CSV's columns in order: ``timestamp`` as in the file (ISO text
    for NAB, an integer index for UCR and SMD), the value column(s) as float64
    (``value``, or ``v0..v37`` for SMD) and ``label`` (0/1). ``meta`` is
    the series' entry of meta.json (``n``, ``train_end``, ``anomaly_ranges``, ``dims``)
    plus ``collection`` and ``id``.
    """
    folder, cmeta = _collection_meta(collection)
    series = cmeta["series"]
    if series_id not in series:
        close = difflib.get_close_matches(str(series_id), list(series), n=3)
        hint = f"; did you mean: {', '.join(close)}" if close else ""
        raise DataError(f"unknown series {series_id!r} in collection {collection!r}{hint}")
    path = folder / f"{series_id}.csv"
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in ("timestamp", "label") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    values = [c for c in df.columns if c not in ("timestamp", "label")]
    try:
        df[values] = df[values].astype("float64")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: value columns are not all numeric: {exc}") from exc
    entry = dict(series[series_id])
    if "n" in entry and len(df) != entry["n"]:
        raise DataError(f"{path}: {len(df)} rows, meta.json says n={entry['n']}")
    entry["collection"] = collection
    entry["id"] = series_id
    return df, entry
