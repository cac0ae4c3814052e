"""One training loop for every autoencoder: denoising, early stopping, progress."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict

import numpy as np
import torch

from .corruption import Corruption
from .options import TrainConfig  # noqa: F401  (re-exported: the training loop's settings)


def gather_windows(x: torch.Tensor, starts: torch.Tensor, window: int) -> torch.Tensor:
    """Windows of ``x`` (n, C) starting at ``starts`` (B,) -> (B, window, C)."""
    return x[starts[:, None] + torch.arange(window, device=x.device)]


class WindowSet:
    """The stride-1 windows of a series as a set of training examples.

    Indexing with a tensor of window starts ``(B,)`` gives ``(B, window, C)``; a
    plain tensor of images ``(N, 1, 28, 28)`` is indexed the same way, which is all
    ``fit_examples`` needs from its data.
    """

    def __init__(self, x: torch.Tensor, window: int):
        self.x, self.window = x, window

    def __len__(self) -> int:
        return len(self.x) - self.window + 1

    def __getitem__(self, starts: torch.Tensor) -> torch.Tensor:
        return gather_windows(self.x, starts, self.window)


def train_autoencoder(
    model: torch.nn.Module,
    train: np.ndarray,
    val: np.ndarray,
    window: int,
    corruption: Corruption,
    config: TrainConfig,
    device: torch.device,
    seed: int = 0,
    progress: bool = False,
    regularizer=None,
) -> dict:
    """Train ``model`` in place to reconstruct clean windows from corrupted ones.

    ``train`` (n, C) and ``val`` (m, C) are scaled float32 arrays, contiguous in time
    (``val`` follows ``train``: a chronological split); the examples are their
    stride-1 windows (see ``fit_examples``). Returns a JSON-ready summary.
    """
    train_set = WindowSet(torch.as_tensor(train, device=device), window)
    val_set = WindowSet(torch.as_tensor(val, device=device), window)
    summary = fit_examples(model, train_set, val_set, corruption, config, device, seed, progress, regularizer)
    summary["train_windows"], summary["val_windows"] = len(train_set), len(val_set)
    return summary


def fit_examples(
    model: torch.nn.Module,
    train,
    val,
    corruption: Corruption,
    config: TrainConfig,
    device: torch.device,
    seed: int = 0,
    progress: bool = False,
    regularizer=None,
) -> dict:
    """The training loop shared by every autoencoder (series windows and images).

    ``train`` and ``val`` are example sets on ``device``: ``len()`` and indexing by a
    tensor of indices ``(B,)`` giving a batch ``(B, ...)`` (a ``WindowSet`` or a
    tensor of images). Each epoch draws at most ``config.max_windows`` training
    examples at random; the loss is the MSE between the reconstruction of the
    corrupted batch and the clean batch. Adam's learning rate is ``config.lr`` times
    the model's ``lr_scale`` (1 when it has none; the lstm's is 10/3), recorded as the
    summary's ``lr``. The validation loss (clean input, up to
    ``max_windows`` evenly spaced examples) drives early stopping, and the best
    epoch's weights are kept. ``regularizer`` (``tsae.regularizers.Regularizer``) adds
    its penalty of the code to the training loss (the validation loss stays the plain
    MSE). Returns a JSON-ready summary (epochs run, best epoch, losses, seconds).
    """
    config.validate()
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    n_train, n_val = len(train), len(val)
    val_idx = torch.as_tensor(
        np.unique(np.linspace(0, n_val - 1, min(n_val, config.max_windows)).astype(np.int64)), device=device
    )
    model.to(device)
    lr = config.lr * getattr(model, "lr_scale", 1.0)  # a model may train at a multiple of lr (the lstm's 10/3)
    optim = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    history: list[dict] = []
    started = time.perf_counter()
    bar = _Progress(config.epochs, enabled=progress)
    for epoch in range(1, config.epochs + 1):
        model.train()
        idx = rng.permutation(n_train)[: config.max_windows]
        total = 0.0
        for i in range(0, len(idx), config.batch_size):
            clean = train[torch.as_tensor(idx[i : i + config.batch_size], device=device)]
            loss = _loss(model, corruption(clean, gen), clean, regularizer, gen)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += loss.item() * len(clean)
        train_loss = total / len(idx)
        val_loss = _mean_loss(model, val, val_idx, config.batch_size)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(model.state_dict()))
        bar.update(epoch, train_loss, val_loss)
        if epoch - best[1] >= config.patience:
            break
    bar.close()
    model.load_state_dict(best[2])
    model.eval()
    return {
        "config": asdict(config),
        "noise": str(corruption),
        "seed": seed,
        "lr": lr,  # the rate Adam used: config.lr times the model's lr_scale
        "epochs_run": len(history),
        "best_epoch": best[1],
        "best_val_loss": best[0],
        "seconds": round(time.perf_counter() - started, 3),
        "history": history,
    }


def _loss(model, noisy: torch.Tensor, clean: torch.Tensor, regularizer, gen) -> torch.Tensor:
    """Reconstruction MSE of ``noisy`` against ``clean``, plus the regulariser's penalty
    (and for a variational model ``beta`` times the KL divergence per input element)."""
    if getattr(model, "variational", False):
        return _variational_loss(model, noisy, clean, regularizer, gen)
    if regularizer is None or not regularizer.trains_on_code:
        return torch.nn.functional.mse_loss(model(noisy), clean)
    if regularizer.kind == "contractive":
        noisy = noisy.detach().requires_grad_(True)  # the Jacobian is taken with respect to the input
    code = model.encode(noisy)  # (B, latent)
    return torch.nn.functional.mse_loss(model.decode(code), clean) + regularizer.penalty(model, noisy, code, gen)


def _variational_loss(model, noisy, clean, regularizer, gen) -> torch.Tensor:
    """MSE of the reconstruction of a sampled code + beta * KL / elements per example
    (+ the regulariser's penalty of the mean code)."""
    from .models.vae import kl_divergence

    if regularizer is not None and regularizer.kind == "contractive":
        noisy = noisy.detach().requires_grad_(True)
    mean, log_var = model.encode_dist(noisy)  # (B, latent) each
    eps = torch.randn(mean.shape, generator=gen, device=mean.device, dtype=mean.dtype)
    recon = model.decode(mean + (0.5 * log_var).exp() * eps)  # the reparameterisation trick
    loss = (
        torch.nn.functional.mse_loss(recon, clean) + model.beta * kl_divergence(mean, log_var).mean() / clean[0].numel()
    )
    if regularizer is not None and regularizer.trains_on_code:
        loss = loss + regularizer.penalty(model, noisy, mean, gen)
    return loss


@torch.no_grad()
def _mean_loss(model, examples, idx, batch_size) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(idx), batch_size):
        clean = examples[idx[i : i + batch_size]]
        total += torch.nn.functional.mse_loss(model(clean), clean, reduction="sum").item()
        count += clean.numel()
    return total / count


class _Progress:
    """A rich progress bar on stderr with epoch and losses; silent when disabled."""

    def __init__(self, epochs: int, enabled: bool):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[losses]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("fit", total=epochs, losses="")

    def update(self, epoch: int, train_loss: float, val_loss: float) -> None:
        if self.bar:
            self.bar.update(self.task, completed=epoch, losses=f"train {train_loss:.4f}  val {val_loss:.4f}")

    def close(self) -> None:
        if self.bar:
            self.bar.stop()
