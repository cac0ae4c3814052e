"""Distance of a window to its nearest training window: the matrix profile's discord
idea (Yeh et al. 2016) inside tsae, added to the reconstruction error.

An autoencoder reconstructs some anomalies well: a shape that is normal elsewhere, a
beat slightly off. A discord detector asks instead how far a window is from every
window seen in training. tsae keeps a compact reference of the training windows and
adds each scored window's distance to its nearest one to the window's error:

- **Features** of a window of W rows: its rows averaged in ``BLOCKS`` blocks of
  ``factor = W // BLOCKS`` rows (piecewise aggregate approximation; the last
  ``W % factor`` rows are left out), each channel then z-normalised over its blocks:
  the window's shape, not its level (the level is the reconstruction's part).
- **Reference**: the features of the training windows starting every ``factor`` rows
  (a larger step when there would be more than :data:`MAX_REFERENCE` of them or more
  than :data:`MAX_VALUES` numbers): stored in the model file (at most 1 MB).
- **Distance**: Euclidean, between features, to the nearest reference window, divided
  by ``level``: the mean distance of training windows to the nearest reference window
  that does not overlap them (a window's own copy would give 0), so about 1 on normal
  data, like the reconstruction error. When the training part is too short for windows
  that do not overlap, the mean distance of the validation windows is used instead.
- **Score** of a window: ``(reconstruction error + weight * distance) / (1 + weight)``
  (``Detector(discord=weight)``; 0 turns it off).

``benchmarks/results/accuracy.md`` measures what it adds. Each window's distance depends
on that window alone, so batch, chunked and streamed scores stay the same.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .windows import sliding_windows

#: Blocks a window is averaged into (its features: BLOCKS x channels numbers).
BLOCKS = 16
#: Most reference windows, and most numbers in the reference (1 MB of float32). Each
#: scored window is compared with every reference number once: with many channels the
#: second bound binds (SMD's 33 channels: 486 windows; 1 channel: 16,384). On SMD 4M
#: numbers (6,314 windows) scored 3x slower for VUS-PR 0.526 vs 0.525 (README).
MAX_REFERENCE = 16384
MAX_VALUES = 1 << 18
#: Smallest standard deviation a channel's blocks are divided by (scaled units): a flat
#: stretch is compared as flat, not as amplified noise.
STD_FLOOR = 1e-3
#: Training windows the level is measured on (evenly spaced), and validation windows
#: when it falls back on them (a strided sample beyond).
LEVEL_WINDOWS = 2048
#: Reference windows compared with a batch at a time (bounds the (batch, R) distances).
REFERENCE_CHUNK = 4096


def block_factor(window: int) -> int:
    """Rows per block for ``window``: ``window // BLOCKS``, at least 1."""
    return max(1, window // BLOCKS)


def features(windows: torch.Tensor, factor: int) -> torch.Tensor:
    """Windows (b, W, C) -> z-normalised block means (b, W // factor, C)."""
    b, w, c = windows.shape
    m = w // factor
    x = windows[:, : m * factor].reshape(b, m, factor, c).mean(dim=2)  # (b, m, C)
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.std(dim=1, keepdim=True).clamp_min(STD_FLOOR)


class NearestWindows:
    """The reference of training windows and the distance of new windows to it.

    Parameters
    ----------
    reference : torch.Tensor
        Features of the training windows (R, m, C) float32.
    factor : int
        Rows per block.
    weight : float
        Weight of the distance in a window's score (> 0).
    level : float
        Typical distance of a normal window (see :meth:`fit`): distances are divided by it.
    """

    def __init__(self, reference: torch.Tensor, factor: int, weight: float, level: float = 1.0):
        self.reference, self.factor, self.weight, self.level = reference, int(factor), float(weight), float(level)
        self._norms = reference.flatten(1).square().sum(dim=1)  # (R,): |r|^2 of every reference window

    @classmethod
    def fit(cls, train: np.ndarray, val: np.ndarray, window: int, weight: float, device: torch.device):
        """The reference of ``train`` (n, C) scaled rows (n >= window) and its level: the
        mean distance of up to :data:`LEVEL_WINDOWS` evenly spaced training windows to
        the nearest reference window that starts at least ``window`` rows away, or, if
        no training window has one, the mean distance of the windows of ``val`` (m, C)
        scaled rows (m >= window)."""
        factor = block_factor(window)
        n_windows, width = len(train) - window + 1, (window // factor) * train.shape[1]
        step = max(factor, math.ceil(n_windows / min(MAX_REFERENCE, max(1, MAX_VALUES // width))))
        train = train.astype(np.float32, copy=False)
        near = cls(_features_of(sliding_windows(train, window, step), factor).to(device), factor, weight)
        starts = np.unique(np.linspace(0, n_windows - 1, min(n_windows, LEVEL_WINDOWS)).round().astype(np.int64))
        with torch.inference_mode():
            level = near._mean_apart(sliding_windows(train, window), starts, step, window)
            if level is None:
                windows = sliding_windows(val.astype(np.float32, copy=False), window)  # (k, W, C)
                windows = windows[:: max(1, -(-len(windows) // LEVEL_WINDOWS))]
                level = float(sum(near.distances(_tensor(part, device)).sum() for part in _batches(windows)))
                level /= len(windows)
        near.level = max(level, 1e-12)
        return near

    def _mean_apart(self, windows: np.ndarray, starts: np.ndarray, step: int, window: int) -> float | None:
        """Mean distance of the training ``windows`` (n, W, C) starting at rows ``starts``
        (k,) to the nearest reference window (the i-th starts at ``i * step``) that starts at
        least ``window`` rows away; None if none of them has one."""
        ref = self.reference.flatten(1)  # (R, m * C)
        ref_starts = torch.arange(len(ref), device=ref.device) * step  # (R,)
        total, count = 0.0, 0
        for i in range(0, len(starts), 512):
            s = starts[i : i + 512]
            q = features(_tensor(windows[s], ref.device), self.factor).flatten(1)  # (b, m * C)
            s = torch.from_numpy(s).to(ref.device)  # (b,)
            d2 = torch.cdist(q, ref).square()  # (b, R)
            d2[(s[:, None] - ref_starts[None, :]).abs() < window] = math.inf
            best = d2.min(dim=1).values
            best = best[torch.isfinite(best)]
            total, count = total + float(best.clamp_min(0).sqrt().sum()), count + len(best)
        return total / count if count else None

    def distances(self, windows: torch.Tensor) -> torch.Tensor:
        """Distance of each window (b, W, C) to its nearest reference window, divided by
        ``level`` (b,)."""
        q = features(windows, self.factor).flatten(1)  # (b, m * C)
        ref = self.reference.flatten(1)  # (R, m * C)
        q_norms = q.square().sum(dim=1, keepdim=True)  # (b, 1)
        if len(ref) <= REFERENCE_CHUNK:  # one chunk (a stream's window: every op counts)
            nearest = (q_norms + self._norms - 2 * q @ ref.T).argmin(dim=1)  # (b, R) -> (b,)
        else:
            best = torch.full((len(q),), math.inf, device=q.device)
            nearest = torch.zeros(len(q), dtype=torch.long, device=q.device)
            for i in range(0, len(ref), REFERENCE_CHUNK):
                chunk = ref[i : i + REFERENCE_CHUNK]
                d2 = q_norms + self._norms[i : i + REFERENCE_CHUNK] - 2 * q @ chunk.T  # (b, chunk)
                value, where = d2.min(dim=1)
                better = value < best
                best, nearest = torch.where(better, value, best), torch.where(better, where + i, nearest)
        # the nearest one's distance again, from the differences: |q|^2 + |r|^2 - 2 q.r
        # cancels to rounding noise (not 0) for a window equal to a reference one
        return (q - ref[nearest]).square().sum(dim=1).sqrt() / self.level

    def to_dict(self) -> dict:
        """The header fields (the reference itself is a tensor of the model file)."""
        return {"weight": self.weight, "level": self.level, "factor": self.factor, "count": len(self.reference)}

    @classmethod
    def from_parts(cls, fields: dict, reference: torch.Tensor, device: torch.device) -> NearestWindows:
        """Rebuild from :meth:`to_dict`'s fields and the stored reference."""
        return cls(reference.to(device), fields["factor"], fields["weight"], fields["level"])


def _batches(windows: np.ndarray, size: int = 512):
    """``windows`` in slices of ``size``."""
    return (windows[i : i + size] for i in range(0, len(windows), size))


def _tensor(windows: np.ndarray, device) -> torch.Tensor:
    """A (strided, read-only) view of windows as a float32 tensor on ``device``."""
    return torch.from_numpy(np.array(windows)).to(device)


def _features_of(windows: np.ndarray, factor: int) -> torch.Tensor:
    """Features (R, m, C) of windows (R, W, C), 1,024 at a time."""
    return torch.cat([features(_tensor(part, "cpu"), factor) for part in _batches(windows, 1024)])
