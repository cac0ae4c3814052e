"""Variational autoencoders (Kingma & Welling 2014): the encoder gives the mean and the
log-variance of a Gaussian code; training decodes a sample of it (the
reparameterisation trick) and adds ``beta`` times the KL divergence from N(0, I).

Each one is an existing layout whose code layer gives ``2 * latent`` numbers: ``vae``
(series, the ``conv1d`` layout), ``vae-conv`` and ``vae-linear`` (images, the course's
``conv2d`` and ``linear`` layouts). ``encode`` gives the mean code, so ``forward`` (and
every score) is the reconstruction of the mean: deterministic. The training loop
(``tsae.training``) uses ``encode_dist`` and :func:`kl_divergence` for models whose
``variational`` is True.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .conv1d import Conv1dAE
from .conv2d import Conv2dAE
from .linear import LinearAE


def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) of each code (B, latent) -> (B,)."""
    return -0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(dim=1)


class Variational:
    """Mixin: ``code(x)`` (B, 2 * latent) is split into the mean and the log-variance."""

    variational = True
    #: Parameters that are positive numbers, not whole numbers (see ``tsae.models``).
    FLOAT_PARAMS = ("beta",)

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance), each (B, latent)."""
        mean, log_var = self.code(x).chunk(2, dim=1)
        return mean, log_var

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_filter(self.encode_dist(x)[0])  # the mean code (B, latent)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I): generation."""
        param = next(self.parameters())
        z = torch.randn(n, self.latent, generator=generator, device=param.device, dtype=param.dtype)
        return self.decode(z)


@register_model("vae")
class Conv1dVAE(Variational, Conv1dAE):
    """The ``conv1d`` layout with a variational code (series: windows (B, W, C))."""

    def __init__(self, n_channels: int, window: int, latent: int = 16, width: int = 16, depth: int = 3, beta=1.0):
        super().__init__(n_channels, window, latent=latent, width=width, depth=depth)
        self.to_latent = nn.Linear(self.to_latent.in_features, 2 * latent)
        self.latent, self.beta = latent, float(beta)

    @staticmethod
    def default_params() -> dict:
        return {**Conv1dAE.default_params(), "beta": 1.0}

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))  # (B, W, C) -> (B, 2 * latent)


@register_model("vae-conv", flavour="image")
class ConvVAE(Variational, Conv2dAE):
    """The course's ``conv2d`` layout with a variational code (images (B, 1, 28, 28))."""

    def __init__(self, latent: int = 2, beta=1.0):
        super().__init__(latent=latent)
        self.encoder[-1] = nn.Conv2d(32, 2 * latent, 7)  # (B, 2 * latent, 1, 1)
        self.latent, self.beta = latent, float(beta)

    @staticmethod
    def default_params() -> dict:
        return {"latent": 2, "beta": 1.0}

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)  # (B, 1, 28, 28) -> (B, 2 * latent)


@register_model("vae-linear", flavour="image")
class LinearVAE(Variational, LinearAE):
    """The course's ``linear`` layout with a variational code (images (B, 1, 28, 28))."""

    def __init__(self, latent: int = 2, beta=1.0):
        super().__init__(latent=latent)
        self.encoder[-1] = nn.Linear(self.encoder[-1].in_features, 2 * latent)
        self.latent, self.beta = latent, float(beta)

    @staticmethod
    def default_params() -> dict:
        return {"latent": 2, "beta": 1.0}

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, 784) -> (B, 2 * latent)
