"""The autoencoder course's MNIST experiments, on tsae's own machinery.

Six experiments (``EXPERIMENTS``), each one function that trains the course's image
autoencoders (``linear``, ``mlp``, ``conv2d`` in ``tsae.models``, flavour
``image``) with tsae's training loop (``tsae.training.fit_examples``) and denoising
corruptions (``tsae.corruption``), scores with tsae's metrics and thresholds, and
writes PNG figures and a ``metrics.json`` into an output folder.
Run them with ``tsae mnist <experiment> --out DIR`` or ``run_experiment``.
"""

from .experiments import EXPERIMENTS, run_experiment  # noqa: E402

__all__ = ["EXPERIMENTS", "run_experiment"]
