"""Event rules on top of any threshold, and flags -> anomalous events."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .errors import ConfigError
from .header import check_dict, check_int

# Smallest value of each rule.
_LOWEST = {"merge_gap": 0, "min_length": 1, "cooldown": 0}


def runs(flags: np.ndarray) -> np.ndarray:
    """Start and end (inclusive) of every run of True in ``flags``: (k, 2) int array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(flags, dtype=np.int8), [0]])))
    return np.stack([edges[::2], edges[1::2] - 1], axis=1)


class CoolDown:
    """The ``cooldown`` rule, row by row: a run of flags is kept unless it starts within
    ``rows`` rows of the last kept flag (one alarm per incident). ``apply`` takes the
    flags of consecutive rows in blocks of any size (``first``: the row number of the
    block's first row); ``last`` and ``previous`` carry over between blocks, so the
    stream and the batch path keep the same flags."""

    def __init__(self, rows: int):
        self.rows = rows
        self.last: int | None = None  # row of the last kept flag
        self.previous = (False, False)  # (flagged, kept) for the row before the block

    def apply(self, flagged: np.ndarray, first: int = 0) -> np.ndarray:
        """The flags that remain (a new array)."""
        flagged = np.asarray(flagged, dtype=bool)
        if not self.rows or not flagged.any():
            if len(flagged):
                self.previous = (bool(flagged[-1]), bool(flagged[-1]))
            return flagged.copy()
        kept = np.zeros(len(flagged), dtype=bool)
        prev_flag, prev_kept = self.previous
        for i, flag in enumerate(flagged):
            if flag:
                keep = prev_kept if prev_flag else (self.last is None or first + i - self.last > self.rows)
                if keep:
                    self.last = first + i
                kept[i] = keep
            prev_flag, prev_kept = bool(flag), bool(kept[i])
        self.previous = (prev_flag, prev_kept)
        return kept


@dataclass
class EventRules:
    """Post-processing of point flags, applied in this order:

    - ``merge_gap``: events separated by at most this many unflagged points become one;
    - ``min_length``: events shorter than this many points are dropped;
    - ``cooldown``: after an event, new events starting within this many points of its
      end are suppressed (one alarm per incident).

    The defaults (0, 1, 0) change nothing.
    """

    merge_gap: int = 0
    min_length: int = 1
    cooldown: int = 0

    def __post_init__(self):
        for key, low in _LOWEST.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")

    @property
    def active(self) -> bool:
        return (self.merge_gap, self.min_length, self.cooldown) != (0, 1, 0)

    def apply(self, flags: np.ndarray) -> np.ndarray:
        """New boolean flags after the rules; ``flags`` is not modified."""
        flags = np.asarray(flags, dtype=bool)
        if not self.active:
            return flags.copy()
        spans = runs(flags)
        if self.merge_gap and len(spans) > 1:
            gaps = spans[1:, 0] - spans[:-1, 1] - 1
            new = np.concatenate([[True], gaps > self.merge_gap])  # does span i start a new event?
            spans = np.stack([spans[new, 0], np.maximum.reduceat(spans[:, 1], np.flatnonzero(new))], axis=1)
        spans = spans[spans[:, 1] - spans[:, 0] + 1 >= self.min_length]
        out = np.zeros_like(flags)
        for start, end in spans:
            out[start : end + 1] = True
        return CoolDown(self.cooldown).apply(out)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EventRules:
        """Rebuild rules from :meth:`to_dict` output (the model header's ``events``).

        Raises
        ------
        ConfigError
            Naming the field (e.g. ``events.merge_gap``): a missing or unknown rule,
            or a value that is not an integer at least the rule's smallest value.
        """
        check_dict(d, "events", tuple(_LOWEST))
        return cls(**{key: check_int(d[key], f"events.{key}", low) for key, low in _LOWEST.items()})


def events_table(flags: np.ndarray, scores: np.ndarray, timestamps=None) -> pd.DataFrame:
    """One row per anomalous event: ``start``, ``end`` (row numbers, inclusive),
    ``length``, ``peak_score`` and ``peak_row`` (plus ``start_time``, ``end_time``,
    ``peak_time`` when ``timestamps`` are given)."""
    spans = runs(flags)
    scores = np.asarray(scores, dtype=np.float64)
    peaks = np.array([s + int(np.nanargmax(scores[s : e + 1])) for s, e in spans], dtype=np.int64)
    table = pd.DataFrame(
        {
            "start": spans[:, 0],
            "end": spans[:, 1],
            "length": spans[:, 1] - spans[:, 0] + 1,
            "peak_score": scores[peaks] if len(peaks) else np.zeros(0),
            "peak_row": peaks,
        }
    )
    if timestamps is not None:
        ts = np.asarray(timestamps)
        for col, idx in (("start_time", spans[:, 0]), ("end_time", spans[:, 1]), ("peak_time", peaks)):
            table[col] = ts[idx] if len(idx) else ts[:0]
    return table
