"""LSTM encoder-decoder autoencoder, over patches of the window."""

from __future__ import annotations

import torch
from torch import nn

from . import MAX_LAYERS, MAX_UNITS, register_model

#: Most steps the LSTMs run with ``patch=0`` (automatic): the patch is the smallest
#: that reads the window in at most this many steps.
MAX_STEPS = 32


@register_model("lstm")
class LstmAE(nn.Module):
    """An LSTM encoder, a ``latent``-unit linear bottleneck and an LSTM decoder with a
    linear read-out (after Malhotra et al. 2016, without teacher forcing).

    **Patches**: the LSTMs do not run one step per point. The window ``(B, W, C)`` is
    zero-padded on the right to ``S * patch`` points and read as ``S = ceil(W / patch)``
    steps of ``patch * C`` values (``patch`` consecutive points, every channel); the
    decoder's read-out gives ``patch * C`` values per step, reshaped back to points and
    cropped to the window. ``patch=0`` (default) takes the smallest patch giving at most
    :data:`MAX_STEPS` (32) steps, ``ceil(W / 32)``: 1 (one point per step) up to
    windows of 32, 8 for a window of 256.

    **Per-step code** (``per_step=1``, default): the code is a linear function of the
    encoder's outputs at every step (as ``conv1d``'s code reads every position of its
    last stage), and the decoder's input at step ``t`` is its own linear function of the
    code, so each step knows which part of the window it emits. ``per_step=0`` is
    Malhotra's layout: the code from the encoder's last hidden state, the same code
    repeated as the decoder's input at every step.

    Why (measured on the shared data, ``benchmarks/results/lstm.md``): with one step
    per point and Malhotra's layout the model learned nothing on 256-point windows
    (validation loss 0.975, no better than the mean); patches alone made it learn,
    and the per-step code (with the learning rate below) brought its accuracy on NAB
    and UCR within a few percent of ``conv1d``'s, at about half its fit time.

    **Learning rate**: the training loop (``tsae.training``) multiplies the
    ``Detector``'s ``lr`` by :attr:`lr_scale`: the default 3e-3 trains this model at
    1e-2 (measured better on NAB and UCR than 3e-3).

    **Older model files**: files written before ``patch`` and ``per_step`` existed
    lack them and mean ``patch=1, per_step=0`` (:attr:`ADDED_PARAMS`), the layout
    they were trained with, so they load and score as before.
    """

    #: Parameters that may be 0 (see ``tsae.models``): ``patch=0`` is automatic.
    ZERO_PARAMS = ("patch", "per_step")
    #: Parameters added after model files stored this model's parameters, with the
    #: values that give the layout of the files written before them.
    ADDED_PARAMS = {"patch": 1, "per_step": 0}
    #: The training loop trains this model at ``lr * lr_scale`` (3e-3 -> 1e-2).
    lr_scale = 10 / 3

    def __init__(
        self,
        n_channels: int,
        window: int,
        latent: int = 16,
        width: int = 32,
        depth: int = 1,
        patch: int = 0,
        per_step: int = 1,
    ):
        super().__init__()
        self.window, self.n_channels, self.width = window, n_channels, width
        self.patch = patch or -(-window // MAX_STEPS)  # points per step
        self.steps = -(-window // self.patch)  # S
        self.padded = self.steps * self.patch  # Wp >= W
        self.per_step = bool(per_step)
        code_in = self.steps * width if self.per_step else width  # what the code layer reads
        self.encoder = nn.LSTM(self.patch * n_channels, width, num_layers=depth, batch_first=True)
        self.to_latent = nn.Linear(code_in, latent)
        self.from_latent = nn.Linear(latent, code_in)
        self.decoder = nn.LSTM(width, width, num_layers=depth, batch_first=True)
        self.readout = nn.Linear(width, self.patch * n_channels)
        self.code_filter = nn.Identity()  # tsae.regularizers may put a k-sparse filter here

    @staticmethod
    def default_params() -> dict:
        return {"latent": 16, "width": 32, "depth": 1, "patch": 0, "per_step": 1}

    @staticmethod
    def param_limits(window: int) -> dict[str, tuple[int, str]]:
        """Largest value of each parameter, and why."""
        return {
            "latent": (MAX_UNITS, "units of the code"),
            "width": (MAX_UNITS, "units of the LSTM state"),
            "depth": (MAX_LAYERS, "stacked LSTM layers"),
            "patch": (window, f"points per LSTM step, at most the window of {window}; 0 = automatic"),
            "per_step": (1, "1: the code reads every step, 0: the last hidden state (Malhotra's layout)"),
        }

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, C) -> (B, S, patch*C): zero-padded on the right, ``patch`` points per step."""
        x = nn.functional.pad(x, (0, 0, 0, self.padded - self.window))  # (B, Wp, C)
        return x.reshape(x.shape[0], self.steps, self.patch * self.n_channels)  # (B, S, patch*C)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        out, (h, _) = self.encoder(self._patches(x))  # out: (B, S, width); h: (depth, B, width)
        features = out.flatten(1) if self.per_step else h[-1]  # (B, S*width) or (B, width)
        return self.code_filter(self.to_latent(features))  # (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.per_step:
            seq = self.from_latent(z).view(-1, self.steps, self.width)  # (B, S*width) -> (B, S, width)
        else:
            seq = self.from_latent(z).unsqueeze(1).expand(-1, self.steps, -1)  # (B, width) -> (B, S, width)
        out, _ = self.decoder(seq)  # (B, S, width)
        y = self.readout(out)  # (B, S, patch*C)
        return y.reshape(-1, self.padded, self.n_channels)[:, : self.window]  # (B, Wp, C) -> (B, W, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))  # (B, W, C) -> (B, latent) -> (B, W, C)
