"""Regularisers of the code, for every autoencoder: the course's sparse and contractive ones.

A spec is text (the CLI's ``--regularizer``, ``Detector(regularizer=...)``, stored in
the model file with the other parameters):

- ``none`` (default): the plain denoising objective.
- ``l1:LAMBDA``: adds ``LAMBDA * mean over the batch of sum_j |z_j|`` (the L1 penalty
  of the sparse autoencoder) to the reconstruction loss.
- ``ksparse:K``: keeps the ``K`` largest units of the code and sets the others to 0
  (Makhzani & Frey, "k-Sparse Autoencoders", ICLR 2014). It is part of the model, in
  training and in scoring alike: the filter sits in the model's ``encode``.
- ``contractive:LAMBDA``: adds ``LAMBDA * mean over the batch of ||J(x)||_F^2``, the
  squared Frobenius norm of the Jacobian of the code with respect to the input (Rifai et
  al., "Contractive Auto-Encoders", ICML 2011). **Exact** when the code has at most
  :data:`EXACT_UNITS` units (one backward pass per unit); beyond that an **unbiased
  estimate** from one Gaussian probe ``v`` per example: ``E ||v^T J||^2 = ||J||_F^2``
  for ``v ~ N(0, I)`` (one backward pass). Both are differentiable (double backward).

Every model exposes ``encode`` and ``decode`` (``forward = decode(encode(x))``) and a
``code_filter`` (identity unless k-sparse), so a regulariser needs nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError

__all__ = ["Regularizer", "KSparse", "EXACT_UNITS", "KINDS"]

KINDS = ("none", "l1", "ksparse", "contractive")
#: Largest code for which the contractive penalty is computed exactly.
EXACT_UNITS = 16


class KSparse(nn.Module):
    """Keep the ``k`` largest units of each code (B, latent); the others become 0."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.k >= z.shape[1]:
            return z
        kept = z.topk(self.k, dim=1).indices  # (B, k)
        return z * torch.zeros_like(z).scatter_(1, kept, 1.0)  # (B, latent), gradients through the kept units

    def extra_repr(self) -> str:
        return f"k={self.k}"


@dataclass(frozen=True)
class Regularizer:
    """A parsed spec: ``kind`` (one of :data:`KINDS`) and its ``value`` (lambda or k)."""

    kind: str = "none"
    value: float = 0.0

    @classmethod
    def parse(cls, spec) -> Regularizer:
        """``none``, ``l1:LAMBDA``, ``ksparse:K`` or ``contractive:LAMBDA`` (or a
        Regularizer); ConfigError naming what is wrong."""
        if isinstance(spec, Regularizer):
            return spec
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            raise ConfigError(f"regularizer must be a string such as 'l1:1e-3', got {spec!r}")
        kind, _, value = spec.strip().partition(":")
        kind = kind.strip().lower()
        if kind == "none" and not value:
            return cls()
        if kind not in KINDS[1:] or not value:
            raise ConfigError(f"regularizer must be none, l1:LAMBDA, ksparse:K or contractive:LAMBDA, got {spec!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"regularizer {kind} needs a number after ':', got {value!r}") from None
        if kind == "ksparse":
            if not number.is_integer() or number < 1:
                raise ConfigError(f"regularizer ksparse:K needs a whole number of units K >= 1, got {value!r}")
        elif not (math.isfinite(number) and number >= 0):
            raise ConfigError(f"regularizer {kind}:LAMBDA needs a finite LAMBDA >= 0, got {value!r}")
        return cls(kind, number)

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        return f"ksparse:{int(self.value)}" if self.kind == "ksparse" else f"{self.kind}:{self.value:g}"

    def attach(self, model: nn.Module, latent: int) -> nn.Module:
        """Put the k-sparse filter in the code of ``model`` (``latent`` units; a no-op for
        the other kinds); ConfigError if K is not smaller than the code. Returns the model."""
        if self.kind == "ksparse":
            if self.value >= latent:
                raise ConfigError(f"regularizer ksparse:{int(self.value)} keeps every unit of a {latent}-unit code")
            model.code_filter = KSparse(int(self.value))
        return model

    @property
    def trains_on_code(self) -> bool:
        """Whether the loss needs the code (l1, contractive), not only the output."""
        return self.kind in ("l1", "contractive")

    def penalty(self, model: nn.Module, x: torch.Tensor, z: torch.Tensor, generator=None) -> torch.Tensor:
        """The term added to the loss for the batch ``x`` and its code ``z`` (B, latent);
        for contractive, ``x`` must require grad and ``z`` be computed from it."""
        if self.kind == "l1":
            return self.value * z.abs().sum(dim=1).mean()
        if self.kind == "contractive":
            return self.value * jacobian_norm(x, z, generator)
        return z.new_zeros(())


def jacobian_norm(x: torch.Tensor, z: torch.Tensor, generator=None) -> torch.Tensor:
    """Mean over the batch of ``||dz/dx||_F^2`` (exact for at most :data:`EXACT_UNITS`
    code units, else the unbiased one-probe estimate); differentiable. ``z`` (B, latent)
    must come from ``x`` (B, ...) with ``x.requires_grad``; examples must not mix (no
    batch normalisation), so the gradient of a sum over the batch gives each example's row."""
    batch, units = z.shape
    if units <= EXACT_UNITS:
        total = x.new_zeros(())
        for j in range(units):  # row j of every example's Jacobian at once
            (row,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=True)
            total = total + row.square().sum()
        return total / batch
    probe = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    (vjp,) = torch.autograd.grad((z * probe).sum(), x, create_graph=True)  # v^T J per example
    return vjp.square().sum() / batch
