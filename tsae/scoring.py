"""Per-point anomaly scores from window reconstruction errors, block by block.

One engine serves the batch path, chunked file scoring and the stream, so they
cannot drift apart: feeding a series whole or in blocks of any size gives
bit-identical scores.

Errors are measured per channel in units of that channel's typical error on the
validation windows (``channel_weights``, fitted by ``channel_error_weights``): the
squared reconstruction error of channel ``c`` is multiplied by ``1 / v_c`` before
channels are averaged, so a channel that the model reconstructs well counts as much
as a noisy one, and a score of about 1 means "as well reconstructed as normal data".

Score of point ``p`` (``mode="window"``, the default): the mean, over every
stride-1 window that contains ``p``, of that window's error (averaged over its
positions and channels). Inside the series that is ``window`` windows; the first and
last ``window - 1`` points are covered by fewer windows and get the mean over those
(a real score, never a placeholder). A point's score is final once the window
starting at it has been seen, i.e. ``window - 1`` points later.

``stride``: windows are scored every ``stride`` points (starting at the series'
first point) instead of at every point; a point's score is the same mean over the
scored windows that cover it (``window / stride`` of them inside the series), so the
forward passes, hence the cost, drop ``stride``-fold. The last ``< stride`` points,
which no strided window covers, get the window ending at the series' last point.
Scores are still returned ``window - 1`` points after their point, as with stride 1.
``benchmarks/results/stride.md`` measures the accuracy this costs.

``mode="overlap"``: as ``window``, but each window contributes only its error at
``p``'s own position (sharper in time, noisier: lower accuracy on the benchmark, see
``benchmarks/results/variants.md``).

``mode="causal"``: score of ``p`` is the reconstruction error *at p* of the single
window ending at ``p``, available as soon as ``p`` arrives (the error at the newest
position: on NAB it detects more, and earlier, than the whole window's mean error,
``benchmarks/results/nab-tried.md``). The first ``window - 1`` points have no full
window behind them: their score is NaN (and they are never flagged).
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import ConfigError
from .models import squared_error
from .options import SCORE_MODES
from .windows import add_window_errors, coverage, sliding_windows

MODES = SCORE_MODES


# CPU kernels for very small batches (here: < 16 windows) round differently from the
# ones used for larger batches. Padding every forward pass to at least MIN_BATCH
# windows makes a window's error independent of how the series was split into
# blocks, so chunked and whole-file scores are bit-identical.
MIN_BATCH = 16

# push() runs the forward passes and sums the errors this many windows at a time, so
# memory is O(len(data)) rather than O(len(data) * window) (the (k, W) float64 error
# array was 8 * W bytes a row: 10 GB for 10M rows at W=128). A multiple of
# window_errors' batch size (512): the forward batches, hence the errors, stay the same.
SLICE_WINDOWS = 16 * 512
# With per-channel parts the errors of a slice are (k, W, C) float64: 512 windows of 128
# rows x 38 channels are 20 MB.
PARTS_SLICE = 512


def _squared_errors(model: torch.nn.Module, windows: np.ndarray, device: torch.device, batch_size: int, min_batch: int):
    """Yield ``(first window, windows (b, W, C) tensor, squared errors (b, W, C) tensor)``
    for ``windows`` (k, W, C) float32, ``batch_size`` windows at a time (see MIN_BATCH
    for the padding: the tensors hold the padding rows too, the errors do not)."""
    for i in range(0, len(windows), batch_size):
        batch = np.array(windows[i : i + batch_size])  # (b, W, C)
        b = len(batch)
        if b < min_batch:
            batch = np.concatenate([batch, np.repeat(batch[-1:], min_batch - b, axis=0)])
        x = torch.from_numpy(batch).to(device)
        yield i, x, squared_error(model, x)[:b]  # (b', W, C), (b, W, C)


@torch.inference_mode()
def window_errors(
    model: torch.nn.Module,
    windows: np.ndarray,
    device: torch.device,
    batch_size: int = 512,
    min_batch: int = MIN_BATCH,
    channel_weights: np.ndarray | None = None,
    parts: bool = False,
    neighbors=None,
):
    """Squared reconstruction error per window position, averaged over channels
    (each channel multiplied by ``channel_weights`` (C,) first, if given), and with
    ``neighbors`` (a ``tsae.neighbors.NearestWindows``) each window's distance to its
    nearest training window mixed in: ``(error + weight * distance) / (1 + weight)``
    at every position (its channel parts split by each channel's share of the window's
    reconstruction error: the distance's own z-normalised shapes weigh every channel's
    noise alike and named the culprit less often, ``benchmarks/results/explain.md``).

    ``windows`` (k, W, C) float32 -> (k, W) float64. Batches smaller than
    ``min_batch`` are padded (see MIN_BATCH); ``min_batch=1`` skips the padding for
    the lowest latency on single windows, at the cost of float32 rounding differences
    (about 1e-7) from the batch path. With ``parts``, also each channel's part of that
    mean, from the same forward pass: ``(errors (k, W), parts (k, W, C))``.
    """
    out = np.empty(windows.shape[:2], dtype=np.float64)
    per = np.empty(windows.shape, dtype=np.float64) if parts else None
    weights = None if channel_weights is None else torch.as_tensor(channel_weights, dtype=torch.float32, device=device)
    for i, x, err in _squared_errors(model, windows, device, batch_size, min_batch):  # (b, W, C)
        if weights is not None:
            err = err * weights
        b = len(err)
        mean = err.mean(dim=2)  # (b, W)
        part = err.double() / err.shape[2] if parts else None  # (b, W, C): each channel's part of the mean
        if neighbors is not None:
            w = neighbors.weight
            dist = neighbors.distances(x)[:b]  # (b,): the padding rows left out
            mean = (mean + w * dist[:, None]) / (1 + w)
            if parts:
                per_channel = err.double().sum(dim=1)  # (b, C)
                total = per_channel.sum(dim=1, keepdim=True)  # (b, 1)
                share = torch.where(total > 0, per_channel / total.clamp_min(1e-300), 1.0 / err.shape[2])  # (b, C)
                part = (part + w * dist[:, None, None].double() * share[:, None, :]) / (1 + w)
        out[i : i + b] = mean.double().cpu().numpy()  # (b, W)
        if parts:
            per[i : i + b] = part.cpu().numpy()  # (b, W, C)
    return (out, per) if parts else out


# Validation windows used to measure each channel's typical error (a strided sample
# of them beyond this many: a mean needs no more).
WEIGHT_WINDOWS = 4096


@torch.inference_mode()
def channel_error_weights(
    model: torch.nn.Module, scaled: np.ndarray, window: int, device: torch.device, floor: float = 0.1
) -> np.ndarray:
    """``channel_weights`` for ``window_errors``: 1 / each channel's mean squared
    reconstruction error on the windows of ``scaled`` (m, C), the validation rows.

    Each channel's error counts as at least ``floor`` times the mean error of all
    channels, so a channel the model reconstructs almost perfectly (e.g. one that was
    constant) cannot dominate the score. Returns (C,) float64.
    """
    windows = sliding_windows(scaled.astype(np.float32, copy=False), window)  # (k, W, C)
    windows = windows[:: max(1, -(-len(windows) // WEIGHT_WINDOWS))]
    total = np.zeros(scaled.shape[1])
    for _, _, err in _squared_errors(model, windows, device, 512, MIN_BATCH):  # (b, W, C)
        total += err.sum(dim=(0, 1)).double().cpu().numpy()  # (C,)
    mean = total / (len(windows) * window)
    return 1.0 / np.maximum(mean, max(floor * mean.mean(), 1e-12))


def _add_errors(acc: np.ndarray, errors: np.ndarray, stride: int = 1) -> None:
    """``add_window_errors(acc, errors, stride)``, looping over the shorter axis.

    ``add_window_errors`` loops over the W window positions: 128 small numpy calls
    (~200 us) even for the single window a streamed row brings. With fewer windows
    than positions, loop over the windows instead, oldest first: every point still
    receives the same additions in the same order (ascending window), so the sums
    are bit-identical.
    """
    k, w = errors.shape[:2]
    if k >= w:
        add_window_errors(acc, errors, stride)
        return
    for i in range(k):
        acc[i * stride : i * stride + w] += errors[i]


class PointScorer:
    """Turns scaled points, pushed in blocks of any size, into per-point scores.

    ``push(block)`` returns the scores that became final (oldest first);
    ``flush()`` ends the series and returns the rest. Memory is bounded by the window
    (plus the block being pushed). ``stride`` > 1 scores every ``stride``-th window
    (window and overlap modes; see the module's docstring).
    """

    def __init__(
        self,
        model,
        window: int,
        n_channels: int,
        device: torch.device,
        mode: str = "window",
        min_batch: int = MIN_BATCH,
        channel_weights: np.ndarray | None = None,
        batch_size: int = 512,
        parts: bool = False,
        stride: int = 1,
        neighbors=None,
    ):
        if mode not in MODES:
            raise ConfigError(f"score mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not 1 <= stride <= window or (mode == "causal" and stride != 1):
            raise ConfigError(f"stride must be 1 in causal mode and 1..window ({window}) otherwise, got {stride}")
        self.stride = stride
        # rows kept between pushes: the pending ones (< W), and with a stride the whole
        # last window, which flush() scores for the points after the last strided one
        self.keep = window if stride > 1 else window - 1
        self.model, self.window, self.device, self.mode = model, window, device, mode
        self.min_batch, self.channel_weights, self.batch_size = min_batch, channel_weights, batch_size
        self.neighbors = neighbors  # tsae.neighbors.NearestWindows or None
        self.context = np.empty((0, n_channels), dtype=np.float32)  # last <= keep points
        self.pending = np.zeros(0)  # window/overlap: partial sums of the last points, not yet final
        self.n_seen = 0  # points pushed so far
        self.n_emitted = 0  # scores returned so far
        # With ``parts``: each channel's part of the scores, carried like the scores
        # (``last_parts`` holds those of the scores push/flush just returned).
        self.parts = parts
        self.pending_parts = np.zeros((0, n_channels))
        self.last_parts = np.zeros((0, n_channels))

    def push(self, block: np.ndarray, min_batch: int | None = None) -> np.ndarray:
        """Add ``block`` (k, C) scaled points; return the newly final scores. ``min_batch``
        overrides the scorer's padding for this block (a stream's single row: 1)."""
        w, s = self.window, self.stride
        pad = self.min_batch if min_batch is None else min_batch
        data = np.concatenate([self.context, block.astype(np.float32, copy=False)])  # (c + k, C)
        first_new = len(self.context)
        done = self._windows_scored()
        self.n_seen += len(block)
        self.context = data[-self.keep :] if self.keep else data[:0]
        if self.mode == "causal":
            return self._push_causal(data, first_new, max(0, len(data) - w + 1), pad)
        # the rows not returned yet (the pending ones, then the new points) and, from
        # ``offset`` on, the new windows: every stride-th window that the block completes
        rows = data[first_new - len(self.pending) :]  # (p + k, C)
        offset = done * s - self.n_emitted
        acc = np.concatenate([self.pending, np.zeros(len(block))])  # (p + k,)
        acc_parts = np.concatenate([self.pending_parts, np.zeros((len(block), data.shape[1]))]) if self.parts else None
        for i, errors, per in self._errors(rows[offset:], self._windows_scored() - done, pad):  # (b, W), (b, W, C)
            if self.mode == "window":  # every position gets the window's mean error
                errors = np.broadcast_to(errors.mean(axis=1)[:, None], errors.shape)
                per = None if per is None else np.broadcast_to(per.mean(axis=1)[:, None], per.shape)
            span = slice(offset + i * s, offset + (i + len(errors) - 1) * s + w)
            _add_errors(acc[span], errors, s)
            if per is not None:
                _add_errors(acc_parts[span], per, s)
        # a point is returned W-1 points after it arrived, whatever the stride: by then the
        # last window covering it (the one starting at or before it) has been scored
        n_final = max(0, self.n_seen - w + 1) - self.n_emitted
        counts = self._counts(self.n_emitted, n_final)
        scores = acc[:n_final] / counts
        if self.parts:  # (p + k, C)
            self.last_parts, self.pending_parts = acc_parts[:n_final] / counts[:, None], acc_parts[n_final:]
        self.pending = acc[n_final:]
        self.n_emitted += n_final
        return scores

    def _windows_scored(self) -> int:
        """Windows scored so far: those starting at 0, stride, 2 * stride ... that end by
        the last point seen."""
        return (self.n_seen - self.window) // self.stride + 1 if self.n_seen >= self.window else 0

    def _errors(self, data: np.ndarray, n_windows: int, min_batch: int | None = None):
        """Yield ``(first window, errors (b, W), parts (b, W, C) or None)`` for the first
        ``n_windows`` windows of ``data``, ``stride`` rows apart (forward passes padded to
        ``min_batch``, default the scorer's), in order, SLICE_WINDOWS
        windows at a time (PARTS_SLICE with parts: they take C times the memory). Both are
        multiples of the forward batch, so the slicing does not change a single error."""
        if n_windows <= 0:
            return
        # a single window is the first W rows: skip sliding_window_view (~40 us a call)
        windows = data[None, : self.window] if n_windows == 1 else sliding_windows(data, self.window, self.stride)
        step = PARTS_SLICE if self.parts else SLICE_WINDOWS
        for s in range(0, n_windows, step):
            got = window_errors(
                self.model,
                windows[s : s + step],
                self.device,
                self.batch_size,
                self.min_batch if min_batch is None else min_batch,
                self.channel_weights,
                self.parts,
                self.neighbors,
            )
            yield (s, *got) if self.parts else (s, got, None)

    def _counts(self, first: int, n: int) -> np.ndarray:
        """Windows covering final points first..first+n-1 (the series goes on past them)."""
        return coverage(first + n + self.window, self.window, first, first + n, self.stride)

    def _push_causal(self, data, first_new, n_windows, min_batch) -> np.ndarray:
        n_new = len(data) - first_new
        scores = np.full(n_new, np.nan)
        parts = np.full((n_new if self.parts else 0, data.shape[1]), np.nan)
        first = n_new - n_windows
        for s, errors, per in self._errors(data, n_windows, min_batch):
            scores[first + s : first + s + len(errors)] = errors[:, -1]
            if per is not None:
                parts[first + s : first + s + len(per)] = per[:, -1]
        self.last_parts = parts
        self.n_emitted += n_new
        return scores

    @property
    def delay(self) -> int:
        """Points between a point's arrival and its final score: W-1 (window, overlap) or 0 (causal)."""
        return 0 if self.mode == "causal" else self.window - 1

    def state_dict(self) -> dict:
        """JSON-ready state: the last W-1 points, pending sums and counters."""
        return {
            "mode": self.mode,
            "window": self.window,
            "stride": self.stride,
            "context": self.context.tolist(),
            "pending": self.pending.tolist(),
            **({"pending_parts": self.pending_parts.tolist()} if self.parts else {}),
            "n_seen": self.n_seen,
            "n_emitted": self.n_emitted,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (same model, window and mode)."""
        stride = state.get("stride", 1)  # states before strides were stride 1
        if state["mode"] != self.mode or state["window"] != self.window or stride != self.stride:
            raise ConfigError(
                f"scorer state is for mode {state['mode']!r}, window {state['window']}, stride {stride}; "
                f"this model has mode {self.mode!r}, window {self.window}, stride {self.stride}"
            )
        ctx = np.asarray(state["context"], dtype=np.float32)
        self.context = ctx.reshape(-1, self.context.shape[1])
        self.pending = np.asarray(state["pending"], dtype=np.float64)
        if self.parts:
            self.pending_parts = np.asarray(state["pending_parts"], dtype=np.float64).reshape(len(self.pending), -1)
        self.n_seen, self.n_emitted = int(state["n_seen"]), int(state["n_emitted"])

    def flush(self) -> np.ndarray:
        """End of series: the remaining scores (window and overlap modes: the last points,
        averaged over the windows that exist; with a stride, those after the last scored
        window get the window ending at the last point)."""
        self.last_parts = self.pending_parts[:0]
        if self.mode == "causal" or len(self.pending) == 0:
            return np.zeros(0)
        n, first = len(self.pending), self.n_emitted
        counts = coverage(self.n_seen, self.window, first, first + n, self.stride)
        scores = np.where(counts > 0, self.pending / np.maximum(counts, 1), np.nan)
        if self.parts:
            self.last_parts = np.where(counts[:, None] > 0, self.pending_parts / np.maximum(counts, 1)[:, None], np.nan)
        tail = (counts <= 0) & (self.n_seen >= self.window)  # after the last strided window
        if tail.any():  # the pending points are the last n positions of the last window
            _, errors, per = next(self._errors(self.context[-self.window :], 1))  # (1, W), (1, W, C) or None
            overlap = self.mode == "overlap"
            scores[tail] = (errors[0, -n:] if overlap else np.full(n, errors[0].mean()))[tail]
            if per is not None:
                self.last_parts[tail] = (per[0, -n:] if overlap else np.tile(per[0].mean(axis=0), (n, 1)))[tail]
        self.pending, self.pending_parts = np.zeros(0), self.pending_parts[:0]
        self.n_emitted += n
        return scores
