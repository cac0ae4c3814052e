"""Detector: fit an autoencoder on normal data, score and flag new data.

Orchestration only: columns and gaps (frames), scaling, windows, the model registry,
the training loop, the point scorer and the threshold each live in their own module.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from . import __version__
from .atomic import ANY
from .calibration import ScoreCalibrator
from .corruption import Corruption
from .errors import ConfigError, DataError, NotFittedError, TsaeWarning
from .events import EventRules
from .frames import (
    GapFiller,
    choose_fit_columns,
    classify_columns,
    find_timestamp,
    is_label_column,
    read_labels,
    to_values,
)
from .header import validate_header
from .io import read_table
from .models import build_model, get_model_class, model_params_from_file
from .neighbors import NearestWindows
from .options import DETECTOR_DEFAULTS as _D
from .options import SCALINGS, LearningSettings
from .persist import load_model_bytes, load_model_file, model_bytes, save_model_file
from .regularizers import Regularizer
from .runtime import resolve_device, torch_threads
from .scaling import Scaler
from .scoring import MIN_BATCH, MODES, PointScorer, channel_error_weights
from .thresholds import Threshold, parse_threshold, threshold_from_dict, threshold_from_spec
from .training import TrainConfig, train_autoencoder
from .windows import auto_window

# Fitting needs enough windows to learn from and to set the threshold on: below these
# floors a model fits but is unusable (a 5-row file used to give a cutoff from a single
# window). 32 training windows are half a default batch, about the fewest distinct
# examples an autoencoder learns a shape from instead of memorising them; 8 validation
# windows are the fewest whose scores still spread enough for early stopping and a
# cutoff (a high percentile of fewer is just their maximum).
MIN_TRAIN_WINDOWS = 32
MIN_VAL_WINDOWS = 8
#: Shortest automatic window: data too short for it need more rows (or an explicit window).
MIN_AUTO_WINDOW = 8
#: ``stride="auto"`` scores every ``window // AUTO_STRIDE_WINDOWS``-th window, so each
#: point inside the series is covered by this many scored windows.
AUTO_STRIDE_WINDOWS = 16
#: A cutoff with fewer validation scores at or above it than this is little more than
#: the largest one (percentile:99.5 of 200 scores is the maximum): fit warns.
MIN_TAIL_SCORES = 2
#: Constructor parameters that are the loader's to choose, not stored in model files.
_RUNTIME_PARAMS = ("device", "threads", "progress")
#: Constructor parameters added after model files began to store them: files without
#: them load with the defaults (their fitted state, e.g. ``stride_``, says the rest).
_ADDED_PARAMS = ("stride", "regularizer", "discord")


class Detector(BaseEstimator):
    """Denoising-autoencoder anomaly detector for uni- and multivariate series.

    A scikit-learn estimator: ``get_params``/``set_params`` and ``sklearn.base.clone``
    work, the constructor only stores its arguments, and fitted attributes end in
    ``_`` (set only once ``fit`` has succeeded). ``score`` keeps its documented meaning
    here (one anomaly score per row, higher = more anomalous), not scikit-learn's
    ``score(X, y)`` summary of a supervised fit.

    Parameters
    ----------
    model : str
        Registered model name (see ``tsae.list_models()``): ``conv1d``, ``lstm``, ``dense``.
    window : int or "auto"
        Window length in points; ``auto`` uses the dominant period (autocorrelation),
        shortened (with a warning) when the data leave no room for it.
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
    stride : int or "auto"
        Score every ``stride``-th window instead of every window (window and overlap
        modes; causal needs 1): a point's score is the mean over the scored windows that
        cover it, at ``1 / stride`` of the cost. ``auto`` = ``window // 16`` (at least 1),
        so every point is still covered by 16 windows (``benchmarks/results/stride.md``:
        the accuracy this costs); 1 scores every window.
    regularizer : str
        A penalty or constraint on the code while training (``tsae.regularizers``):
        ``none`` (default), ``l1:LAMBDA`` (sparse), ``ksparse:K`` (keep the K largest
        code units, in training and scoring) or ``contractive:LAMBDA`` (the encoder's
        Jacobian norm).
    discord : float
        Weight of each window's distance to its nearest training window in its score
        (``tsae.neighbors``: the matrix profile's discord idea): a window scores
        ``(reconstruction error + discord * distance) / (1 + discord)``, both about 1
        on normal data. 0 turns it off (scores by reconstruction alone); default 2.
    epochs, batch_size, lr, patience, max_windows :
        Training settings (see ``tsae.training.TrainConfig``): at most 20 epochs of 1,024
        random windows in batches of 64, Adam at 3e-3 (times the model's ``lr_scale``: the
        lstm's is 10/3), early stopping after 5 epochs
        without validation improvement.
    val_fraction : float
        Trailing fraction of the training series held out (chronologically) for early
        stopping and for fitting the threshold; enlarged to ``MIN_VAL_WINDOWS`` windows
        if smaller. Fitting needs ``MIN_TRAIN_WINDOWS`` training windows too.
    max_gap : int
        Longest run of missing values filled (forward fill); longer runs are an error.
    columns : list of str, optional
        Value columns; default every numeric column but the timestamp, label-like
        columns (``tsae.frames.LABEL_COLUMNS``, e.g. ``label``, ``changepoint``) and
        columns that are constant 0 or constant 1 in the training data; ``fit`` warns
        (``TsaeWarning``) naming the columns it left out and the constant channels.
    timestamp : str, optional
        Timestamp column; default detected by type or name.
    seed : int
        Seeds weights, window sampling and corruption: same seed, same model.
    device : str
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    threads : int, optional
        torch CPU threads; default ``TSAE_THREADS``, ``OMP_NUM_THREADS`` or half the cores
        (see ``tsae.runtime``); set during each call, the process's setting restored after.
    learning : str, dict or LearningSettings
        Continual learning while scoring (``tsae.learning``): ``off`` (default), ``on``
        (every 200 rows, ten Adam steps on recent windows judged normal) or settings such
        as ``every=50,steps=2,buffer=1000``. Scoring and streaming then train a copy of
        the model on the rows as they arrive; the fitted model itself is not changed.
    progress : bool
        Show a progress bar with epoch and losses on stderr.

    Attributes
    ----------
    channels_ : list of str
        The value columns, in order.
    ignored_columns_ : list of str
        The columns the automatic choice left out at fit (labels, text, constant 0/1
        flags ...); scoring accepts data that still has them.
    timestamp_ : str or None
        The timestamp column.
    window_ : int
        The window length fitted (``window``, or the automatic choice).
    stride_ : int
        Windows scored every ``stride_`` points (1 = every window).
        The window length.
    threshold_ : Threshold
        The fitted cutoff rule.
    calibration_ : dict
        State of the score calibration (``tsae.calibration``) after the validation
        scores: where every scoring starts from.
    learning_ : LearningSettings or None
        The continual-learning settings.

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
        model: str = _D["model"],
        *,
        window: int | str = _D["window"],
        noise: str = _D["noise"],
        threshold: str | Threshold = _D["threshold"],
        events: EventRules | dict | None = None,
        scaling: str = _D["scaling"],
        model_params: dict | None = None,
        score_mode: str = _D["score_mode"],
        stride: int | str = _D["stride"],
        regularizer: str = _D["regularizer"],
        discord: float = _D["discord"],
        epochs: int = _D["epochs"],
        batch_size: int = _D["batch_size"],
        lr: float = _D["lr"],
        patience: int = _D["patience"],
        max_windows: int = _D["max_windows"],
        val_fraction: float = _D["val_fraction"],
        max_gap: int = _D["max_gap"],
        columns: list[str] | None = None,
        timestamp: str | None = None,
        seed: int = _D["seed"],
        device: str = _D["device"],
        threads: int | None = None,
        learning: str | dict | LearningSettings | None = _D["learning"],
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
        self.stride = stride
        self.regularizer = regularizer
        self.discord = discord
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
        self.learning = learning
        self.progress = progress

    # ------------------------------------------------------------------ fit
    def fit(self, data, y=None, source: str = "input") -> Detector:
        """Learn the scaling, the window, the autoencoder and the threshold from
        normal data (a DataFrame, an array (n, channels), or a CSV/Parquet path).
        ``y`` is ignored (scikit-learn's signature; labels are for ``calibrate``).

        Every option and the data are checked before training, and the fitted
        attributes are set only at the end: a failed fit leaves a fitted detector as it
        was. Warns (``TsaeWarning``) about columns left out, constant channels and an
        automatic window shortened to fit the data. Returns self.
        """
        learning, corruption, events, threshold, config = self._settings()
        device = resolve_device(self.device)

        frame, source = _as_frame(data, source)
        timestamp = find_timestamp(frame, self.timestamp, source)
        # An array's columns have no names to leave out by: all of them are channels.
        columns = (
            self.columns
            if self.columns is not None or isinstance(data, (pd.DataFrame, str, Path))
            else list(frame.columns)
        )
        chosen = choose_fit_columns(frame, timestamp, columns, source)
        values = GapFiller(self.max_gap).fill(chosen.values, 0, source, chosen.channels)
        window = self._resolve_window(values, source)
        stride = self._resolve_stride(window)
        n_train, n_val = _split(len(values), window, self.val_fraction)
        for message in chosen.warnings(source):
            warnings.warn(message, TsaeWarning, stacklevel=2)

        scaler = Scaler(self.scaling).fit(values[:n_train])
        module, params, training, weights, neighbors, val_scores = self._train(
            scaler.transform(values), n_train, window, stride, corruption, config, device
        )
        calibrator = ScoreCalibrator()
        val_probability = calibrator.update_many(val_scores)
        threshold = copy.deepcopy(threshold).fit(
            val_probability if getattr(threshold, "on_probability", False) else val_scores
        )
        _warn_thin_tail(threshold, val_scores, source)
        training.update(rows=len(values), train_rows=n_train, val_rows=n_val)
        self.timestamp_, self.channels_, self.ignored_columns_ = timestamp, chosen.channels, list(chosen.left_out)
        self.n_features_in_, self.window_, self.stride_, self.scaler_ = len(chosen.channels), window, stride, scaler
        self.module_, self.model_params_, self.training_, self.device_ = module, params, training, device
        self.channel_weights_, self.threshold_, self.events_ = weights, threshold, events
        self.neighbors_ = neighbors
        self.calibration_, self.learning_ = calibrator.state_dict(), learning
        return self

    def _settings(self) -> tuple:
        """Every parameter checked and parsed (ConfigError naming the first wrong one):
        (learning, corruption, events, threshold, training config)."""
        _check_options(self)
        learning = LearningSettings.parse(self.learning)
        Regularizer.parse(self.regularizer)
        get_model_class(self.model)
        corruption = Corruption.parse(self.noise)
        events = _event_rules(self.events)
        threshold = parse_threshold(self.threshold) if isinstance(self.threshold, str) else self.threshold
        config = TrainConfig(self.epochs, self.batch_size, self.lr, 0.0, self.patience, self.max_windows)
        config.validate()
        return learning, corruption, events, threshold, config

    def _train(
        self,
        scaled: np.ndarray,
        n_train: int,
        window: int,
        stride: int,
        corruption: Corruption,
        config: TrainConfig,
        device: torch.device,
    ) -> tuple:
        """Build and train the model on ``scaled[:n_train]`` (the rest validates); return
        (module, model params, training summary, channel weights, nearest-window
        reference or None, validation scores)."""
        train, val = scaled[:n_train], scaled[n_train:]
        with torch_threads(self.threads):
            torch.manual_seed(self.seed)
            module, params = build_model(self.model, scaled.shape[1], window, self.model_params)
            regularizer = Regularizer.parse(self.regularizer)
            regularizer.attach(module, params["latent"])
            training = train_autoencoder(
                module, train, val, window, corruption, config, device, self.seed, self.progress, regularizer
            )
            weights = channel_error_weights(module, val, window, device)
            neighbors = None
            if self.discord > 0:
                neighbors = NearestWindows.fit(train, val, window, self.discord, device)
            scorer = PointScorer(
                module,
                window,
                scaled.shape[1],
                device,
                self.score_mode,
                MIN_BATCH,
                weights,
                stride=stride,
                neighbors=neighbors,
            )
            val_scores = np.concatenate([scorer.push(val), scorer.flush()])
        return module, params, training, weights, neighbors, val_scores

    def _resolve_stride(self, window: int) -> int:
        """The stride for ``window``: the explicit one (ConfigError if it does not fit the
        window or the score mode), else ``auto``'s (1 in causal mode)."""
        if isinstance(self.stride, str):  # "auto"
            return 1 if self.score_mode == "causal" else max(1, window // AUTO_STRIDE_WINDOWS)
        if self.stride > 1 and self.score_mode == "causal":
            raise ConfigError(f"stride must be 1 with score_mode 'causal' (one window per point), got {self.stride}")
        if self.stride > window:
            raise ConfigError(f"stride {self.stride} is longer than the window of {window}: points would go unscored")
        return int(self.stride)

    def _resolve_window(self, values: np.ndarray, source: str) -> int:
        """The window for ``values`` (its type is checked by ``fit``): an explicit one
        if the rows suffice for it, else the automatic one, capped to what they allow.
        DataError if the rows are too few."""
        n = len(values)
        if isinstance(self.window, str):  # "auto"
            limit = _longest_window(n, self.val_fraction)
            if limit < MIN_AUTO_WINDOW:
                raise DataError(_too_short(source, n, MIN_AUTO_WINDOW, self.val_fraction, automatic=True))
            return auto_window(values, limit)
        window = int(self.window)
        if n < _min_rows(window, self.val_fraction):
            raise DataError(_too_short(source, n, window, self.val_fraction))
        return window

    # ---------------------------------------------------------------- score
    def score(self, data, source: str = "input") -> pd.Series:
        """Anomaly score per row of ``data`` (higher = more anomalous), as a Series
        aligned with the input's index. See ``tsae.scoring`` for the definition."""
        return self.assess(data, source)["score"]

    def assess(self, data, source: str = "input") -> pd.DataFrame:
        """Per row of ``data`` (aligned with its index): the raw ``score``, the calibrated
        anomaly ``probability`` in [0, 1] (``tsae.calibration``: causal, per series,
        comparable across series) and ``is_anomaly`` (the threshold, then the event
        rules). The same computation as a chunked file and a stream (``tsae.monitor``);
        with ``learning`` on, a copy of the model keeps learning along the rows."""
        self._check_fitted()
        frame, source = _as_frame(data, source, self.channels_)
        values = self._prepare(frame, source)
        with torch_threads(self.threads):
            result = self._assess_scaled(self.scaler_.transform(values))
        return pd.DataFrame(
            {
                "score": result.score,
                "probability": result.probability,
                "is_anomaly": self.events_.apply(result.is_anomaly),
            },
            index=frame.index,
        )

    def explain(self, data, source: str = "input") -> pd.DataFrame:
        """Each channel's part of each row's score: a DataFrame aligned with ``data``'s
        rows, one column per channel (named as the channel), in the units of the score.
        The score is a channel-weighted mean of squared reconstruction errors; the parts
        keep the channel axis instead of averaging it away (the same forward passes as
        ``assess``, with continual learning too), so a row's parts sum to its score (to
        float rounding: 1e-5 relative). Ranks the channels behind an alarm."""
        self._check_fitted()
        frame, source = _as_frame(data, source, self.channels_)
        values = self._prepare(frame, source)
        with torch_threads(self.threads):
            result = self._assess_scaled(self.scaler_.transform(values), parts=True)
        return pd.DataFrame(result.parts, index=frame.index, columns=list(self.channels_))

    def predict(self, data, source: str = "input") -> pd.Series:
        """Boolean anomaly flag per row (``assess(data)["is_anomaly"]``)."""
        return self.assess(data, source)["is_anomaly"]

    def flags(self, scores: np.ndarray) -> np.ndarray:
        """Raw scores -> boolean flags: the threshold, then the event rules. A
        ``probability`` threshold flags probabilities: use :meth:`assess`."""
        self._check_fitted()
        if getattr(self.threshold_, "on_probability", False):
            raise ConfigError(
                "the probability threshold flags calibrated probabilities, not raw scores: use Detector.assess"
            )
        return self.events_.apply(self.threshold_(scores))

    def calibrate(
        self,
        data,
        threshold: str | Threshold = "pr",
        labels=None,
        label_column: str | None = None,
        source: str = "input",
    ) -> Detector:
        """Refit the threshold on the scores of ``data``. The model is unchanged. Returns self.

        Labels (needed by ``pr``) come from ``labels`` or the ``label_column`` of ``data``,
        by default its first label-like column (``tsae.frames.find_label_column``).
        Label-like columns that are not channels are never scored.
        """
        self._check_fitted()
        threshold = parse_threshold(threshold, allow_pr=True) if isinstance(threshold, str) else threshold
        frame, source = _as_frame(data, source, self.channels_)
        assessed = self.assess(self._without_labels(frame, label_column), source)
        scores = assessed["probability" if getattr(threshold, "on_probability", False) else "score"].to_numpy()
        if labels is None and getattr(threshold, "needs_labels", False):
            labels = read_labels(frame, label_column, source)
        self.threshold_ = copy.deepcopy(threshold).fit(scores, labels)
        return self

    def evaluate(self, data, labels=None, label_column: str | None = None, source: str = "input") -> dict:
        """Metrics of this detector on labelled ``data``: AUC-PR, AUC-ROC, VUS-PR/ROC,
        best-F1 variants (``tsae.metrics.evaluate``) and precision/recall/F1 of the
        current flags (``at_threshold``). Labels come from ``labels`` or the
        ``label_column`` of ``data``, by default its first label-like column."""
        from .metrics import evaluate, point_f1

        self._check_fitted()
        frame, source = _as_frame(data, source, self.channels_)
        labels = read_labels(frame, label_column, source) if labels is None else np.asarray(labels)
        assessed = self.assess(self._without_labels(frame, label_column), source)
        scores, flags = assessed["score"].to_numpy(), assessed["is_anomaly"].to_numpy()
        valid = np.isfinite(scores)  # causal mode: the first window-1 points have no score
        result = evaluate(labels[valid], scores[valid])
        result["at_threshold"] = {
            **point_f1(labels, flags),
            "cutoff": self.threshold_.cutoff_,
            "flagged": int(flags.sum()),
        }
        result["rows"], result["anomalous_rows"] = len(labels), int(labels.sum())
        return result

    def _without_labels(self, frame: pd.DataFrame, label_column: str | None = None) -> pd.DataFrame:
        """``frame`` without ``label_column`` and its label-like columns
        (``tsae.frames.LABEL_COLUMNS``), except those the model was fitted on, so that
        a label column of any name is not taken for an extra value column."""
        channels = getattr(self, "channels_", ())
        drop = [c for c in frame.columns if (c == label_column or is_label_column(c)) and c not in channels]
        return frame.drop(columns=drop) if drop else frame

    def _prepare(
        self, frame: pd.DataFrame, source: str = "input", gaps: GapFiller | None = None, first_row: int = 0
    ) -> np.ndarray:
        """Check ``frame``'s columns against the fitted ones (see ``_check_columns``) and
        return its values (n, channels) with gaps filled; errors name the file, column
        and row."""
        self._check_fitted()
        self._check_columns(frame, source)
        if gaps is None:  # a whole series (chunks are checked by the caller at the end)
            if len(frame) < self.window_:
                raise DataError(f"{source} has {len(frame)} rows, fewer than the model's window of {self.window_}")
            gaps = GapFiller(self.max_gap)
        return gaps.fill(to_values(frame, self.channels_, source), first_row, source, self.channels_)

    def _check_columns(self, frame: pd.DataFrame, source: str = "input") -> None:
        """DataError naming missing, extra or reordered value columns.

        Columns the fit left out (``ignored_columns_``), label-like columns, text and
        columns of lists are not extra; with explicitly chosen columns, any other column
        is ignored.
        """
        missing = [c for c in self.channels_ if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source} lacks column(s) {_names(missing)} the model was fitted on "
                f"(expected: {_names(self.channels_)})"
            )
        if self.columns is not None:
            return  # explicitly chosen columns: others are simply ignored
        timestamp = self.timestamp_ if self.timestamp_ in frame.columns else find_timestamp(frame, None, source)
        ignored = set(self.ignored_columns_)
        found, _ = classify_columns(frame, timestamp)
        extra = [c for c in found if c not in self.channels_ and c not in ignored]
        if extra:
            raise DataError(
                f"{source} has column(s) {_names(extra)} the model was not fitted on "
                f"(expected: {_names(self.channels_)}; choose columns at fit time with columns=...)"
            )
        order = [c for c in frame.columns if c in self.channels_]
        if order != self.channels_:
            raise DataError(
                f"{source} has the fitted columns in a different order: "
                f"{_names(order)} (expected: {_names(self.channels_)})"
            )

    def _monitor(self, min_batch: int = MIN_BATCH, learning="model", parts: bool = False):
        """A fresh :class:`tsae.monitor.Monitor` (scores, probabilities, flags, learning,
        channel parts) over scaled values: what batch, chunked and stream scoring push rows
        through."""
        from .monitor import Monitor

        return Monitor(self, min_batch=min_batch, learning=learning, parts=parts)

    def streaming(
        self,
        state: dict | None = None,
        on_error: str = "raise",
        threads: int | None = None,
        learning="model",
        explain: bool = False,
    ):
        """A :class:`tsae.streaming.StreamingScorer` for this detector (resumed from
        ``state`` if given; ``learning`` and ``explain`` as there)."""
        from .streaming import StreamingScorer

        return StreamingScorer(
            self, state=state, on_error=on_error, threads=threads, learning=learning, explain=explain
        )

    def _assess_scaled(self, scaled: np.ndarray, parts: bool = False):
        from .monitor import Assessment

        monitor = self._monitor(parts=parts)
        return Assessment.concat([monitor.push(scaled), monitor.flush()])

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError("this Detector is not fitted yet: call fit(data) or tsae.load(path) first")

    # ----------------------------------------------------------- persistence
    def _header(self) -> dict:
        """The model file's readable header (everything but the weights)."""
        self._check_fitted()
        return {
            "tsae_version": __version__,
            "params": self._file_params(),
            "model": {"name": self.model, "params": self.model_params_},
            "channels": self.channels_,
            "columns_explicit": self.columns is not None,
            "ignored_columns": list(self.ignored_columns_),
            "timestamp": self.timestamp_,
            "window": self.window_,
            "score_mode": self.score_mode,
            "stride": self.stride_,
            "channel_weights": self.channel_weights_.tolist(),
            **({"neighbors": self.neighbors_.to_dict()} if self.neighbors_ is not None else {}),
            "scaler": self.scaler_.to_dict(),
            "max_gap": int(self.max_gap),
            "threshold": self.threshold_.to_dict(),
            "events": self.events_.to_dict(),
            "calibration": self.calibration_,
            "settings": {
                "noise": self.noise,
                "seed": int(self.seed),
                "val_fraction": self.val_fraction,
                "learning": None if self.learning_ is None else self.learning_.to_dict(),
            },
            "training": self.training_,
        }

    def _file_params(self) -> dict:
        """The constructor's parameters as plain data (``load`` rebuilds ``cls(**params)``);
        the run-time ones (device, threads, progress) are the loader's to choose."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in _RUNTIME_PARAMS}
        if isinstance(params["threshold"], Threshold):
            params["threshold"] = params["threshold"].spec()
        if isinstance(params["events"], EventRules):
            params["events"] = params["events"].to_dict()
        if isinstance(params["learning"], LearningSettings):
            params["learning"] = params["learning"].to_dict()
        return params

    def save(self, path: str | os.PathLike, expect=ANY) -> None:
        """Write the model file (header + weights, checksummed, written atomically).
        ``expect``: replace ``path`` only if it is still the file with this
        ``tsae.atomic.file_identity`` (None: only if there is none); ChangedError otherwise."""
        save_model_file(path, self._header(), self._weights(), expect)

    def to_bytes(self) -> bytes:
        """The model file's bytes (what ``save`` writes), for a database, a Spark table
        or a message; ``tsae.loads`` reads them back (checksum verified)."""
        return model_bytes(self._header(), self._weights())

    def fingerprint(self) -> str:
        """A checksum of what the scores depend on: weights, channels, window, score mode,
        scaler, channel weights and max_gap (not the cutoff or event rules). Equal for the
        same model saved and loaded (or sent as bytes); a stream state records it."""
        from .streaming import model_fingerprint

        self._check_fitted()
        return model_fingerprint(self)

    def _weights(self) -> dict:
        weights = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        if self.neighbors_ is not None:
            weights["neighbors.reference"] = self.neighbors_.reference.detach().cpu()
        return weights

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "auto", threads: int | None = None) -> Detector:
        """Load a model file written by ``save``; see ``tsae.load``."""
        header, weights = load_model_file(path)
        return cls._from_parts(header, weights, path, device, threads)

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "auto", threads: int | None = None) -> Detector:
        """Load the bytes of ``to_bytes`` (or of a model file); see ``tsae.loads``."""
        header, weights = load_model_bytes(data)
        return cls._from_parts(header, weights, "model bytes", device, threads)

    @classmethod
    def _from_parts(cls, header: dict, weights: dict, source, device: str, threads) -> Detector:
        """A fitted Detector from a model's checked header and weights."""
        validate_header(header, weights, source)  # nothing below can fail on the file's content
        channels = header["channels"]
        if header.get("params") is not None:  # the constructor's parameters, as the user gave them
            det = cls(**params_from_file(header["params"]), device=device, threads=threads)
        else:  # files written before the parameters were stored: what the header implies
            det = _from_old_header(cls, header, device, threads)
        det.timestamp_, det.channels_ = header["timestamp"], channels
        det.ignored_columns_ = header.get("ignored_columns", [])  # absent in files written before it existed
        det.n_features_in_, det.window_ = len(channels), header["window"]
        det.stride_ = header.get("stride", 1)  # files written before strides scored every window
        det.scaler_ = Scaler.from_dict(header["scaler"], len(channels))
        det.channel_weights_ = _channel_weights(header)
        weights = dict(weights)
        reference = weights.pop("neighbors.reference", None)
        det.neighbors_ = (
            None
            if reference is None
            else NearestWindows.from_parts(header["neighbors"], reference, resolve_device(device))
        )
        # the weight the scores use; files written before the distance existed scored without it
        det.discord = 0.0 if det.neighbors_ is None else det.neighbors_.weight
        det.threshold_ = threshold_from_dict(header["threshold"])
        det.events_ = EventRules.from_dict(header["events"])
        # files written before calibration existed start from a fresh calibrator
        det.calibration_ = header.get("calibration")
        det.learning_ = LearningSettings.parse(header["settings"].get("learning"))
        det.model_params_ = model_params_from_file(det.model, header["model"]["params"])
        det.training_ = header["training"]
        det.device_ = resolve_device(device)
        det.module_, _ = build_model(det.model, det.n_features_in_, det.window_, det.model_params_)
        Regularizer.parse(det.regularizer).attach(det.module_, det.model_params_["latent"])
        det.module_.load_state_dict(weights)
        det.module_.to(det.device_).eval()
        return det


def params_from_file(params: dict) -> dict:
    """The constructor arguments stored by ``Detector.save`` (``header["params"]``), with
    the threshold rebuilt (unfitted) from its spec."""
    params = dict(params)
    if isinstance(params.get("threshold"), dict):
        params["threshold"] = threshold_from_spec(params["threshold"], "params.threshold")
    return params


def _from_old_header(cls, header: dict, device: str, threads) -> Detector:
    """A Detector for a file without ``params``: the parameters its header implies."""
    channels = header["channels"]
    det = cls(
        header["model"]["name"],
        window=header["window"],
        score_mode=header["score_mode"],
        scaling=header["scaler"]["method"],
        model_params=header["model"]["params"],
        max_gap=header["max_gap"],
        columns=channels if header["columns_explicit"] else None,
        timestamp=header["timestamp"],
        device=device,
        threads=threads,
        **header["settings"],
    )
    det.threshold = threshold_from_spec(threshold_from_dict(header["threshold"]).spec())
    det.events = header["events"]
    return det


def load(path: str | os.PathLike, device: str = "auto", threads: int | None = None) -> Detector:
    """Load a fitted Detector from a model file.

    Never executes code from the file. Verifies the format version and the checksum,
    then every header field against the others and against the weights
    (``tsae.header.validate_header``).

    Parameters
    ----------
    path : str or os.PathLike
        The model file (``model.tsae``).
    device : str, default "auto"
        ``auto``, ``cpu`` or ``cuda[:N]``.
    threads : int, optional
        torch CPU threads (see ``tsae.runtime``).

    Returns
    -------
    Detector
        Fitted, ready to score.

    Raises
    ------
    ModelFileError
        One line naming the file (and the field, for a header that does not make
        sense): missing, not a tsae model, truncated, corrupt, of another format
        version, or inconsistent.
    """
    return Detector.from_file(path, device=device, threads=threads)


def loads(data: bytes, device: str = "auto", threads: int | None = None) -> Detector:
    """A fitted Detector from the bytes of ``Detector.to_bytes`` (or of a model file):
    the same checks as :func:`load` (format version, checksum, every header field);
    ModelFileError naming "model bytes" otherwise. Never executes code from the data."""
    return Detector.from_bytes(data, device=device, threads=threads)


def _channel_weights(header: dict) -> np.ndarray | None:
    """The (validated) header's per-channel error weights (None in files written before
    they existed: those models score unweighted errors, as they did then)."""
    weights = header.get("channel_weights")
    return None if weights is None else np.asarray(weights, dtype=np.float64)


def _event_rules(events) -> EventRules:
    if events is None:
        return EventRules()
    if isinstance(events, EventRules):
        return copy.deepcopy(events)
    if isinstance(events, dict):
        unknown = set(events) - {"merge_gap", "min_length", "cooldown"}
        if unknown:
            raise ConfigError(
                f"events has no rule {', '.join(sorted(unknown))}; rules: merge_gap, min_length, cooldown"
            )
        return EventRules(**events)
    raise ConfigError(f"events must be an EventRules, a dict or None, got {events!r}")


def _warn_thin_tail(threshold: Threshold, val_scores: np.ndarray, source: str) -> None:
    """TsaeWarning when the cutoff rests on fewer than MIN_TAIL_SCORES distinct validation
    scores (with a stride, the points between two scored windows share one score; a
    ``probability`` level rests on no score: never)."""
    if getattr(threshold, "on_probability", False):
        return
    scores = val_scores[np.isfinite(val_scores)]
    above = len(np.unique(scores[scores >= threshold.cutoff_]))
    if above < MIN_TAIL_SCORES:
        warnings.warn(
            f"{source}: the cutoff {threshold.cutoff_:.4g} ({threshold}) rests on {above} of "
            f"{len(scores)} validation scores, too few to trust; fit on more normal rows, or "
            f"set it on more data with calibrate",
            TsaeWarning,
            stacklevel=3,
        )


def _names(columns) -> str:
    return ", ".join(map(str, columns))


def _as_frame(data, source: str, channels: list | None = None) -> tuple[pd.DataFrame, str]:
    """DataFrame, path or array (n,) / (n, C) -> (DataFrame, name for messages).
    ``channels``: the fitted channels; an array must have as many columns, which
    take their names (``x0, x1, ...`` when fitting on an array)."""
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
    if channels is not None and arr.shape[1] != len(channels):
        raise DataError(f"model has {len(channels)} channels, {source} has {arr.shape[1]}")
    names = list(channels) if channels is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=names), source


# ------------------------------------------------------------- fit limits
def _split(n_rows: int, window: int, val_fraction: float) -> tuple[int, int]:
    """(training rows, validation rows): the trailing ``val_fraction`` validates, but
    never fewer rows than ``MIN_VAL_WINDOWS`` windows need."""
    n_val = max(int(round(n_rows * val_fraction)), window - 1 + MIN_VAL_WINDOWS)
    return n_rows - n_val, n_val


def _min_rows(window: int, val_fraction: float) -> int:
    """Fewest rows that leave ``MIN_TRAIN_WINDOWS`` training windows after the split."""
    need = window - 1 + MIN_TRAIN_WINDOWS
    n = max(window - 1 + MIN_VAL_WINDOWS + need, int((need - 1) / (1 - val_fraction)))  # a lower bound
    while _split(n, window, val_fraction)[0] < need:  # training rows grow by 0 or 1 a row
        n += 1
    return n


def _longest_window(n_rows: int, val_fraction: float) -> int:
    """Longest window that ``n_rows`` rows suffice for (the inverse of ``_min_rows``)."""
    both = (n_rows - MIN_TRAIN_WINDOWS - MIN_VAL_WINDOWS) // 2 + 1  # validation enlarged to its minimum
    train = n_rows - int(round(n_rows * val_fraction)) - MIN_TRAIN_WINDOWS + 1  # validation at val_fraction
    return min(both, train)


def _too_short(source: str, n_rows: int, window: int, val_fraction: float, automatic: bool = False) -> str:
    """The message for data too short for ``window`` (naming ``val_fraction`` when it,
    not the window minimums, sets the number of rows needed)."""
    need = _min_rows(window, val_fraction)
    which = " (the shortest automatic window)" if automatic else ""
    by_windows = 2 * (window - 1) + MIN_TRAIN_WINDOWS + MIN_VAL_WINDOWS
    held_out = f" with val_fraction {val_fraction:g}" if need > by_windows else ""
    return (
        f"{source} has {n_rows} rows; window {window}{which} needs at least {need} rows "
        f"({MIN_TRAIN_WINDOWS} training + {MIN_VAL_WINDOWS} validation windows{held_out})"
    )


# ---------------------------------------------------------------- options
def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _valid_events(value) -> bool:
    return (
        value is None
        or isinstance(value, EventRules)
        or (isinstance(value, dict) and all(isinstance(key, str) for key in value))
    )


# (option, what it must be, test); the training settings are TrainConfig's to check.
_OPTION_RULES = (
    ("model", "a model name (str)", lambda v: isinstance(v, str)),
    ("window", "an integer >= 2 or 'auto'", lambda v: v == "auto" if isinstance(v, str) else _is_int(v) and v >= 2),
    ("val_fraction", "a number between 0 and 1 (exclusive)", lambda v: _is_real(v) and 0 < v < 1),
    ("max_gap", "an integer >= 0", lambda v: _is_int(v) and v >= 0),
    ("seed", "an integer", _is_int),
    ("threads", "None or an integer >= 1", lambda v: v is None or (isinstance(v, int) and _is_int(v) and v >= 1)),
    ("timestamp", "None or a column name (str)", lambda v: v is None or isinstance(v, str)),
    ("noise", "a string: gaussian:STD, mask:P or none", lambda v: isinstance(v, str)),
    ("scaling", f"one of {', '.join(SCALINGS)}", lambda v: isinstance(v, str) and v in SCALINGS),
    ("score_mode", f"one of {', '.join(MODES)}", lambda v: isinstance(v, str) and v in MODES),
    ("discord", "a number >= 0", lambda v: _is_real(v) and 0 <= v < math.inf),
    ("stride", "an integer >= 1 or 'auto'", lambda v: v == "auto" if isinstance(v, str) else _is_int(v) and v >= 1),
    ("threshold", "a string such as 'percentile:99.5' or a Threshold", lambda v: isinstance(v, (str, Threshold))),
    ("events", "an EventRules, a dict or None (rules: merge_gap, min_length, cooldown)", _valid_events),
    ("model_params", "a dict or None", lambda v: v is None or isinstance(v, dict)),
    ("device", "a string: auto, cpu or cuda[:N]", lambda v: isinstance(v, str)),
    ("progress", "True or False", lambda v: isinstance(v, bool)),
)


def _check_options(det: Detector) -> None:
    """ConfigError naming the first of ``det``'s options of the wrong type or out of range."""
    for name, expected, valid in _OPTION_RULES:
        value = getattr(det, name)
        if not valid(value):
            raise ConfigError(f"{name} must be {expected}, got {value!r}")
    _check_columns_option(det.columns)


def _check_columns_option(columns) -> None:
    if columns is None:
        return
    if isinstance(columns, str):
        raise ConfigError(f"columns must be a list of column names, not a string: pass columns=[{columns!r}]")
    if not isinstance(columns, (list, tuple)) or not columns or not all(isinstance(c, str) for c in columns):
        raise ConfigError(f"columns must be a non-empty list of column names (str), got {columns!r}")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ConfigError(f"columns names {', '.join(repeated)} more than once; each column can be a channel once")
