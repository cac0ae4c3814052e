"""The choices and defaults of tsae's settings, importable without torch.

The command line reads its choices and defaults here, so that ``tsae --help`` and
argument errors answer without importing torch or scipy; ``Detector`` and the
training loop use the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "SCORE_MODES",
    "SCALINGS",
    "SERIES_MODELS",
    "IMAGE_MODELS",
    "TrainConfig",
    "LearningSettings",
    "DETECTOR_DEFAULTS",
]

#: Point score definitions (see ``tsae.scoring``).
SCORE_MODES = ("window", "overlap", "causal")
#: Per-channel scalings (see ``tsae.scaling``).
SCALINGS = ("standard", "robust", "minmax", "none")
#: Names of the registered time-series and image models (``tsae.models``; a test keeps
#: these equal to the registry, which needs torch to be filled).
SERIES_MODELS = ("conv1d", "dense", "lstm", "vae")
IMAGE_MODELS = ("conv2d", "linear", "mlp", "vae-conv", "vae-linear")


@dataclass
class TrainConfig:
    """Training hyper-parameters; the defaults are ``Detector``'s (chosen on NAB and UCR,
    ``benchmarks/results/variants.md``) and fit a 20,000-point series in seconds on a CPU."""

    epochs: int = 20  # maximum number of epochs
    batch_size: int = 64  # windows per optimiser step
    lr: float = 3e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay
    patience: int = 5  # stop after this many epochs without validation improvement
    max_windows: int = 1024  # examples (windows) drawn per epoch (fresh random draw each epoch)

    def validate(self) -> None:
        """ConfigError naming the first setting of the wrong type or out of range."""
        for key in ("epochs", "batch_size", "patience", "max_windows"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        for key in ("lr", "weight_decay"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass(frozen=True)
class LearningSettings:
    """Continual learning while scoring (``tsae.learning``): every ``every`` rows, ``steps``
    Adam steps (learning rate ``lr``) on ``batch`` windows drawn from the last ``buffer``
    rows, among the windows whose rows all had a probability below ``normal_below``
    (rows judged normal; by default every row but those at probability 1, i.e. more
    than 8 standard deviations out). Defaults measured on NAB
    (``benchmarks/results/nab-tried.md``): excluding more rows scored lower, because a
    lasting change that is never learned keeps raising alerts."""

    every: int = 200
    steps: int = 10
    buffer: int = 2000
    batch: int = 64
    lr: float = 3e-3
    normal_below: float = 1.0

    @classmethod
    def parse(cls, spec) -> LearningSettings | None:
        """``"off"``/None -> None; ``"on"`` -> the defaults; ``"every=50,steps=2"`` -> those
        settings, the rest default; a dict or LearningSettings as they are. ConfigError
        naming what is wrong otherwise."""
        if spec is None or isinstance(spec, cls):
            return spec
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(cls.__dataclass_fields__))
            if unknown:
                raise ConfigError(
                    f"learning setting(s) {', '.join(map(str, unknown))} unknown; "
                    f"known: {', '.join(cls.__dataclass_fields__)}"
                )
            return cls(**spec).validate()
        text = str(spec).strip().lower()
        if text in ("off", "none", "no", "false"):
            return None
        if text in ("on", "yes", "true"):
            return cls()
        values: dict = {}
        for part in text.split(","):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or key not in cls.__dataclass_fields__:
                raise ConfigError(
                    f"learning must be on, off or KEY=VALUE,... with keys "
                    f"{', '.join(cls.__dataclass_fields__)}; got {spec!r}"
                )
            kind = float if key in ("lr", "normal_below") else int
            try:
                values[key] = kind(value)
            except ValueError:
                raise ConfigError(f"learning {key} must be a number, got {value.strip()!r}") from None
        return cls(**values).validate()

    def validate(self) -> LearningSettings:
        """ConfigError naming the first setting out of range; returns self."""
        for key in ("every", "steps", "buffer", "batch"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"learning {key} must be a positive integer, got {value!r}")
        if (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, (int, float))
            or not (math.isfinite(self.lr) and self.lr > 0)
        ):
            raise ConfigError(f"learning lr must be a positive number, got {self.lr!r}")
        value = self.normal_below
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ConfigError(f"learning normal_below must be a probability in (0, 1], got {value!r}")
        return self

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


#: ``Detector``'s defaults (its signature uses these; so does ``tsae fit``).
DETECTOR_DEFAULTS = dict(
    model="conv1d",
    window="auto",
    noise="gaussian:0.3",
    threshold="percentile:99.5",
    scaling="standard",
    score_mode="window",
    stride="auto",
    regularizer="none",
    discord=2.0,
    epochs=TrainConfig.epochs,
    batch_size=TrainConfig.batch_size,
    lr=TrainConfig.lr,
    patience=TrainConfig.patience,
    max_windows=TrainConfig.max_windows,
    val_fraction=0.2,
    max_gap=5,
    seed=0,
    device="auto",
    learning="off",
)
