"""Peer detectors for benchmarks/accuracy.py, each configured as its reference implementation.

Every peer has the same interface::

    peer = make_peer("iforest", seed=0)
    peer.fit(train)            # train: (n_train, C) float array, rows [0, train_end)
    scores = peer.score(x)     # x: (n, C), the whole series; -> (n,) float64, higher = more anomalous
    peer.info                  # dict of the settings actually used (window, components, epochs, ...)

Shared rules (the same for every peer, so that only the detector differs):

* **Scaling**: every channel is z-scored with the mean and standard deviation of the
  training rows (a constant channel gets scale 1).
* **Window** (window-based peers): ``tsae.windows.auto_window(train)``, the period-based
  window tsae itself uses (TSB-AD's Sub-* methods use the period too: ``find_length_rank``).
  LSTMAD keeps its reference window of 100 (TSB-AD's tuned value for it).
* **Window score -> point score** (IForest, Sub-PCA, PyOD AutoEncoder, matrix profile):
  TSB-AD's rule. The score of the window starting at row ``i`` is given to its centre row
  ``i + ceil((W - 1) / 2)``; the first ``ceil((W-1)/2)`` rows take the first window's score
  and the last ``floor((W-1)/2)`` rows the last window's (``center_scores``).
* **Threads**: none of the peers starts threads of its own (n_jobs=1); the caller limits
  torch, BLAS/OpenMP and numba to one thread per process.

References (TSB-AD 1.5 = the ``TSB-AD`` package on PyPI, ``TSB_AD/HP_list.py`` and
``TSB_AD/model_wrapper.py``; its tuned "Optimal_Uni_algo_HP_dict" / "Optimal_Multi_algo_HP_dict"):

* ``iforest``: TSB-AD ``Sub_IForest`` -- scikit-learn IsolationForest on flattened windows,
  n_estimators=150, max_features=1.0 (univariate optimum); multivariate series use TSB-AD-M's
  optimum n_estimators=25, max_features=0.8. max_samples="auto", random_state=seed.
* ``subpca``: TSB-AD ``Sub_PCA`` -- PyOD's PCA detector on flattened windows (TSB-AD's PCA is a
  copy of it plus "zero pruning" of all-zero columns, reproduced here): standardised window
  columns, n_components=None (all; univariate optimum) or 0.25 (TSB-AD-M optimum) for
  multivariate series, weighted=True; score = sum over the components of the distance to each
  eigenvector divided by its explained-variance ratio (PyOD's PCA score, not a plain
  reconstruction error).
* ``pyod_ae``: ``pyod.models.auto_encoder.AutoEncoder`` with PyOD's defaults as a user would
  call it (hidden [64, 32], 10 epochs, batch 32, lr 1e-3, dropout 0.2, batch norm, its own
  feature standardisation), fitted on the flattened training windows, scored with
  ``decision_function`` on every window.
* ``lstmad``: re-implementation of TSB-AD's ``LSTMAD`` (the PyPI package pins numpy<2 and
  cannot be installed next to this project's numpy 2). Encoder/decoder LSTMs (2 layers,
  hidden 20) forecasting the next point from the previous 100; Adam lr 8e-4, StepLR(5, 0.75),
  batch 128, up to 50 epochs with early stopping on the last 20% of the training rows
  (patience 3, delta 1e-4; like TSB-AD the last epoch's weights are kept and the loop ends at
  epoch 49 at the latest; unlike TSB-AD, early stopping is off when the validation rows hold no
  window, which would stop TSB-AD's loop after 4 epochs); score = squared prediction error averaged over channels, the first
  100 rows padded with the first score.
* ``mp``: matrix-profile discord distance with stumpy: AB-join (``stumpy.stump(T_A, m, T_B,
  ignore_trivial=False)``, z-normalised Euclidean distance) of every window of the series
  against the training rows, m = the window; score = distance to the nearest training window.
  Multivariate series: the mean over channels of the per-channel distances.
"""

from __future__ import annotations

import math

import numpy as np

from tsae.windows import auto_window, sliding_windows

__all__ = ["PEERS", "make_peer", "center_scores", "TrainScaler"]

# Windows scored per block (bounds the memory of the flattened copies).
SCORE_BLOCK = 32_768


class TrainScaler:
    """Per-channel z-score with the statistics of the training rows."""

    def fit(self, train: np.ndarray) -> TrainScaler:
        train = np.asarray(train, dtype=np.float64)
        self.mean_ = train.mean(axis=0)
        std = train.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_


def center_scores(window_scores: np.ndarray, window: int, n: int) -> np.ndarray:
    """TSB-AD's window -> point rule: window ``i`` scores row ``i + ceil((W-1)/2)``,
    edge rows repeat the first/last window score. ``len(window_scores) == n - W + 1``."""
    window_scores = np.asarray(window_scores, dtype=np.float64).ravel()
    if window_scores.shape[0] != n - window + 1:
        raise ValueError(f"{window_scores.shape[0]} window scores for n={n}, W={window}")
    head = math.ceil((window - 1) / 2)
    tail = (window - 1) // 2
    return np.concatenate([np.full(head, window_scores[0]), window_scores, np.full(tail, window_scores[-1])])


