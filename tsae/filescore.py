"""Score a CSV/Parquet file in chunks with bounded memory, writing rows as they are final."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError
from .events import events_table
from .frames import GapFiller
from .io import TableWriter, iter_table_chunks, read_table
from .monitor import Assessment, PendingStamps
from .runtime import torch_threads


def check_channel_names(columns: list[str], channels: list) -> None:
    """DataError unless ``columns`` names each of the model's ``channels`` once (any order)."""
    if set(columns) != set(channels) or len(columns) != len(channels):
        raise DataError(
            f"columns {', '.join(map(str, columns))} must name the model's channels: {', '.join(map(str, channels))}"
        )


def select_columns(frame: pd.DataFrame, detector, columns: list[str] | None, keep=(), source: str = "input"):
    """``frame`` reduced to the detector's timestamp, the value ``columns`` in the model's
    channel order, and the ``keep`` columns (e.g. the label); ``frame`` itself when
    ``columns`` is None. ``columns`` must name exactly the model's channels (in any
    order); other columns of the file are ignored."""
    if columns is None:
        return frame
    channels = list(detector.channels_)
    check_channel_names(columns, channels)
    absent = [c for c in channels if c not in frame.columns]
    if absent:
        raise DataError(
            f"{source} has no column(s) {', '.join(absent)} (columns: {', '.join(map(str, frame.columns))})"
        )
    stamp = [detector.timestamp_] if detector.timestamp_ in frame.columns else []
    return frame[stamp + channels + [c for c in keep if c in frame.columns and c not in channels]]


def iter_file_scores(
    detector, path, chunk_rows: int = 100_000, columns: list[str] | None = None, sep: str | None = None
):
    """Yield ``(assessment, timestamps or None)`` blocks for every row of ``path``, in
    order (``tsae.monitor.Assessment``: score, probability, flags before event rules).

    Reading is chunked; windows spanning chunk edges are handled by the shared monitor,
    so the concatenated results equal ``detector.assess`` on the whole file (bit for
    bit). Memory is bounded by the chunk and the window. ``columns``: as
    :func:`select_columns`; ``sep``: the CSV separator (None: detected).
    """
    source = str(path)
    gaps = GapFiller(detector.max_gap)
    monitor = detector._monitor()
    ts_col = detector.timestamp_
    pending = PendingStamps()  # timestamps of rows read but not yet scored
    stamped = False

    def block(result: Assessment):
        return result, pending.take(len(result)) if stamped else None

    for chunk in iter_table_chunks(path, chunk_rows, sep=sep):
        chunk = select_columns(chunk, detector, columns, source=source)
        values = detector._prepare(chunk, source, gaps, first_row=int(chunk.index[0]))
        if ts_col is not None and ts_col in chunk.columns:
            stamped = True
            pending.add(chunk[ts_col].to_numpy())
        with torch_threads(detector.threads):  # per block: the caller's setting holds between yields
            result = monitor.push(detector.scaler_.transform(values))
        if len(result):
            yield block(result)
    if monitor.n_seen < detector.window_:
        raise DataError(f"{source} has {monitor.n_seen} rows, fewer than the model's window of {detector.window_}")
    with torch_threads(detector.threads):
        result = monitor.flush()
    yield block(result)


def score_file(
    detector,
    path,
    out=None,
    chunk_rows: int = 100_000,
    events: bool = False,
    columns: list[str] | None = None,
    sep: str | None = None,
    explain: int = 0,
) -> dict:
    """Score every row of ``path`` with a fitted ``detector`` and write
    ``[timestamp,] score, probability, is_anomaly`` to ``out`` (CSV or Parquet by suffix; None or
    "-" for CSV on stdout), or with ``events=True`` one row per anomalous event
    (``tsae.events.events_table``). The output file is written atomically.

    Rows stream through in bounded memory, except when the detector has event rules
    or ``events`` is set: then the scores (8 bytes a row) are kept until the end,
    because an event's extent is known only once it is over.
    ``columns`` and ``sep`` as :func:`iter_file_scores`. ``explain=K`` adds a
    ``top_channels`` column: the K channels with the largest parts of the row's score
    (of the event's summed score with ``events``), as ``name=share`` with shares of the
    score (``Detector.explain``; the file is then also read whole, to hold its parts).
    Returns a summary dict (rows, flagged, events, cutoff).
    """
    ts_col = detector.timestamp_
    whole = events or detector.events_.active or explain > 0
    rows = flagged = 0
    kept: list[tuple[Assessment, np.ndarray | None]] = []
    n_events = None
    with TableWriter(out) as writer, torch_threads(detector.threads):
        for result, stamps in iter_file_scores(detector, path, chunk_rows, columns, sep):
            if whole:
                kept.append((result, stamps))
                continue
            writer.write(_rows(ts_col, stamps, result, result.is_anomaly))
            rows, flagged = rows + len(result), flagged + int(result.is_anomaly.sum())
        if whole:
            result = Assessment.concat([r for r, _ in kept])
            stamps = None if kept[0][1] is None else np.concatenate([t for _, t in kept])
            flags = detector.events_.apply(result.is_anomaly)
            rows, flagged = len(result), int(flags.sum())
            table = events_table(flags, result.score, stamps)
            n_events = len(table)
            out_table = table if events else _rows(ts_col, stamps, result, flags)
            if explain > 0:
                frame = select_columns(read_table(path, sep=sep), detector, columns, source=str(path))
                parts = detector.explain(detector._without_labels(frame), source=str(path)).to_numpy()
                if events:
                    parts = np.array(
                        [np.nansum(parts[s : e + 1], axis=0) for s, e in zip(table["start"], table["end"])]
                    )
                out_table["top_channels"] = top_channels(parts, list(detector.channels_), explain)
            writer.write(out_table)
    return {"rows": rows, "flagged": flagged, "events": n_events, "cutoff": detector.threshold_.cutoff_}


def top_channels(parts: np.ndarray, channels: list, k: int) -> list[str]:
    """Per row of ``parts`` (n, C): the ``k`` largest channels as ``name=share`` (share of
    the row's total, 2 decimals), ``;``-separated; empty where the row has no score."""
    out = []
    for row in parts.reshape(-1, len(channels)):
        total = np.nansum(row)
        if not np.isfinite(row).any() or total <= 0:
            out.append("")
            continue
        order = np.argsort(-np.nan_to_num(row, nan=-np.inf), kind="stable")[:k]
        out.append(";".join(f"{channels[j]}={row[j] / total:.2f}" for j in order))
    return out


def _rows(ts_col, stamps, result: Assessment, flags) -> pd.DataFrame:
    frame = pd.DataFrame({"score": result.score, "probability": result.probability, "is_anomaly": flags})
    if stamps is not None:
        frame.insert(0, ts_col, stamps)
    return frame
