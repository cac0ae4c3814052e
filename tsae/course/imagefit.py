"""Train the image autoencoders and use them: reconstruct, encode, decode, score."""

from __future__ import annotations

import numpy as np
import torch

from ..corruption import Corruption
from ..models import build_image_model, squared_error
from ..regularizers import Regularizer
from ..training import TrainConfig, fit_examples

BATCH = 512  # images per forward pass at inference


def course_config(epochs: int, n_train: int, batch_size: int = 128) -> TrainConfig:
    """The course's optimiser settings: Adam, lr 1e-3, weight decay 1e-5, every
    training image once per epoch, early stopping after 3 flat epochs."""
    return TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=1e-3, weight_decay=1e-5, patience=3, max_windows=n_train
    )


def fit_image_model(
    name: str,
    images: np.ndarray,
    params: dict | None = None,
    noise: str = "none",
    epochs: int = 10,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str = "cpu",
    val_fraction: float = 0.1,
    progress: bool = False,
    regularizer: str = "none",
):
    """Train image model ``name`` on ``images`` (n, 28, 28) in [0, 1].

    The last ``val_fraction`` of the (already shuffled) images is held out for early
    stopping. ``noise`` is a ``Corruption`` spec (``mask:0.3`` is the course's
    dropout-mask denoiser), ``regularizer`` a ``tsae.regularizers`` spec. Returns
    ``(model, summary)``; the model is in eval mode.
    """
    device = torch.device(device)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)[:, None], device=device)  # (n, 1, 28, 28)
    n_val = max(1, int(round(len(x) * val_fraction)))
    torch.manual_seed(seed)
    model, resolved = build_image_model(name, params)
    code_regularizer = Regularizer.parse(regularizer)
    code_regularizer.attach(model, resolved["latent"])
    summary = fit_examples(
        model,
        x[:-n_val],
        x[-n_val:],
        Corruption.parse(noise),
        course_config(epochs, len(x) - n_val, batch_size),
        device,
        seed,
        progress,
        code_regularizer,
    )
    summary.update(
        model=name, params=resolved, regularizer=str(code_regularizer), train_images=len(x) - n_val, val_images=n_val
    )
    return model, summary


def _batches(model: torch.nn.Module, array: np.ndarray, fn) -> np.ndarray:
    """``fn(model, batch)`` over ``array`` in batches of BATCH, concatenated as numpy."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(array), BATCH):
            batch = torch.as_tensor(np.asarray(array[i : i + BATCH], dtype=np.float32), device=device)
            out.append(fn(model, batch).cpu().numpy())
    return np.concatenate(out)


def reconstruct(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Reconstructions of ``images`` (n, 28, 28) -> (n, 28, 28)."""
    return _batches(model, images, lambda m, b: m(b[:, None])[:, 0])


def reconstruction_errors(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Mean squared error per image (n, 28, 28) -> (n,): the anomaly score."""
    return _batches(model, images, lambda m, b: squared_error(m, b[:, None]).mean(dim=(1, 2, 3))).astype(np.float64)


def encode(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """Latent codes of ``images`` (n, 28, 28) -> (n, latent)."""
    return _batches(model, images, lambda m, b: m.encode(b[:, None]))


def decode(model: torch.nn.Module, codes: np.ndarray) -> np.ndarray:
    """Images decoded from ``codes`` (n, latent) -> (n, 28, 28)."""
    return _batches(model, codes, lambda m, b: m.decode(b)[:, 0])
