"""Where and on how many threads torch runs."""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import ConfigError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cpu``/``cuda``/``cuda:N`` are explicit."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available (use auto or cpu)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu or cuda[:N], got {device!r}") from None


def default_threads() -> int:
    """Threads for torch when the user does not choose: ``TSAE_THREADS`` if set, else
    ``OMP_NUM_THREADS`` if set (what a scheduler or the user gave the process; its first
    number), else half the cores this process may use (at least 1).

    Why not every core: these models are small, so a second intra-op thread gains
    little, while a thread that finds its core busy stalls every step (on a 2-core
    machine with the other core loaded, 2 threads ran 3x slower than 1, see
    benchmarks/results/speed.md). Set ``threads`` or ``TSAE_THREADS`` to use more.
    """
    env = os.environ.get("TSAE_THREADS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(f"TSAE_THREADS must be a positive integer, got {env!r}")
        return int(env)
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) >= 1:  # OpenMP's own syntax; anything else is OpenMP's to reject
        return int(omp)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // 2)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with torch on ``n`` intra-op threads (None: default_threads()),
    restoring the previous setting afterwards."""
    n = default_threads() if n is None else n
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"threads must be a positive integer, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(previous)
