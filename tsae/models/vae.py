"""Variational autoencoders (Kingma & Welling 2014): the encoder gives the mean and the
log-variance of a Gaussian code; training decodes a sample of it (the
reparameterisation trick) and adds ``beta`` times the KL divergence from N(0, I).

Each one is an existing layout whose code layer gives ``2 * latent`` numbers: ``vae``
(series, the ``conv1d`` layout), ``vae-conv`` and ``vae-linear`` (images, the course's
``conv2d`` and ``linear`` layouts). ``encode`` gives the mean code, so ``forward`` (and
every score) is by default the reconstruction of the mean: deterministic. The training
loop (``tsae.training``) uses ``encode_dist`` and :func:`kl_divergence` for models whose
``variational`` is True.

``mc_samples=L`` (> 0) scores instead by Monte-Carlo reconstruction probability, as
Donut (Xu et al., WWW 2018) does: the expected log-likelihood of the window under codes
drawn from the encoder's Gaussian, ``E_q(z|x)[log p(x|z)]``, estimated with ``L`` draws.
tsae's decoder gives a mean only; with a unit-variance Gaussian around it,
``-log p(x|z) = ||x - decode(z)||^2 / 2 + const``, so the score is the squared error of
each element averaged over the ``L`` reconstructions (up to that scale and constant),
and it adds the decoder's spread under the code's uncertainty to the error of the mean.
The ``L`` standard-normal draws are the same for every window (common random numbers,
fixed by :data:`MC_SEED`): a window's score depends on that window alone, so scores are
deterministic and identical in batch, chunked and streamed scoring, and two windows'
scores differ by their data, not by their draws.
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


#: Seed of the standard-normal draws of Monte-Carlo scoring (``mc_samples``).
MC_SEED = 20180423
#: Bounds of the code's log-variance: an input far outside the training data (a burst
#: thousands of scales high) can push it past 176, where exp overflows float32 and a
#: Monte-Carlo score becomes inf. Within the bounds (normal data) nothing changes.
LOG_VAR_MIN, LOG_VAR_MAX = -30.0, 20.0
#: Most codes drawn per window by Monte-Carlo scoring (each one a decoder pass).
MAX_MC_SAMPLES = 1024


class Variational:
    """Mixin: ``code(x)`` (B, 2 * latent) is split into the mean and the log-variance."""

    variational = True
    #: Parameters that are positive numbers, not whole numbers (see ``tsae.models``).
    FLOAT_PARAMS = ("beta",)
    #: Parameters that may be 0 (see ``tsae.models``): no Monte-Carlo scoring.
    ZERO_PARAMS = ("mc_samples",)
    #: Parameters added after files were written, with the value those files mean.
    ADDED_PARAMS = {"mc_samples": 0}
    mc_samples = 0

    @classmethod
    def param_limits(cls, window) -> dict[str, tuple[int, str]]:
        """The layout's limits, and ``mc_samples``: each draw is a decoder pass per window."""
        return {**super().param_limits(window), "mc_samples": (MAX_MC_SAMPLES, "decoder passes per window")}

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance), each (B, latent); the log-variance within LOG_VAR_MIN..LOG_VAR_MAX."""
        mean, log_var = self.code(x).chunk(2, dim=1)
        return mean, log_var.clamp(LOG_VAR_MIN, LOG_VAR_MAX)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_filter(self.encode_dist(x)[0])  # the mean code (B, latent)

    def squared_error(self, x: torch.Tensor) -> torch.Tensor:
        """Squared error of each element of ``x`` (same shape): of the mean code's
        reconstruction, or with ``mc_samples`` L > 0 its mean over the reconstructions of
        L codes drawn from N(mean, exp(log_var)) (the module docstring says why)."""
        if not self.mc_samples:
            return (self(x) - x).square()
        mean, log_var = self.encode_dist(x)  # (B, latent) each
        std = (0.5 * log_var).exp()
        gen = torch.Generator().manual_seed(MC_SEED)
        eps = torch.randn(self.mc_samples, self.latent, generator=gen).to(mean)  # (L, latent), the same for every x
        total = torch.zeros_like(x)
        for e in eps:  # one decoder pass per draw: memory as for the mean code
            total += (self.decode(mean + std * e) - x).square()  # (B, *x.shape[1:])
        return total / self.mc_samples

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I): generation."""
        param = next(self.parameters())
        z = torch.randn(n, self.latent, generator=generator, device=param.device, dtype=param.dtype)
        return self.decode(z)


@register_model("vae")
class Conv1dVAE(Variational, Conv1dAE):
    """The ``conv1d`` layout with a variational code (series: windows (B, W, C))."""

    def __init__(
        self, n_channels: int, window: int, latent: int = 16, width: int = 16, depth: int = 3, beta=1.0, mc_samples=0
    ):
        super().__init__(n_channels, window, latent=latent, width=width, depth=depth)
        self.to_latent = nn.Linear(self.to_latent.in_features, 2 * latent)
        self.latent, self.beta, self.mc_samples = latent, float(beta), int(mc_samples)

    @staticmethod
    def default_params() -> dict:
        return {**Conv1dAE.default_params(), "beta": 1.0, "mc_samples": 0}

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))  # (B, W, C) -> (B, 2 * latent)


@register_model("vae-conv", flavour="image")
class ConvVAE(Variational, Conv2dAE):
    """The course's ``conv2d`` layout with a variational code (images (B, 1, 28, 28))."""

    def __init__(self, latent: int = 2, beta=1.0, mc_samples=0):
        super().__init__(latent=latent)
        self.encoder[-1] = nn.Conv2d(32, 2 * latent, 7)  # (B, 2 * latent, 1, 1)
        self.latent, self.beta, self.mc_samples = latent, float(beta), int(mc_samples)

    @staticmethod
    def default_params() -> dict:
        return {"latent": 2, "beta": 1.0, "mc_samples": 0}

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)  # (B, 1, 28, 28) -> (B, 2 * latent)


@register_model("vae-linear", flavour="image")
class LinearVAE(Variational, LinearAE):
    """The course's ``linear`` layout with a variational code (images (B, 1, 28, 28))."""

    def __init__(self, latent: int = 2, beta=1.0, mc_samples=0):
        super().__init__(latent=latent)
        self.encoder[-1] = nn.Linear(self.encoder[-1].in_features, 2 * latent)
        self.latent, self.beta, self.mc_samples = latent, float(beta), int(mc_samples)

    @staticmethod
    def default_params() -> dict:
        return {"latent": 2, "beta": 1.0, "mc_samples": 0}

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, 784) -> (B, 2 * latent)
