"""Detector: fit an autoencoder on normal data, score and flag new data.

Orchestration only: columns and gaps (frames), scaling, windows, the model registry,
the training loop, the point scorer and the threshold each live in their own module.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .corruption import Corruption
from .errors import ConfigError, DataError, ModelFileError, NotFittedError
from .events import EventRules
from .frames import GapFiller, find_timestamp, find_value_columns, read_labels, to_values
from .io import read_table
from .models import build_model, get_model_class
from .persist import load_model_file, save_model_file
from .runtime import resolve_device, torch_threads
from .scaling import Scaler
from .scoring import MIN_BATCH, MODES, PointScorer, channel_error_weights
from .thresholds import Threshold, parse_threshold, threshold_from_dict
from .training import TrainConfig, train_autoencoder
from .windows import auto_window


class Detector:
    """Denoising-autoencoder anomaly detector for uni- and multivariate series.

    Parameters
    ----------
    model : str
        Registered model name (see ``tsae.list_models()``): ``conv1d``, ``lstm``, ``dense``.
    window : int or "auto"
        Window length in points; ``auto`` uses the dominant period (autocorrelation).
    noise : str
        Input corruption for denoising training: ``gaussian:0.1``, ``mask:0.2`` or ``none``.
    threshold : str or Threshold
        Cutoff rule fitted on the scores of held-out normal data, e.g. ``percentile:99.5``,
        ``contamination:0.01`` or ``pot:1e-4`` (see ``tsae.thresholds``; ``pr`` needs
        labels: use ``calibrate``).
    events : EventRules or dict, optional
        Rules applied to the flags: ``merge_gap``, ``min_length``, ``cooldown``.
    scaling : str
        Per-channel scaling: ``standard``, ``robust``, ``minmax`` or ``none``.
    model_params : dict, optional
        Model hyper-parameters (``latent``, ``width``, ``depth``); defaults per model.
    score_mode : str
        ``window`` (mean error of the windows covering a point), ``overlap`` (their
        error at the point's position) or ``causal`` (error of the window ending at
        the point); see ``tsae.scoring``. Channel errors are divided by their mean on
        the validation rows before channels are averaged.
    epochs, batch_size, lr, patience, max_windows :
        Training settings (see ``tsae.training.TrainConfig``): at most 20 epochs of 1,024
        random windows in batches of 64, Adam at 3e-3, early stopping after 5 epochs
        without validation improvement.
    val_fraction : float
        Trailing fraction of the training series held out (chronologically) for early
        stopping and for fitting the threshold.
    max_gap : int
        Longest run of missing values filled (forward fill); longer runs are an error.
    columns : list of str, optional
        Value columns; default every numeric column but the timestamp and labels.
    timestamp : str, optional
        Timestamp column; default detected by type or name.
    seed : int
        Seeds weights, window sampling and corruption: same seed, same model.
    device : str
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    threads : int, optional
        torch CPU threads; default ``TSAE_THREADS`` or half the cores (see ``tsae.runtime``).
    progress : bool
        Show a progress bar with epoch and losses on stderr.

    Examples
    --------
    >>> from tsae import Detector
    >>> from tsae_datasets.synthetic import make_signal
    >>> df = make_signal(n=4000, channels=2, seed=0)
    >>> train = df.iloc[: df.attrs["train_end"]]
    >>> det = Detector(window=32, epochs=2).fit(train)
    >>> scores = det.score(df)
    >>> len(scores) == len(df), bool(scores.notna().all())
    (True, True)
    """

    def __init__(
        self,
        model: str = "conv1d",
        *,
        window: int | str = "auto",
        noise: str = "gaussian:0.3",
        threshold: str | Threshold = "percentile:99.5",
        events: EventRules | dict | None = None,
        scaling: str = "standard",
        model_params: dict | None = None,
        score_mode: str = "window",
        epochs: int = TrainConfig.epochs,
        batch_size: int = TrainConfig.batch_size,
        lr: float = TrainConfig.lr,
        patience: int = TrainConfig.patience,
        max_windows: int = TrainConfig.max_windows,
        val_fraction: float = 0.2,
        max_gap: int = 5,
        columns: list[str] | None = None,
        timestamp: str | None = None,
        seed: int = 0,
        device: str = "auto",
        threads: int | None = None,
        progress: bool = False,
    ):
        self.model = model
        self.window = window
        self.noise = noise
        self.threshold = threshold
        self.events = events
        self.scaling = scaling
        self.model_params = model_params
        self.score_mode = score_mode
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.max_windows = max_windows
        self.val_fraction = val_fraction
        self.max_gap = max_gap
        self.columns = columns
        self.timestamp = timestamp
        self.seed = seed
        self.device = device
        self.threads = threads
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def fit(self, data, source: str = "input") -> "Detector":
        """Learn the scaling, the window, the autoencoder and the threshold from
        normal data (a DataFrame, an array (n, channels), or a CSV/Parquet path).
        Returns self."""
        get_model_class(self.model)
        if self.score_mode not in MODES:
            raise ConfigError(f"score_mode must be one of {', '.join(MODES)}, got {self.score_mode!r}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {self.val_fraction!r}")
        corruption = Corruption.parse(self.noise)
        events = _event_rules(self.events)
        threshold = parse_threshold(self.threshold) if isinstance(self.threshold, str) else self.threshold
        config = TrainConfig(self.epochs, self.batch_size, self.lr, 0.0, self.patience, self.max_windows)
        config.validate()
        device = resolve_device(self.device)

        frame, source = _as_frame(data, source)
        self.timestamp_ = find_timestamp(frame, self.timestamp, source)
        self.channels_ = find_value_columns(frame, self.timestamp_, self.columns, source)
        values = GapFiller(self.max_gap).fill(to_values(frame, self.channels_, source), 0, source, self.channels_)
        self.n_features_in_ = len(self.channels_)
        self.window_ = self._resolve_window(values)
        n_val = max(int(round(len(values) * self.val_fraction)), self.window_)
        n_train = len(values) - n_val
        if n_train < self.window_ + 1:  # at least two training windows and one validation window
            need = max(2 * self.window_ + 1, int(np.ceil((self.window_ + 1) / (1 - self.val_fraction))))
            raise DataError(f"{source} has {len(values)} rows; window {self.window_} needs at least {need} "
                            f"for training and validation")
        self.scaler_ = Scaler(self.scaling).fit(values[:n_train])
        scaled = self.scaler_.transform(values)                                 # (n, C) float32
        with torch_threads(self.threads):
            torch.manual_seed(self.seed)
            self.module_, self.model_params_ = build_model(
                self.model, self.n_features_in_, self.window_, self.model_params
            )
            self.training_ = train_autoencoder(
                self.module_, scaled[:n_train], scaled[n_train:], self.window_, corruption, config,
                device, self.seed, self.progress,
            )
            self.device_ = device
            self.channel_weights_ = channel_error_weights(self.module_, scaled[n_train:], self.window_, device)
            val_scores = self._score_scaled(scaled[n_train:])
        self.threshold_ = copy.deepcopy(threshold).fit(val_scores)
        self.events_ = events
        self.training_.update(rows=len(values), train_rows=n_train, val_rows=n_val)
        return self

    def _resolve_window(self, values: np.ndarray) -> int:
        if self.window == "auto":
            return auto_window(values)
        if isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer)) or self.window < 2:
            raise ConfigError(f"window must be an integer >= 2 or 'auto', got {self.window!r}")
        return int(self.window)

    # ---------------------------------------------------------------- score
    def score(self, data, source: str = "input") -> pd.Series:
        """Anomaly score per row of ``data`` (higher = more anomalous), as a Series
        aligned with the input's index. See ``tsae.scoring`` for the definition."""
        self._check_fitted()
        frame, source = _as_frame(data, source, self.n_features_in_)
        values = self.prepare(frame, source)
        with torch_threads(self.threads):
            scores = self._score_scaled(self.scaler_.transform(values))
        return pd.Series(scores, index=frame.index, name="score")

    def predict(self, data, source: str = "input") -> pd.Series:
        """Boolean anomaly flag per row: ``flags(score(data))``."""
        scores = self.score(data, source)
        return pd.Series(self.flags(scores.to_numpy()), index=scores.index, name="is_anomaly")

    def flags(self, scores: np.ndarray) -> np.ndarray:
        """Scores -> boolean flags: the threshold, then the event rules."""
        self._check_fitted()
        return self.events_.apply(self.threshold_(scores))

    def calibrate(self, data, threshold: str | Threshold = "pr", labels=None, label_column: str = "label",
                  source: str = "input") -> "Detector":
        """Refit the threshold on the scores of ``data`` (labels from ``labels`` or the
        ``label_column`` of ``data``, needed by ``pr``). The model is unchanged. Returns self.
        """
        self._check_fitted()
        threshold = parse_threshold(threshold, allow_pr=True) if isinstance(threshold, str) else threshold
        frame, source = _as_frame(data, source, self.n_features_in_)
        scores = self.score(self.without_labels(frame, label_column), source).to_numpy()
        if labels is None and getattr(threshold, "needs_labels", False):
            labels = read_labels(frame, label_column, source)
        self.threshold_ = copy.deepcopy(threshold).fit(scores, labels)
        return self

    def evaluate(self, data, labels=None, label_column: str = "label", source: str = "input") -> dict:
        """Metrics of this detector on labelled ``data``: AUC-PR, AUC-ROC, VUS-PR/ROC,
        best-F1 variants (``tsae.metrics.evaluate``) and precision/recall/F1 of the
        current flags (``at_threshold``)."""
        from .metrics import evaluate, point_f1

        self._check_fitted()
        frame, source = _as_frame(data, source, self.n_features_in_)
        labels = read_labels(frame, label_column, source) if labels is None else np.asarray(labels)
        scores = self.score(self.without_labels(frame, label_column), source).to_numpy()
        valid = np.isfinite(scores)  # causal mode: the first window-1 points have no score
        result = evaluate(labels[valid], scores[valid])
        flags = self.flags(scores)
        result["at_threshold"] = {**point_f1(labels, flags), "cutoff": self.threshold_.cutoff_,
                                  "flagged": int(flags.sum())}
        result["rows"], result["anomalous_rows"] = len(labels), int(labels.sum())
        return result

    def without_labels(self, frame: pd.DataFrame, label_column: str) -> pd.DataFrame:
        """``frame`` without its label column (unless the model was fitted on it), so that
        a label column of any name is not taken for an extra value column."""
        if label_column in frame.columns and label_column not in getattr(self, "channels_", ()):
            return frame.drop(columns=[label_column])
        return frame

    def prepare(self, frame: pd.DataFrame, source: str = "input", gaps: GapFiller | None = None, first_row: int = 0) -> np.ndarray:
        """Check ``frame``'s columns against the fitted ones and return its values
        (n, channels) with gaps filled; errors name the file, column and row."""
        self._check_fitted()
        self.check_columns(frame, source)
        if gaps is None:  # a whole series (chunks are checked by the caller at the end)
            if len(frame) < self.window_:
                raise DataError(f"{source} has {len(frame)} rows, fewer than the model's window of {self.window_}")
            gaps = GapFiller(self.max_gap)
        return gaps.fill(to_values(frame, self.channels_, source), first_row, source, self.channels_)

    def check_columns(self, frame: pd.DataFrame, source: str = "input") -> None:
        """DataError naming missing, extra or reordered value columns."""
        missing = [c for c in self.channels_ if c not in frame.columns]
        if missing:
            raise DataError(f"{source} lacks column(s) {', '.join(missing)} the model was fitted on "
                            f"(expected: {', '.join(self.channels_)})")
        if self.columns is not None:
            return  # explicitly chosen columns: others are simply ignored
        timestamp = self.timestamp_ if self.timestamp_ in frame.columns else find_timestamp(frame, None, source)
        found = find_value_columns(frame, timestamp, None, source)
        extra = [c for c in found if c not in self.channels_]
        if extra:
            raise DataError(f"{source} has column(s) {', '.join(extra)} the model was not fitted on "
                            f"(expected: {', '.join(self.channels_)}; choose columns at fit time with columns=...)")
        if found != self.channels_:
            raise DataError(f"{source} has the fitted columns in a different order: "
                            f"{', '.join(found)} (expected: {', '.join(self.channels_)})")

    def point_scorer(self, min_batch: int = MIN_BATCH) -> PointScorer:
        """A fresh block-wise scorer over scaled values (used for chunked files and streams)."""
        self._check_fitted()
        return PointScorer(self.module_, self.window_, self.n_features_in_, self.device_, self.score_mode, min_batch,
                           self.channel_weights_)

    def streaming(self, state: dict | None = None, on_error: str = "raise", threads: int | None = None):
        """A :class:`tsae.streaming.StreamingScorer` for this detector (resumed from
        ``state`` if given)."""
        from .streaming import StreamingScorer

        return StreamingScorer(self, state=state, on_error=on_error, threads=threads)

    def _score_scaled(self, scaled: np.ndarray) -> np.ndarray:
        scorer = self.point_scorer()
        return np.concatenate([scorer.push(scaled), scorer.flush()])

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError("this Detector is not fitted yet: call fit(data) or tsae.load(path) first")

    # ----------------------------------------------------------- persistence
    def header(self) -> dict:
        """The model file's readable header (everything but the weights)."""
        self._check_fitted()
        return {
            "tsae_version": __version__,
            "model": {"name": self.model, "params": self.model_params_},
            "channels": self.channels_,
            "columns_explicit": self.columns is not None,
            "timestamp": self.timestamp_,
            "window": self.window_,
            "score_mode": self.score_mode,
            "channel_weights": self.channel_weights_.tolist(),
            "scaler": self.scaler_.to_dict(),
            "max_gap": self.max_gap,
            "threshold": self.threshold_.to_dict(),
            "events": self.events_.to_dict(),
            "settings": {"noise": self.noise, "seed": self.seed, "val_fraction": self.val_fraction},
            "training": self.training_,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the model file (header + weights, checksummed, written atomically)."""
        header = self.header()
        weights = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        save_model_file(path, header, weights)

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "auto", threads: int | None = None) -> "Detector":
        """Load a model file written by ``save``; see ``tsae.load``."""
        header, weights = load_model_file(path)
        try:
            det = cls(
                header["model"]["name"], window=header["window"], score_mode=header["score_mode"],
                scaling=header["scaler"]["method"], model_params=header["model"]["params"],
                max_gap=header["max_gap"], columns=header["channels"] if header["columns_explicit"] else None,
                timestamp=header["timestamp"], device=device, threads=threads, **header["settings"],
            )
            det.timestamp_, det.channels_ = header["timestamp"], header["channels"]
            det.n_features_in_, det.window_ = len(det.channels_), header["window"]
            det.scaler_ = Scaler.from_dict(header["scaler"])
            det.channel_weights_ = _channel_weights(header, len(det.channels_))
            det.threshold_ = det.threshold = threshold_from_dict(header["threshold"])
            det.events_ = det.events = EventRules(**header["events"])
            det.model_params_, det.training_ = header["model"]["params"], header["training"]
            det.device_ = resolve_device(device)
            det.module_, _ = build_model(det.model, det.n_features_in_, det.window_, det.model_params_)
            det.module_.load_state_dict(weights)
        except (KeyError, TypeError, RuntimeError, ConfigError) as exc:
            raise ModelFileError(f"{path} is not a valid tsae model ({type(exc).__name__}: {exc})") from None
        det.module_.to(det.device_).eval()
        return det


def load(path: str | os.PathLike, device: str = "auto", threads: int | None = None) -> Detector:
    """Load a fitted Detector from a model file. Never executes code from the file;
    verifies format version and checksum (ModelFileError otherwise)."""
    return Detector.from_file(path, device=device, threads=threads)


def _channel_weights(header: dict, n_channels: int) -> np.ndarray | None:
    """The header's per-channel error weights (None in files written before they existed:
    those models score unweighted errors, as they did then)."""
    weights = header.get("channel_weights")
    if weights is None:
        return None
    try:
        weights = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        weights = np.zeros(0)
    if weights.shape != (n_channels,) or not (np.isfinite(weights).all() and (weights > 0).all()):
        raise ConfigError(f"channel_weights must be {n_channels} positive numbers")
    return weights


def _event_rules(events) -> EventRules:
    if events is None:
        return EventRules()
    if isinstance(events, EventRules):
        return copy.deepcopy(events)
    if isinstance(events, dict):
        unknown = set(events) - {"merge_gap", "min_length", "cooldown"}
        if unknown:
            raise ConfigError(f"events has no rule {', '.join(sorted(unknown))}; rules: merge_gap, min_length, cooldown")
        return EventRules(**events)
    raise ConfigError(f"events must be an EventRules, a dict or None, got {events!r}")


def _as_frame(data, source: str, n_channels: int | None = None) -> tuple[pd.DataFrame, str]:
    """DataFrame, path or array (n,) / (n, C) -> (DataFrame, name for messages).
    ``n_channels``: the fitted channel count an array must have."""
    if isinstance(data, (str, Path)):
        return read_table(data), str(data)
    if isinstance(data, pd.DataFrame):
        return data, source
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else "value"), source
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{source} must be 1-D or 2-D (rows, channels), got shape {arr.shape}")
    if n_channels is not None and arr.shape[1] != n_channels:
        raise DataError(f"model has {n_channels} channels, {source} has {arr.shape[1]}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])]), source
