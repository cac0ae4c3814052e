"""The autoencoder course's MNIST experiments, on tsae's own machinery.

Six experiments (``EXPERIMENTS``), each one function that trains the course's image
autoencoders (``linear``, ``mlp``, ``conv2d`` in ``tsae.models``, flavour
``image``) with tsae's training loop (``tsae.training.fit_examples``) and denoising
corruptions (``tsae.corruption``), scores with tsae's metrics and thresholds, and
writes PNG figures and a ``metrics.json`` into an output folder.
Run them with ``tsae mnist <experiment> --out DIR`` or ``run_experiment``.
"""

from .catalog import CATALOG

__all__ = ["CATALOG", "EXPERIMENTS", "run_experiment"]


def __getattr__(name):
    # The experiments import torch: load them on first use, so that reading the
    # catalog (``tsae --help``) stays fast.
    if name in ("EXPERIMENTS", "run_experiment"):
        from . import experiments

        return getattr(experiments, name)
    raise AttributeError(f"module 'tsae.course' has no attribute {name!r}")