def _flat(x: np.ndarray, window: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Windows ``start..stop-1`` of ``x`` (n, C) flattened to (k, W*C), float64, contiguous."""
    w = sliding_windows(x, window)[start:stop]  # (k, W, C) view
    return np.ascontiguousarray(w.reshape(w.shape[0], -1))


class _WindowPeer:
    """Base for peers that score flattened sliding windows of the scaled series."""

    name = "?"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.info: dict = {}

    def fit(self, train: np.ndarray) -> _WindowPeer:
        train = _as_2d(train)
        self.window_ = auto_window(train)
        self.multivariate_ = train.shape[1] > 1
        self.scaler_ = TrainScaler().fit(train)
        self._fit_windows(_flat(self.scaler_.transform(train), self.window_))
        self.info.setdefault("window", self.window_)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        x = self.scaler_.transform(_as_2d(x))
        n_windows = x.shape[0] - self.window_ + 1
        parts = [
            self._score_windows(_flat(x, self.window_, s, min(s + SCORE_BLOCK, n_windows)))
            for s in range(0, n_windows, SCORE_BLOCK)
        ]
        return center_scores(np.concatenate(parts), self.window_, x.shape[0])

    def _fit_windows(self, windows: np.ndarray) -> None:
        raise NotImplementedError

    def _score_windows(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class IForestPeer(_WindowPeer):
    name = "iforest"

    def _fit_windows(self, windows):
        from sklearn.ensemble import IsolationForest

        n_estimators, max_features = (25, 0.8) if self.multivariate_ else (150, 1.0)
        self.model_ = IsolationForest(
            n_estimators=n_estimators, max_features=max_features, max_samples="auto", random_state=self.seed, n_jobs=1
        )
        self.model_.fit(windows)
        self.info.update(n_estimators=n_estimators, max_features=max_features, train_windows=len(windows))

    def _score_windows(self, windows):
        return -self.model_.score_samples(windows)


class SubPCAPeer(_WindowPeer):
    name = "subpca"

    def _fit_windows(self, windows):
        from pyod.models.pca import PCA

        # TSB-AD's zero pruning: columns without variation in training carry nothing and would
        # give components of zero variance (division by zero in the weighted score).
        self.keep_ = windows.std(axis=0) > 0
        n_components = 0.25 if self.multivariate_ else None
        self.model_ = PCA(n_components=n_components, weighted=True, standardization=True, random_state=self.seed)
        self.model_.fit(windows[:, self.keep_])
        self.info.update(
            n_components=n_components if n_components is not None else "all",
            components_kept=int(self.model_.n_components_),
            features=int(self.keep_.sum()),
            train_windows=len(windows),
        )

    def _score_windows(self, windows):
        return self.model_.decision_function(windows[:, self.keep_])


class PyODAutoEncoderPeer(_WindowPeer):
    name = "pyod_ae"

    def _fit_windows(self, windows):
        from pyod.models.auto_encoder import AutoEncoder

        # PyOD defaults; only the seed, silence and the device are set.
        self.model_ = AutoEncoder(random_state=self.seed, verbose=0, device="cpu")
        self.model_.fit(windows)
        self.info.update(
            hidden=list(self.model_.hidden_neuron_list),
            epochs=self.model_.epoch_num,
            batch_size=self.model_.batch_size,
            train_windows=len(windows),
        )

    def _score_windows(self, windows):
        return self.model_.decision_function(windows)


class MatrixProfilePeer:
    """Distance of every window to its nearest training window (stumpy AB-join)."""

    name = "mp"

    def __init__(self, seed: int = 0):
        self.seed = seed  # deterministic; kept for the uniform interface
        self.info: dict = {}

    def fit(self, train: np.ndarray) -> MatrixProfilePeer:
        train = _as_2d(train)
        self.window_ = auto_window(train)
        self.scaler_ = TrainScaler().fit(train)
        self.train_ = self.scaler_.transform(train)
        self.info.update(window=self.window_, normalize=True)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        import stumpy

        x = self.scaler_.transform(_as_2d(x))
        m, n_train = self.window_, self.train_.shape[0]
        n_windows = x.shape[0] - m + 1
        # Windows lying wholly in the training rows are themselves training windows: their
        # nearest training window is themselves, distance 0. Only the others are joined.
        first = 0
        if x.shape[0] >= n_train and np.array_equal(x[:n_train], self.train_):
            first = n_train - m + 1
        dist = np.zeros(n_windows)
        for c in range(x.shape[1]):
            if first < n_windows:
                mp = stumpy.stump(x[first:, c], m, self.train_[:, c], ignore_trivial=False)
                dist[first:] += mp[:, 0].astype(np.float64)
        dist /= x.shape[1]
        self.info["windows_joined"] = int(n_windows - first)
        return center_scores(dist, m, x.shape[0])


class LSTMADPeer:
    """TSB-AD's LSTMAD (forecasting LSTM), re-implemented with its reference settings."""

    name = "lstmad"
    WINDOW, HIDDEN, LAYERS, BATCH, EPOCHS, LR, VAL = 100, 20, 2, 128, 50, 8e-4, 0.2
    PATIENCE, DELTA = 3, 1e-4

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.info: dict = {}

    def fit(self, train: np.ndarray) -> LSTMADPeer:
        import torch
        from torch import nn

        train = _as_2d(train)
        self.scaler_ = TrainScaler().fit(train)
        z = self.scaler_.transform(train).astype(np.float32)
        # TSB-AD splits the training rows 80/20 (train/validation) before windowing.
        cut = int((1 - self.VAL) * len(z))
        self.window_ = self.WINDOW if cut > self.WINDOW + 1 else max(2, cut // 2)
        feats = z.shape[1]
        torch.manual_seed(self.seed)
        self.model_ = _LSTMForecaster(feats, self.HIDDEN, self.LAYERS)
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.LR)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.75)
        loss_fn = nn.MSELoss()
        xt, yt = _forecast_pairs(z[:cut], self.window_)
        xv, yv = _forecast_pairs(z[cut:], self.window_)
        gen = torch.Generator().manual_seed(self.seed)
        best, bad, epochs = None, 0, 0
        for epoch in range(1, self.EPOCHS + 1):
            epochs = epoch
            self.model_.train()
            for idx in torch.randperm(len(xt), generator=gen).split(self.BATCH):
                opt.zero_grad()
                loss = loss_fn(self.model_(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            self.model_.eval()
            total, batches = 0.0, 0
            with torch.no_grad():
                for s in range(0, len(xv), self.BATCH):
                    total += loss_fn(self.model_(xv[s : s + self.BATCH]), yv[s : s + self.BATCH]).item()
                    batches += 1
            val = total / max(batches, 1)
            sched.step()
            # TSB-AD's EarlyStoppingTorch(patience=3, delta=1e-4); weights are not restored.
            if best is None or -val >= best + self.DELTA:
                best, bad = -val, 0
            else:
                bad += 1
            # Deviation: with no validation window (training part < 5 * (window + 1) rows) TSB-AD
            # compares losses of 0 and stops after 4 epochs, i.e. 4 optimiser steps on a short
            # series; here early stopping is then off and every epoch runs.
            if (len(xv) and bad >= self.PATIENCE) or epoch == self.EPOCHS - 1:
                break
        self.info.update(
            window=self.window_,
            hidden=self.HIDDEN,
            layers=self.LAYERS,
            batch_size=self.BATCH,
            lr=self.LR,
            epochs_run=epochs,
            train_windows=len(xt),
            val_windows=len(xv),
        )
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        import torch

        z = self.scaler_.transform(_as_2d(x)).astype(np.float32)
        w = self.window_
        n_pairs = len(z) - w
        out = np.empty(n_pairs)
        self.model_.eval()
        with torch.no_grad():
            for s in range(0, n_pairs, 4096):
                e = min(s + 4096, n_pairs)
                xb = torch.from_numpy(np.ascontiguousarray(sliding_windows(z, w)[s:e]))
                yb = torch.from_numpy(z[s + w : e + w])
                out[s:e] = (self.model_(xb) - yb).pow(2).mean(dim=1).double().numpy()
        return np.concatenate([np.full(w, out[0]), out])


class _LSTMForecaster:
    """TSB-AD's LSTMModel for pred_len=1: encoder LSTM over the window, a decoder LSTM step
    from a zero input and the encoder state, GELU, linear to the channels."""

    def __new__(cls, feats: int, hidden: int, layers: int):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm_encoder = nn.LSTM(feats, hidden, num_layers=layers, batch_first=True)
                self.lstm_decoder = nn.LSTM(feats, hidden, num_layers=layers, batch_first=True)
                self.relu = nn.GELU()
                self.fc = nn.Linear(hidden, feats)

            def forward(self, src):  # (B, W, C) -> (B, C)
                _, state = self.lstm_encoder(src)
                dec_in = torch.zeros(src.shape[0], 1, feats, dtype=src.dtype)
                out, _ = self.lstm_decoder(dec_in, state)
                return self.fc(self.relu(out))[:, 0, :]

        return Net()


def _forecast_pairs(z: np.ndarray, window: int):
    """(inputs (k, W, C), targets (k, C)) torch tensors: window ``i`` predicts row ``i + W``."""
    import torch

    k = max(len(z) - window, 0)
    if k == 0:
        return torch.zeros(0, window, z.shape[1]), torch.zeros(0, z.shape[1])
    xs = np.ascontiguousarray(sliding_windows(z, window)[:k])
    return torch.from_numpy(xs), torch.from_numpy(np.ascontiguousarray(z[window : window + k]))


def _as_2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


PEERS = {
    "iforest": IForestPeer,
    "subpca": SubPCAPeer,
    "pyod_ae": PyODAutoEncoderPeer,
    "lstmad": LSTMADPeer,
    "mp": MatrixProfilePeer,
}


def make_peer(name: str, seed: int = 0):
    try:
        return PEERS[name](seed=seed)
    except KeyError:
        raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}") from None
