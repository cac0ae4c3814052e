"""The course's convolutional image autoencoder."""

from __future__ import annotations

import torch
from torch import nn

from . import MAX_UNITS, register_model


@register_model("conv2d", flavour="image")
class Conv2dAE(nn.Module):
    """Conv2d 1->16 (3, stride 2, pad 1), ReLU, 16->32 (3, stride 2, pad 1), ReLU,
    32->``latent`` (7) to a ``latent`` x 1 x 1 code (the course uses 64), mirrored
    with ConvTranspose2d (output_padding 1) and a sigmoid output."""

    def __init__(self, latent: int = 64):
        super().__init__()
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),
            nn.ReLU(),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),  # (B, 32, 7, 7)
            nn.Conv2d(32, latent, 7),  # (B, latent, 1, 1)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent, 32, 7),
            nn.ReLU(),  # (B, 32, 7, 7)
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),  # (B, 16, 14, 14)
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
            nn.Sigmoid(),  # (B, 1, 28, 28)
        )

    @staticmethod
    def default_params() -> dict:
        return {"latent": 64}

    @staticmethod
    def param_limits(window: None) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why."""
        return {"latent": (MAX_UNITS, "units of the code")}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_filter(self.encoder(x).flatten(1))  # (B, 1, 28, 28) -> (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z[:, :, None, None])  # (B, latent) -> (B, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
