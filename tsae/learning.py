"""Continual learning: the autoencoder keeps training on recent rows judged normal.

A model fitted once on a short history goes stale as a series drifts (NAB: a third of
the files have their median normal row above a cutoff fitted on the first 15 %).
:class:`ContinualLearner` keeps the last ``buffer`` scaled rows and, each time the
scorer has seen another ``every`` rows, takes ``steps`` Adam steps on ``batch``
corrupted windows drawn from them (the denoising objective of the first fit), among
the windows whose rows were all judged normal (calibrated probability below
``normal_below``; by default only rows at probability 1 are left out).

Deterministic: the draws of update ``u`` come from generators seeded by ``(seed, u)``,
so an update depends only on the rows, the judgements and the weights before it, and
a learner restored from :meth:`state_dict` continues bit-identically. The state holds
the weights and Adam's moments as base64 float32 (exact), the buffer and its
judgements.
"""

from __future__ import annotations

import base64

import numpy as np
import torch

from .corruption import Corruption
from .errors import ConfigError
from .header import check_dict, check_int
from .options import LearningSettings
from .training import gather_windows

__all__ = ["ContinualLearner"]

_STATE_KEYS = ("settings", "seen", "updates", "rows", "normal", "weights", "adam")


def pack(tensors) -> str:
    """Tensors -> one base64 text of their float32 values, in order (exact)."""
    flat = np.concatenate([t.detach().cpu().numpy().astype(np.float32).ravel() for t in tensors])
    return base64.b64encode(flat.astype("<f4").tobytes()).decode("ascii")


def unpack(text, like, field: str) -> list[torch.Tensor]:
    """Inverse of :func:`pack`: tensors shaped like ``like``; ConfigError naming ``field``
    unless ``text`` is base64 of exactly that many finite float32 values."""
    try:
        flat = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4")
    except (TypeError, ValueError):
        raise ConfigError(f"field '{field}' is not base64 text") from None
    sizes = [t.numel() for t in like]
    if flat.size != sum(sizes):
        raise ConfigError(f"field '{field}' holds {flat.size} values; the model has {sum(sizes)}")
    if not np.isfinite(flat).all():
        raise ConfigError(f"field '{field}' holds a value that is not finite")
    parts = np.split(flat.astype(np.float32), np.cumsum(sizes)[:-1])
    return [torch.from_numpy(p.copy()).reshape(t.shape).to(t.device) for p, t in zip(parts, like)]


