"""Sliding windows, the automatic window size, and window errors -> point scores."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.signal import find_peaks

from .errors import TsaeWarning

MIN_WINDOW, MAX_WINDOW, DEFAULT_WINDOW = 16, 256, 64


def sliding_windows(x: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """Read-only view of the windows of ``x``.

    ``x`` (n, C) -> (n_windows, window, C), window ``i`` covering rows
    ``[i*stride, i*stride + window)``; no copy is made.
    """
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (n-W+1, C, W)
    return view[::stride].transpose(0, 2, 1)


def dominant_period(x: np.ndarray, max_lag: int = 2 * MAX_WINDOW, max_points: int = 20_000) -> int | None:
    """Dominant period of a 1-D signal from its autocorrelation, or None.

    The period is the lag of the highest autocorrelation peak between lag 3 and
    ``max_lag`` (peaks found with scipy); None when no peak exceeds 0.1 (no clear
    seasonality). Uses at most the first ``max_points`` points.
    """
    x = np.asarray(x[:max_points], dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    if n < 2 * 3 or not np.any(x):
        return None
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: min(max_lag, n // 2) + 1]
    acf /= acf[0]
    peaks, _ = find_peaks(acf, height=0.1)
    peaks = peaks[peaks >= 3]
    if len(peaks) == 0:
        return None
    return int(peaks[np.argmax(acf[peaks])])


def auto_window(x: np.ndarray, limit: int | None = None) -> int:
    """Window length for a series.

    Parameters
    ----------
    x : numpy.ndarray
        The series, shape ``(n, C)``.
    limit : int, optional
        Longest window the caller can use (``Detector.fit``: the longest that leaves
        enough training and validation windows).

    Returns
    -------
    int
        The median dominant period over the channels that have one, clipped to
        [MIN_WINDOW, MAX_WINDOW]; DEFAULT_WINDOW if none has. Never longer than a
        quarter of the series nor than ``limit``, and at least 2.

    Warns
    -----
    TsaeWarning
        When the series is too short for the window its period suggests.
    """
    periods = [p for p in (dominant_period(x[:, c]) for c in range(x.shape[1])) if p]
    wanted = int(np.clip(np.median(periods), MIN_WINDOW, MAX_WINDOW)) if periods else DEFAULT_WINDOW
    longest = len(x) // 4 if limit is None else min(len(x) // 4, limit)
    window = int(max(2, min(wanted, longest)))
    if periods and window < wanted:
        warnings.warn(
            f"the period of the series suggests a window of {wanted}, but {len(x)} rows leave room "
            f"for at most {window}: using window {window}",
            TsaeWarning,
            stacklevel=2,
        )
    return window


def add_window_errors(acc: np.ndarray, errors: np.ndarray, stride: int = 1) -> None:
    """Add per-position window errors onto the per-point sums, in place.

    ``errors`` (k, W) or (k, W, C): error of window ``i`` at its position ``j`` (per
    channel), for ``k`` consecutive windows ``stride`` points apart, window ``i``
    starting at point ``i * stride``. ``acc`` ((k - 1) * stride + W,) or (.., C): running
    sum per point. Point ``p`` receives ``errors[i, p - i * stride]`` from every window
    ``i`` covering it, oldest window first, so that feeding windows in any grouping
    gives bit-identical sums.
    """
    k, w = errors.shape[:2]
    span = (k - 1) * stride + 1
    for j in range(w - 1, -1, -1):  # window i = (p - j) / stride: descending j is ascending i
        acc[j : j + span : stride] += errors[:, j]


def coverage(n: int, window: int, first: int = 0, stop: int | None = None, stride: int = 1) -> np.ndarray:
    """How many windows of length ``window`` starting every ``stride`` points (at 0,
    stride, 2 * stride ...) of an ``n``-point series cover each of its points
    ``first .. stop - 1`` (default: all of them); 0 or less when none does (the series
    is shorter than the window, or a point lies after the last strided window)."""
    p = np.arange(first, n if stop is None else stop)
    lo, hi = np.maximum(0, p - window + 1), np.minimum(p, n - window)  # first and last start
    return (np.floor_divide(hi, stride) - (-np.floor_divide(-lo, stride)) + 1).astype(np.float64)
