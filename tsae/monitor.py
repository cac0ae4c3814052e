"""The one place where scaled rows become scores, probabilities and flags.

Batch scoring (``Detector.score``/``assess``), chunked files (``tsae.filescore``) and
the stream (``tsae.streaming``) all push their rows through a :class:`Monitor`, so
they cannot disagree:

1. the point scorer (``tsae.scoring.PointScorer``) gives each row's raw score once it
   is final;
2. the calibrator (``tsae.calibration.ScoreCalibrator``), started from the state the
   model file holds (its validation scores), turns raw scores into the anomaly
   probability, causally;
3. the threshold flags the raw score (or, for ``probability:LEVEL``, the probability),
   and a ``cooldown`` event rule is applied as rows arrive (a new alarm within
   ``cooldown`` rows of the end of the last one is silenced);
4. with continual learning (``tsae.learning``), the rows are added to the learner's
   buffer, each final score's probability judges its row, and every ``every`` rows
   the learner updates the model (a copy: the detector itself is not changed). Blocks
   are split at those row counts, so any split of the rows gives the same result.

Memory is bounded by the window, the learner's buffer and the block being pushed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .calibration import ScoreCalibrator
from .corruption import Corruption
from .errors import ConfigError
from .events import CoolDown
from .learning import ContinualLearner
from .options import LearningSettings
from .scoring import MIN_BATCH, PointScorer

__all__ = ["Assessment", "Monitor", "PendingStamps"]


@dataclass
class Assessment:
    """Rows whose scores became final: raw ``score``, calibrated ``probability`` in
    [0, 1] (NaN where the score is NaN) and ``is_anomaly``; ``silenced`` marks rows the
    cool-down kept from being flagged; ``parts`` (n, C), when asked for, each channel's
    part of the score (they sum to it)."""

    score: np.ndarray
    probability: np.ndarray
    is_anomaly: np.ndarray
    silenced: np.ndarray
    parts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def concat(cls, pieces: list[Assessment]) -> Assessment:
        if not pieces:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
        return cls(
            *(
                None if getattr(pieces[0], f) is None else np.concatenate([getattr(p, f) for p in pieces])
                for f in cls.__dataclass_fields__
            )
        )


class PendingStamps:
    """The timestamps of rows whose scores are not final yet, oldest first: ``add`` them
    as rows arrive (one, or a block as an array keeping its dtype), ``take(n)`` as ``n``
    scores become final. Used by chunked file scoring and the stream alike."""

    def __init__(self, values=()):
        self._parts: list[np.ndarray] = []
        self._len = 0
        self.add(values)

    def __len__(self) -> int:
        return self._len

    def add(self, values) -> None:
        """Append timestamps: an array (its dtype kept) or any sequence (kept as objects)."""
        part = values if isinstance(values, np.ndarray) else np.array(list(values) + [None], dtype=object)[:-1]
        if len(part):
            self._parts.append(part)
            self._len += len(part)

    def take(self, n: int) -> np.ndarray:
        """Remove and return the ``n`` oldest timestamps."""
        out = []
        while n > 0:
            head = self._parts[0]
            if len(head) <= n:
                out.append(self._parts.pop(0))
            else:
                out.append(head[:n])
                self._parts[0] = head[n:]
            self._len -= len(out[-1])
            n -= len(out[-1])
        return out[0] if len(out) == 1 else np.concatenate(out) if out else np.empty(0, dtype=object)

    def tolist(self) -> list:
        return [value for part in self._parts for value in part.tolist()]


class Monitor:
    """Scaled rows in, :class:`Assessment` out, block by block (see the module docstring).

    Parameters
    ----------
    detector : Detector
        A fitted detector.
    min_batch : int
        Forward passes padded to this many windows (``tsae.scoring.MIN_BATCH``: scores
        independent of how the rows are split; 1: lowest latency for one row at a time,
        float32 rounding differences of about 1e-7). With learning on, every path
        computes one window per forward pass, as a stream does row by row, so the
        scores, the judgements and hence the updates are bit-identical however the rows
        are split (batch scoring then costs about what streaming does).
    learning : str, dict, LearningSettings or None
        ``"model"`` (default): the detector's ``learning`` setting; otherwise as
        ``LearningSettings.parse`` (``"off"``, ``"on"``, ``"every=50,steps=2"``...).
    parts : bool
        Also each channel's part of every score (``Assessment.parts``), from the same
        forward passes, carried through blocks (and the state) like the scores.
    """

    def __init__(self, detector, min_batch: int = MIN_BATCH, learning="model", parts: bool = False):
        detector._check_fitted()
        settings = (
            detector.learning_
            if isinstance(learning, str) and learning == "model"
            else LearningSettings.parse(learning)
        )
        module = detector.module_
        batch_size = 512
        if settings is not None:
            module, min_batch, batch_size = copy.deepcopy(module), 1, 1
        self.learning = settings
        self.scorer = PointScorer(
            module,
            detector.window_,
            detector.n_features_in_,
            detector.device_,
            detector.score_mode,
            min_batch,
            detector.channel_weights_,
            batch_size,
            parts,
            detector.stride_,
            detector.neighbors_,
        )
        self.calibrator = ScoreCalibrator.from_state(detector.calibration_)
        self.threshold = detector.threshold_
        rules = detector.events_
        # Only a cool-down can be applied as rows arrive; merging and minimum lengths need
        # the rows after an event (the batch path applies them on the whole series).
        self.cooldown = rules.cooldown if (rules.merge_gap, rules.min_length) == (0, 1) else 0
        self.alarms = CoolDown(self.cooldown)
        self.learner = (
            None
            if settings is None
            else ContinualLearner(
                module,
                detector.window_,
                detector.n_features_in_,
                settings,
                Corruption.parse(detector.noise),
                detector.seed,
                detector.device_,
            )
        )

    @property
    def delay(self) -> int:
        """Rows between a row's arrival and its final score (``PointScorer.delay``)."""
        return self.scorer.delay

    @property
    def n_seen(self) -> int:
        return self.scorer.n_seen

    @property
    def n_emitted(self) -> int:
        return self.scorer.n_emitted

    def push(self, block: np.ndarray, min_batch: int | None = None) -> Assessment:
        """Add scaled rows (k, C); return the assessments of the rows that became final
        (``min_batch``: see ``PointScorer.push``)."""
        if self.learner is None:
            return self._assess(self.scorer.push(block, min_batch))
        every, parts = self.learning.every, []
        while len(block):
            take = every - self.scorer.n_seen % every  # rows up to the next update
            piece, block = block[:take], block[take:]
            self.learner.observe(piece)
            parts.append(self._assess(self.scorer.push(piece, min_batch)))
            if self.scorer.n_seen % every == 0:
                self.learner.train()
        return Assessment.concat(parts)

    def flush(self) -> Assessment:
        """End of series: the assessments of the rows still waiting for their score."""
        return self._assess(self.scorer.flush())

    def _assess(self, raw: np.ndarray) -> Assessment:
        first = self.scorer.n_emitted - len(raw)
        probability = self.calibrator.update_many(raw)
        on_probability = getattr(self.threshold, "on_probability", False)
        flagged = self.threshold(probability if on_probability else raw)
        kept = self.alarms.apply(flagged, first)
        silenced = flagged & ~kept
        if self.learner is not None:
            with np.errstate(invalid="ignore"):
                self.learner.judge(first, probability < self.learning.normal_below)  # NaN: not judged normal
        parts = self.scorer.last_parts if self.scorer.parts else None
        return Assessment(raw, probability, kept, silenced, parts)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """JSON-ready state: the point scorer's, the calibrator's, the cool-down's and
        (with learning) the learner's."""
        return {
            "scorer": self.scorer.state_dict(),
            "calibration": self.calibrator.state_dict(),
            "alarm": {"last": self.alarms.last, "previous": list(self.alarms.previous)},
            "learning": None if self.learner is None else self.learner.state_dict(),
        }

    def check_extra_state(self, state: dict) -> None:
        """ConfigError unless the calibration, alarm and learning parts of ``state`` fit
        (the scorer's part is checked by the caller, which knows the rows)."""
        ScoreCalibrator(self.calibrator.settings, state=state["calibration"])
        alarm = state["alarm"]
        if (
            not isinstance(alarm, dict)
            or set(alarm) != {"last", "previous"}
            or not (alarm["last"] is None or (type(alarm["last"]) is int and alarm["last"] >= 0))
            or not (
                isinstance(alarm["previous"], list)
                and len(alarm["previous"]) == 2
                and all(isinstance(v, bool) for v in alarm["previous"])
            )
        ):
            raise ConfigError("field 'alarm' must be {last: row or null, previous: [flagged, kept]}")
        learning = state["learning"]
        if isinstance(learning, dict) and learning.get("seen") != state["scorer"]["n_seen"]:
            raise ConfigError(
                f"is inconsistent: the learner saw {learning.get('seen')!r:.20} rows, the scorer "
                f"{state['scorer']['n_seen']}"
            )
        if (learning is None) != (self.learner is None):
            raise ConfigError(
                "field 'learning' does not match this stream: "
                + (
                    "it learns, the state has no learner"
                    if self.learner
                    else "the state is of a learning stream; this one does not learn"
                )
            )

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output (checked by the caller and
        :meth:`check_extra_state`; the learner checks its own part first)."""
        if self.learner is not None:
            self.learner.load_state_dict(state["learning"])
        self.scorer.load_state_dict(state["scorer"])
        self.calibrator.load_state_dict(state["calibration"])
        self.alarms.last = state["alarm"]["last"]
        self.alarms.previous = tuple(state["alarm"]["previous"])
