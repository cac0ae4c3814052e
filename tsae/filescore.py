"""Score a CSV/Parquet file in chunks with bounded memory, writing rows as they are final."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError
from .frames import GapFiller
from .io import TableWriter, iter_table_chunks


def score_file(detector, path, out=None, chunk_rows: int = 100_000) -> dict:
    """Score every row of ``path`` with a fitted ``detector`` and write
    ``[timestamp,] score, is_anomaly`` to ``out`` (CSV or Parquet by suffix; None or
    "-" for CSV on stdout). Reading is chunked; windows spanning chunk edges are
    handled by the shared point scorer, so the scores equal ``detector.score`` on the
    whole file. The output file is written atomically. Returns a summary dict
    (rows, flagged, cutoff).
    """
    source = str(path)
    gaps = GapFiller(detector.max_gap)
    scorer = detector.point_scorer()
    ts_col = detector.timestamp_
    pending: list[pd.Series] = []  # timestamps of rows read but not yet scored
    rows = flagged = 0
    with TableWriter(out) as writer:

        def emit(scores: np.ndarray) -> None:
            nonlocal rows, flagged, pending
            if len(scores) == 0:
                return
            frame = pd.DataFrame({"score": scores, "is_anomaly": detector.threshold_(scores)})
            if pending:
                stamps = pd.concat(pending, ignore_index=True)
                frame.insert(0, ts_col, stamps.iloc[: len(scores)].to_numpy())
                pending = [stamps.iloc[len(scores):]]
            writer.write(frame)
            rows += len(frame)
            flagged += int(frame["is_anomaly"].sum())

        for chunk in iter_table_chunks(path, chunk_rows):
            values = detector.prepare(chunk, source, gaps, first_row=int(chunk.index[0]))
            if ts_col is not None and ts_col in chunk.columns:
                pending.append(chunk[ts_col])
            emit(scorer.push(detector.scaler_.transform(values)))
        if scorer.n_seen < detector.window_:
            raise DataError(f"{source} has {scorer.n_seen} rows, fewer than the model's window of {detector.window_}")
        emit(scorer.flush())
    return {"rows": rows, "flagged": flagged, "cutoff": detector.threshold_.cutoff_}
