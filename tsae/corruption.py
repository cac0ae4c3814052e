"""Input corruptions for denoising training: applied to inputs only, seeded."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ConfigError

KINDS = ("gaussian", "mask", "none")


@dataclass(frozen=True)
class Corruption:
    """``gaussian``: add N(0, level^2) noise (data are scaled, so ``level`` is in units
    of the channel's spread); ``mask``: set each value to 0 (the channel's center)
    with probability ``level``, as the course's dropout-mask denoiser; ``none``.
    """

    kind: str = "gaussian"
    level: float = 0.1

    @classmethod
    def parse(cls, spec: str) -> Corruption:
        """Parse ``"gaussian:0.1"``, ``"mask:0.2"`` or ``"none"``."""
        kind, _, level = str(spec).partition(":")
        if kind not in KINDS:
            raise ConfigError(f"noise must be one of gaussian:STD, mask:P, none; got {spec!r}")
        if kind == "none":
            return cls("none", 0.0)
        try:
            value = float(level) if level else (0.1 if kind == "gaussian" else 0.2)
        except ValueError:
            raise ConfigError(f"noise level in {spec!r} is not a number") from None
        if value < 0 or (kind == "mask" and value >= 1):
            raise ConfigError(f"noise level in {spec!r} must be >= 0 (and < 1 for mask)")
        return cls(kind, value)

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{self.level:g}"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A corrupted copy of ``x``; ``x`` itself is never modified."""
        if self.kind == "gaussian" and self.level > 0:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return x + self.level * noise
        if self.kind == "mask" and self.level > 0:
            keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.level
            return x * keep
        return x
