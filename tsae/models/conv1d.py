"""1-D convolutional autoencoder over windows."""

from __future__ import annotations

import torch
from torch import nn

from . import MAX_UNITS, register_model


@register_model("conv1d")
class Conv1dAE(nn.Module):
    """Strided Conv1d encoder, a linear bottleneck of ``latent`` units, and a mirrored
    ConvTranspose1d decoder. Each of the ``depth`` stages halves the time axis and
    doubles the channels (starting at ``width``). Windows of any length work: the
    input is zero-padded on the right to a multiple of ``2**depth`` and the output cropped.
    """

    def __init__(self, n_channels: int, window: int, latent: int = 16, width: int = 16, depth: int = 3):
        super().__init__()
        self.window = window
        self.padded = -(-window // 2**depth) * 2**depth
        steps = self.padded // 2**depth
        widths = [width * 2**i for i in range(depth)]  # e.g. 16, 32, 64
        enc, chans = [], n_channels
        for w in widths:
            enc += [nn.Conv1d(chans, w, kernel_size=5, stride=2, padding=2), nn.GELU()]
            chans = w
        self.encoder = nn.Sequential(*enc)
        self.to_latent = nn.Linear(chans * steps, latent)
        self.from_latent = nn.Linear(latent, chans * steps)
        self.code_shape = (chans, steps)
        dec = []
        for w in reversed([n_channels] + widths[:-1]):
            dec += [nn.ConvTranspose1d(chans, w, kernel_size=4, stride=2, padding=1), nn.GELU()]
            chans = w
        dec[-1] = nn.Conv1d(n_channels, n_channels, kernel_size=1)  # linear output layer
        self.decoder = nn.Sequential(*dec)
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here

    @staticmethod
    def default_params() -> dict:
        return {"latent": 16, "width": 16, "depth": 3}

    @staticmethod
    def param_limits(window: int) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why: each stage halves the window
        (padded to a multiple of ``2**depth``), so ``2**(depth - 1) <= window``."""
        return {
            "latent": (MAX_UNITS, "units of the code"),
            "width": (MAX_UNITS, "channels of the first stage"),
            "depth": (window.bit_length(), f"each stage halves the window of {window}: 2**(depth-1) <= window"),
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the code layer reads: (B, W, C) -> (B, width*2^(d-1) * Wp/2^d)."""
        h = nn.functional.pad(x.transpose(1, 2), (0, self.padded - self.window))  # (B, C, Wp)
        return self.encoder(h).flatten(1)  # (B, width*2^(d-1), Wp/2^d) -> flat

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_filter(self.to_latent(self.features(x)))  # (B, W, C) -> (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).view(z.shape[0], *self.code_shape)  # (B, width*2^(d-1), Wp/2^d)
        out = self.decoder(h)  # (B, C, Wp)
        return out[:, :, : self.window].transpose(1, 2)  # (B, W, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))  # (B, W, C) -> (B, latent) -> (B, W, C)
