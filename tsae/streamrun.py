"""The loop behind `tsae stream`: CSV lines in, one JSON (or CSV) line out per row."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from typing import Callable, Iterable, Iterator, TextIO

from .errors import DataError


def follow(path, poll: float = 0.2, stop: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Yield complete lines of a growing file, like ``tail -f`` (from its start), until
    ``stop()`` is true. A partial last line is held back until its newline arrives."""
    try:
        fh = open(path, newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        partial = ""
        while not stop():
            chunk = fh.readline()
            if not chunk:
                time.sleep(poll)
                continue
            partial += chunk
            if partial.endswith("\n"):
                yield partial
                partial = ""


def run_stream(scorer, lines: Iterable[str], out: TextIO, warn: Callable[[str], None], fmt: str = "jsonl",
               only_anomalies: bool = False, on_error: str = "skip") -> int:
    """Score CSV ``lines`` (a header, then one row per line) with ``scorer``
    (a StreamingScorer), writing one line per scored row to ``out``, flushed per line.

    A bad row is reported through ``warn`` with its row number; ``on_error="skip"``
    goes on, ``"stop"`` returns 1. At the end of input (or KeyboardInterrupt, which
    SIGINT/SIGTERM raise), the rows still waiting for their score are flushed.
    Returns the exit status.
    """
    reader = csv.reader(lines)
    status = 0
    try:
        header = next(reader, None)
        if header is None:
            raise DataError("stream input is empty (expected a CSV header line)")
        header = [h.strip() for h in header]
        missing = [c for c in scorer.channels if c not in header]
        if missing:
            raise DataError(f"stream header lacks column(s) {', '.join(missing)} the model was fitted on "
                            f"(header: {', '.join(header)})")
        if fmt == "csv":
            _write(out, "timestamp,row,score,is_anomaly,ready\n")
        for number, fields in enumerate(reader):
            if not fields:
                continue
            if len(fields) != len(header):
                warn(f"row {number}: {len(fields)} fields, header has {len(header)}")
                if on_error == "stop":
                    return 1
                continue
            record = dict(zip(header, fields))
            try:
                event = scorer.update(record)
            except DataError as exc:  # the scorer counts accepted rows; name the input row instead
                warn(f"row {number}: {re.sub(r'^stream row [0-9]+: ', '', str(exc))}")
                if on_error == "stop":
                    return 1
                continue
            _emit(out, event.to_dict(), fmt, only_anomalies)
    except KeyboardInterrupt:
        status = 0
    finally:
        if scorer.rows:
            for record in scorer.flush().to_dict("records"):
                ready = not math.isnan(record["score"])  # NaN: fewer rows than the window, no score exists
                record = {"timestamp": record["timestamp"], "score": record["score"] if ready else None,
                          "is_anomaly": bool(record["is_anomaly"]), "ready": ready, "row": int(record["row"]),
                          "delay": 0}
                _emit(out, record, fmt, only_anomalies)
    return status


def _emit(out: TextIO, event: dict, fmt: str, only_anomalies: bool) -> None:
    if only_anomalies and not event["is_anomaly"]:
        return
    if fmt == "csv":
        score = "" if event["score"] is None else repr(float(event["score"]))
        stamp = "" if event["timestamp"] is None else str(event["timestamp"])
        row = "" if event["row"] is None else str(event["row"])
        _write(out, f"{stamp},{row},{score},{str(event['is_anomaly']).lower()},{str(event['ready']).lower()}\n")
        return
    keys = ("timestamp", "score", "is_anomaly", "ready", "row", "delay")
    _write(out, json.dumps({k: _plain(event.get(k)) for k in keys}) + "\n")


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _write(out: TextIO, text: str) -> None:
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        os._exit(0)
