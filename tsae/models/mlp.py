"""The lab's multilayer-perceptron image autoencoder (tanh hidden layers)."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from . import MAX_UNITS, register_model
from .linear import PIXELS, FlatImageAE, stack


@register_model("mlp", flavour="image")
class MlpAE(FlatImageAE):
    """``depth=1``: 784 -> 128 -> ``latent``; ``depth=2``: 784 -> 256 -> 128 -> ``latent``
    (tanh hidden layers, linear code), mirrored back to 784 with a sigmoid output.
    The lab runs latent 2, 8 and 16."""

    def __init__(self, latent: int = 16, depth: int = 1):
        super().__init__()
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here
        if depth not in (1, 2):
            raise ConfigError(f"mlp depth must be 1 or 2 hidden layers, got {depth}")
        sizes = [PIXELS, *([256, 128] if depth == 2 else [128]), latent]
        self.encoder = stack(sizes, nn.Tanh)
        self.decoder = stack(sizes[::-1], nn.Tanh, last=nn.Sigmoid())

    @staticmethod
    def default_params() -> dict:
        return {"latent": 16, "depth": 1}

    @staticmethod
    def param_limits(window: None) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why (``depth`` is checked on construction)."""
        return {"latent": (MAX_UNITS, "units of the code")}
