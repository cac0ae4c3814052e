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
  by its mean over the validation windows (``level``): about 1 on normal data, like
  the reconstruction error.
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
#: Validation windows the level is measured on (a strided sample beyond).
LEVEL_WINDOWS = 4096
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
        Mean distance of the validation windows: distances are divided by it.
    """

    def __init__(self, reference: torch.Tensor, factor: int, weight: float, level: float = 1.0):
        self.reference, self.factor, self.weight, self.level = reference, int(factor), float(weight), float(level)
        self._norms = reference.flatten(1).square().sum(dim=1)  # (R,): |r|^2 of every reference window

    @classmethod
    def fit(cls, train: np.ndarray, val: np.ndarray, window: int, weight: float, device: torch.device):
        """The reference of ``train`` (n, C) scaled rows (n >= window) and the level of the
        windows of ``val`` (m, C) scaled rows (m >= window)."""
        factor = block_factor(window)
        n_windows, width = len(train) - window + 1, (window // factor) * train.shape[1]
        step = max(factor, math.ceil(n_windows / min(MAX_REFERENCE, max(1, MAX_VALUES // width))))
        windows = sliding_windows(train.astype(np.float32, copy=False), window, step)  # (R, W, C)
        parts = [
            features(torch.from_numpy(np.array(windows[i : i + 1024])), factor) for i in range(0, len(windows), 1024)
        ]
        near = cls(torch.cat(parts).to(device), factor, weight)  # level 1: raw distances
        windows = sliding_windows(val.astype(np.float32, copy=False), window)  # (k, W, C)
        windows = windows[:: max(1, -(-len(windows) // LEVEL_WINDOWS))]
        with torch.inference_mode():
            total = sum(
                float(near.distances(torch.from_numpy(np.array(windows[i : i + 512])).to(device))[0].sum())
                for i in range(0, len(windows), 512)
            )
        near.level = max(total / len(windows), 1e-12)
        return near

    def distances(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance of each window (b, W, C) to its nearest reference window, divided by
        ``level`` (b,), and each channel's share of the squared distance (b, C), summing
        to 1 (0 where the distance is 0)."""
        q = features(windows, self.factor).flatten(1)  # (b, m * C)
        ref = self.reference.flatten(1)  # (R, m * C)
        q_norms = q.square().sum(dim=1, keepdim=True)  # (b, 1)
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
        diff = (q - ref[nearest]).view(len(q), -1, windows.shape[2]).square().sum(dim=1)  # (b, m, C) -> (b, C)
        total = diff.sum(dim=1)  # (b,)
        return total.sqrt() / self.level, diff / total.clamp_min(1e-30)[:, None]

    def to_dict(self) -> dict:
        """The header fields (the reference itself is a tensor of the model file)."""
        return {"weight": self.weight, "level": self.level, "factor": self.factor, "count": len(self.reference)}

    @classmethod
    def from_parts(cls, fields: dict, reference: torch.Tensor, device: torch.device) -> NearestWindows:
        """Rebuild from :meth:`to_dict`'s fields and the stored reference."""
        return cls(reference.to(device), fields["factor"], fields["weight"], fields["level"])
