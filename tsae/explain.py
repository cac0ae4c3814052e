"""Which channels drive a score: each channel's part of every row's score.

A row's score averages channel-weighted squared reconstruction errors over channels
(and over windows and positions, by the score mode: ``tsae.scoring``). Keeping the
channel axis instead of averaging it away gives each channel's part, in the units of
the score: the parts of a row sum to its score (to float rounding: the score sums in
float32, the parts in float64; tested to 1e-5 relative). One forward pass, as for the
score itself.
"""

from __future__ import annotations

import numpy as np
import torch

from .scoring import MIN_BATCH, _squared_errors
from .windows import add_window_errors, coverage, sliding_windows

__all__ = ["channel_contributions"]


@torch.inference_mode()
def channel_contributions(
    model: torch.nn.Module,
    scaled: np.ndarray,
    window: int,
    device: torch.device,
    mode: str = "window",
    channel_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Each channel's part of each point's score: ``scaled`` (n, C) -> (n, C) float64.

    ``mode`` and ``channel_weights`` as the point scorer's; in ``causal`` mode the first
    ``window - 1`` rows (no score) are NaN.
    """
    n, c = scaled.shape
    weights = np.ones(c) if channel_weights is None else np.asarray(channel_weights, dtype=np.float64)
    windows = sliding_windows(scaled.astype(np.float32, copy=False), window)  # (k, W, C)
    parts = np.zeros((n, c))
    for i, err in _squared_errors(model, windows, device, 512, MIN_BATCH):  # (b, W, C)
        share = err.double().cpu().numpy() * (weights / c)  # (b, W, C)
        b = len(share)
        if mode == "causal":  # the error at the newest position of the window ending at the row
            parts[i + window - 1 : i + window - 1 + b] = share[:, -1]
        elif mode == "window":  # every position gets its window's mean error
            add_window_errors(parts[i : i + b + window - 1], np.broadcast_to(share.mean(axis=1)[:, None], share.shape))
        else:  # overlap: each window's error at the row's own position
            add_window_errors(parts[i : i + b + window - 1], share)
    if mode == "causal":
        parts[: window - 1] = np.nan
        return parts
    return parts / coverage(n, window)[:, None]
