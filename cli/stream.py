"""The loop behind `tsae stream`: CSV lines in, one JSON (or CSV) line out per scored row."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from tsae.atomic import Terminated
from tsae.errors import DataError
from tsae.filescore import check_channel_names, top_channels

#: Longest CSV field accepted in a stream row; a longer one is a bad row, not a crash.
MAX_FIELD_BYTES = 1 << 20


def _decode(raw: bytes) -> str:
    """A line of bytes as text: UTF-8, else Latin-1 (which never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _text_lines(binary: Iterable[bytes]) -> Iterator[str]:
    for raw in binary:
        yield _decode(raw)


def follow(fh, poll: float = 0.2, stop: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Yield complete lines of a growing binary file ``fh``, like ``tail -f`` (from its
    start), until ``stop()`` is true. A partial last line is held back until its newline
    arrives."""
    with fh:
        partial = b""
        while not stop():
            chunk = fh.readline()
            if not chunk:
                time.sleep(poll)
                continue
            partial += chunk
            if partial.endswith(b"\n"):
                yield _decode(partial)
                partial = b""


def open_lines(path: Path | None, follow_file: bool = False) -> Iterator[str]:
    """The input lines of ``tsae stream``: standard input, a file, or a growing file.
    Bytes that are not UTF-8 are read as Latin-1, so garbage becomes bad rows, not a crash."""
    if path is None:
        return _text_lines(sys.stdin.buffer)
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory, not a CSV file")
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return follow(fh) if follow_file else _read_lines(fh)


def _read_lines(fh) -> Iterator[str]:
    with fh:
        yield from _text_lines(fh)


def _sniff_sep(header_line: str) -> str:
    """The separator of a header line: the most frequent of , ; tab | (comma on a tie)."""
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best if counts[best] else ","


def run_stream(
    scorer,
    lines: Iterable[str],
    out: TextIO,
    warn: Callable[[str], None],
    fmt: str = "jsonl",
    only_anomalies: bool = False,
    on_error: str = "skip",
    sep: str | None = None,
    columns: list[str] | None = None,
    explain: int = 0,
) -> int:
    """Score CSV ``lines`` (a header, then one row per line) with ``scorer``
    (a StreamingScorer), writing one line per scored row to ``out``, flushed per line.

    Every input row gives exactly one output line, once its score is final (at once
    in ``causal`` mode, ``window - 1`` rows later in the other modes; the rows still
    waiting are written at the end of input). A bad row is reported through ``warn``
    with its row number; ``on_error="skip"`` goes on, ``"stop"`` returns 1. At the
    end of input, or on Ctrl-C / SIGTERM / SIGHUP, the rows still waiting for their
    score are flushed. ``sep``: the field separator (None: detected in the header).
    ``columns``: value columns the header must have (they must be the model's).
    Returns the exit status.
    """
    lines = iter(lines)
    csv.field_size_limit(MAX_FIELD_BYTES)
    status = 0
    try:
        header_line = next(lines, None)
        if header_line is None:
            raise DataError("stream input is empty (expected a CSV header line)")
        sep = sep or _sniff_sep(header_line)
        header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([header_line], delimiter=sep))]
        _check_header(header, scorer.channels, columns, sep)
        if fmt == "csv":
            _write(out, "timestamp,row,score,probability,is_anomaly,ready" + (",top_channels" * bool(explain)) + "\n")
        for number, fields in enumerate(_rows(lines, sep, warn)):
            if fields is None or not fields:
                if fields is None and on_error == "stop":
                    return 1
                continue
            if len(fields) != len(header):
                warn(f"row {number}: {len(fields)} fields, header has {len(header)}")
                if on_error == "stop":
                    return 1
                continue
            try:
                event = scorer.update(dict(zip(header, fields)))
            except DataError as exc:  # the scorer counts accepted rows; name the input row instead
                warn(f"row {number}: {re.sub(r'^stream row [0-9]+: ', '', str(exc))}")
                if on_error == "stop":
                    return 1
                continue
            if event.row is not None:  # a row whose score became final
                _emit(out, event.to_dict(), fmt, only_anomalies, explain)
    except (KeyboardInterrupt, Terminated):
        status = 0
    finally:
        if scorer.rows:
            for record in scorer.flush().to_dict("records"):
                ready = not math.isnan(record["score"])  # NaN: fewer rows than the window, no score exists
                record = {
                    "timestamp": record["timestamp"],
                    "score": record["score"] if ready else None,
                    "probability": record["probability"] if ready else None,
                    "is_anomaly": bool(record["is_anomaly"]),
                    "ready": ready,
                    "row": int(record["row"]),
                    "delay": 0,
                    "parts": {k[5:]: v for k, v in record.items() if k.startswith("part:")} or None,
                }
                _emit(out, record, fmt, only_anomalies, explain)
    return status


def _check_header(header: list[str], channels: list[str] | None, columns: list[str] | None, sep: str) -> None:
    if channels is None:  # a cold start: the model does not exist yet
        return
    if columns is not None:
        check_channel_names(columns, channels)
    missing = [c for c in channels if c not in header]
    if missing:
        raise DataError(
            f"stream header lacks column(s) {', '.join(missing)} the model was fitted on "
            f"(header read with separator {sep!r}: {', '.join(header)})"
        )


def _rows(lines: Iterator[str], sep: str, warn: Callable[[str], None]) -> Iterator[list[str] | None]:
    """Parse each line on its own (a bad line cannot derail the next ones); None for a
    line that is not CSV (an unclosed quote, a field over MAX_FIELD_BYTES, a NUL byte)."""
    for number, line in enumerate(lines):
        if "\x00" in line:
            warn(f"row {number}: contains a NUL byte (binary data?)")
            yield None
            continue
        try:
            yield next(csv.reader([line], delimiter=sep, strict=True), [])
        except csv.Error as exc:
            warn(f"row {number}: not a CSV row ({exc})")
            yield None


def _emit(out: TextIO, event: dict, fmt: str, only_anomalies: bool, explain: int = 0) -> None:
    if only_anomalies and not event["is_anomaly"]:
        return
    top = _top_channels(event.get("parts"), explain) if explain else None
    if fmt == "csv":
        score, probability = ("" if event[k] is None else repr(float(event[k])) for k in ("score", "probability"))
        stamp = "" if event["timestamp"] is None else str(event["timestamp"])
        row = "" if event["row"] is None else str(event["row"])
        _write(
            out,
            f"{stamp},{row},{score},{probability},{str(event['is_anomaly']).lower()},{str(event['ready']).lower()}"
            + (f",{top}" if explain else "")
            + "\n",
        )
        return
    keys = ("timestamp", "score", "probability", "is_anomaly", "ready", "row", "delay")
    line = {k: _plain(event.get(k)) for k in keys}
    if explain:
        line["top_channels"] = top
    _write(out, json.dumps(line) + "\n")


def _top_channels(parts: dict | None, k: int) -> str:
    """The ``k`` channels with the largest parts, as ``tsae score --explain`` writes them."""
    if not parts:
        return ""
    names = list(parts)
    values = np.array([np.nan if parts[n] is None else parts[n] for n in names], dtype=np.float64)
    return top_channels(values[None], names, k)[0]


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