class ContinualLearner:
    """Trains ``module`` in place on the recent rows it is shown (see the module docstring).

    ``observe(rows)`` adds scaled rows (k, C) to the buffer, not yet judged;
    ``judge(first, normal)`` records the verdicts of rows ``first..`` (0-based count of
    rows observed); ``train()`` takes one update's optimiser steps.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        window: int,
        n_channels: int,
        settings: LearningSettings,
        corruption: Corruption,
        seed: int,
        device: torch.device,
    ):
        self.module, self.window, self.settings = module, window, settings
        self.corruption, self.seed, self.device = corruption, int(seed), device
        self.rows = np.zeros((settings.buffer, n_channels), dtype=np.float32)  # ring buffer of scaled rows
        self.normal = np.zeros(settings.buffer, dtype=bool)  # their judgements
        self.seen = 0  # rows observed so far (row r sits at r % buffer)
        self.updates = 0  # train() calls so far
        self.optim = torch.optim.Adam(module.parameters(), lr=settings.lr)

    def observe(self, rows: np.ndarray) -> None:
        """Add scaled rows (k, C) (not judged yet)."""
        rows = rows[-self.settings.buffer :]
        at = (self.seen + np.arange(len(rows))) % self.settings.buffer
        self.rows[at], self.normal[at] = rows, False
        self.seen += len(rows)

    def judge(self, first: int, normal: np.ndarray) -> None:
        """Verdicts (True: normal) of rows ``first .. first + len(normal) - 1``; rows no
        longer in the buffer are ignored."""
        rows = first + np.arange(len(normal))
        keep = rows >= self.seen - self.settings.buffer
        self.normal[rows[keep] % self.settings.buffer] = normal[keep]

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """The buffered rows and judgements, oldest first: (m, C), (m,)."""
        m = min(self.seen, self.settings.buffer)
        at = (self.seen - m + np.arange(m)) % self.settings.buffer
        return self.rows[at], self.normal[at]

    def train(self) -> int:
        """One update: ``steps`` Adam steps on windows of rows judged normal. Returns the
        number of eligible windows (0: nothing learned this time)."""
        s, w = self.settings, self.window
        rows, normal = self._ordered()
        self.updates += 1
        if len(rows) < w:
            return 0
        bad = np.concatenate([[0], np.cumsum(~normal)])
        starts = np.flatnonzero(bad[w:] - bad[:-w] == 0)  # windows of normal rows only
        if len(starts) == 0:
            return 0
        rng = np.random.default_rng([self.seed, self.updates])
        gen = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + self.updates)
        data = torch.from_numpy(rows).to(self.device)  # (m, C)
        self.module.train()
        with torch.enable_grad():
            for _ in range(s.steps):
                picked = torch.as_tensor(rng.choice(starts, size=s.batch), device=self.device)
                clean = gather_windows(data, picked, w)  # (batch, W, C)
                loss = torch.nn.functional.mse_loss(self.module(self.corruption(clean, gen)), clean)
                self.optim.zero_grad(set_to_none=True)
                loss.backward()
                self.optim.step()
        self.module.eval()
        return len(starts)

    # ---------------------------------------------------------------- state
    def _adam(self) -> dict | None:
        params = list(self.module.parameters())
        states = [self.optim.state.get(p) for p in params]
        if not states or any(not st for st in states):
            return None
        return {
            "step": int(states[0]["step"]),
            "exp_avg": pack(st["exp_avg"] for st in states),
            "exp_avg_sq": pack(st["exp_avg_sq"] for st in states),
        }

    def state_dict(self) -> dict:
        """JSON-ready state: settings, counters, the buffer and its judgements, the
        weights and Adam's moments (base64 float32)."""
        rows, normal = self._ordered()
        return {
            "settings": self.settings.to_dict(),
            "seen": self.seen,
            "updates": self.updates,
            "rows": rows.tolist(),
            "normal": normal.tolist(),
            "weights": pack(self.module.state_dict().values()),
            "adam": self._adam(),
        }

    def load_state_dict(self, state) -> None:
        """Restore :meth:`state_dict` output, checked whole first (ConfigError naming the
        field; the learner is left as it was)."""
        check_dict(state, "learning", _STATE_KEYS)
        if state["settings"] != self.settings.to_dict():
            raise ConfigError(
                f"field 'learning.settings' is {state['settings']!r:.120}; this stream learns with "
                f"{self.settings.to_dict()!r:.120}"
            )
        seen, updates = check_int(state["seen"], "learning.seen"), check_int(state["updates"], "learning.updates")
        m = min(seen, self.settings.buffer)
        try:
            rows = np.asarray(state["rows"], dtype=np.float32).reshape(m, self.rows.shape[1])
        except (TypeError, ValueError):
            raise ConfigError(
                f"field 'learning.rows' must hold the last {m} rows of {self.rows.shape[1]} values"
            ) from None
        normal = state["normal"]
        if not isinstance(normal, list) or len(normal) != m or not all(isinstance(v, bool) for v in normal):
            raise ConfigError(f"field 'learning.normal' must hold {m} true/false judgements")
        if not np.isfinite(rows).all():
            raise ConfigError("field 'learning.rows' holds a value that is not finite")
        tensors = list(self.module.state_dict().values())
        weights = unpack(state["weights"], tensors, "learning.weights")
        adam = state["adam"]
        params = list(self.module.parameters())
        if adam is not None:
            check_dict(adam, "learning.adam", ("step", "exp_avg", "exp_avg_sq"))
            step = check_int(adam["step"], "learning.adam.step")
            moments = (
                unpack(adam["exp_avg"], params, "learning.adam.exp_avg"),
                unpack(adam["exp_avg_sq"], params, "learning.adam.exp_avg_sq"),
            )
            if any((v < 0).any() for v in moments[1]):
                raise ConfigError("field 'learning.adam.exp_avg_sq' holds a negative value")
        # everything checked: restore
        self.module.load_state_dict(dict(zip(self.module.state_dict().keys(), weights)))
        self.optim = torch.optim.Adam(self.module.parameters(), lr=self.settings.lr)
        if adam is not None:
            for p, m1, m2 in zip(params, *moments):
                self.optim.state[p] = {"step": torch.tensor(float(step)), "exp_avg": m1, "exp_avg_sq": m2}
        self.seen, self.updates = seen, updates
        self.rows[:], self.normal[:] = 0, False
        at = (seen - m + np.arange(m)) % self.settings.buffer
        self.rows[at], self.normal[at] = rows, np.asarray(normal, dtype=bool)
