"""The course's "diabolo" MLP autoencoder on flattened windows."""

from __future__ import annotations

import torch
from torch import nn

from . import MAX_LAYERS, MAX_UNITS, register_model


@register_model("dense")
class DenseAE(nn.Module):
    """Flattened window -> ``depth`` hidden layers halving from ``width`` -> ``latent``
    units, then the mirror image back to the window (ReLU between layers, linear output).
    """

    def __init__(self, n_channels: int, window: int, latent: int = 8, width: int = 64, depth: int = 2):
        super().__init__()
        sizes = [window * n_channels] + [max(width // 2**i, latent) for i in range(depth)] + [latent]
        enc, dec = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        for a, b in zip(sizes[::-1][:-1], sizes[::-1][1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc[:-1])  # the code is linear
        self.decoder = nn.Sequential(*dec[:-1])  # so is the output
        self.window, self.n_channels = window, n_channels
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here

    @staticmethod
    def default_params() -> dict:
        return {"latent": 8, "width": 64, "depth": 2}

    @staticmethod
    def param_limits(window: int) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why."""
        return {
            "latent": (MAX_UNITS, "units of the code"),
            "width": (MAX_UNITS, "units of the first hidden layer"),
            "depth": (MAX_LAYERS, "hidden layers"),
        }

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_filter(self.encoder(x.flatten(1)))  # (B, W, C) -> (B, W*C) -> (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, self.window, self.n_channels)  # (B, latent) -> (B, W*C) -> (B, W, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
