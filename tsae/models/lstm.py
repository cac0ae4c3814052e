"""LSTM encoder-decoder autoencoder."""

from __future__ import annotations

import torch
from torch import nn

from . import MAX_LAYERS, MAX_UNITS, register_model


@register_model("lstm")
class LstmAE(nn.Module):
    """An LSTM reads the window; its last hidden state goes through a ``latent``-unit
    bottleneck, is repeated at every time step and decoded by a second LSTM and a
    linear read-out (Malhotra et al. 2016 style, without teacher forcing).
    """

    def __init__(self, n_channels: int, window: int, latent: int = 16, width: int = 32, depth: int = 1):
        super().__init__()
        self.encoder = nn.LSTM(n_channels, width, num_layers=depth, batch_first=True)
        self.to_latent = nn.Linear(width, latent)
        self.from_latent = nn.Linear(latent, width)
        self.decoder = nn.LSTM(width, width, num_layers=depth, batch_first=True)
        self.readout = nn.Linear(width, n_channels)
        self.window = window
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here

    @staticmethod
    def default_params() -> dict:
        return {"latent": 16, "width": 32, "depth": 1}

    @staticmethod
    def param_limits(window: int) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why."""
        return {
            "latent": (MAX_UNITS, "units of the code"),
            "width": (MAX_UNITS, "units of the LSTM state"),
            "depth": (MAX_LAYERS, "stacked LSTM layers"),
        }

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, W, C)
        _, (h, _) = self.encoder(x)  # h: (depth, B, width)
        return self.code_filter(self.to_latent(h[-1]))  # (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        seed = self.from_latent(z)  # (B, width)
        seq = seed.unsqueeze(1).expand(-1, self.window, -1)  # (B, W, width)
        out, _ = self.decoder(seq)  # (B, W, width)
        return self.readout(out)  # (B, W, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
