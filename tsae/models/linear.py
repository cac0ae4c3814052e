"""The course's linear (fully connected) image autoencoder."""

from __future__ import annotations

import torch
from torch import nn

from . import MAX_UNITS, register_model

PIXELS = 28 * 28


def stack(sizes: list[int], act: type[nn.Module], last: nn.Module | None = None) -> nn.Sequential:
    """Linear layers through ``sizes`` with ``act`` between them; ``last`` after the final layer."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


class FlatImageAE(nn.Module):
    """An autoencoder of flattened 28x28 images: ``encoder`` maps 784 pixels to the
    code, ``decoder`` maps the code back through a sigmoid to pixels in [0, 1]."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_filter(self.encoder(x.flatten(1)))  # (B, 1, 28, 28) -> (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)  # (B, latent) -> (B, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@register_model("linear", flavour="image")
class LinearAE(FlatImageAE):
    """784 -> 128 -> 64 -> 12 -> ``latent`` (ReLU between layers, linear code) and the
    mirror image back to 784 with a sigmoid: the course's linear autoencoder
    (trained there with Adam, lr 1e-3, weight decay 1e-5)."""

    def __init__(self, latent: int = 2):
        super().__init__()
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here
        sizes = [PIXELS, 128, 64, 12, latent]
        self.encoder = stack(sizes, nn.ReLU)
        self.decoder = stack(sizes[::-1], nn.ReLU, last=nn.Sigmoid())

    @staticmethod
    def default_params() -> dict:
        return {"latent": 2}

    @staticmethod
    def param_limits(window: None) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why."""
        return {"latent": (MAX_UNITS, "units of the code")}
