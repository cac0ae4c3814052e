"""Model registry: every autoencoder is registered under a name and a flavour.

Adding a model is one file in this package with a ``@register_model("name")`` class
and one import line below. Every registered class is a ``torch.nn.Module`` that
exposes ``default_params()`` (the hyper-parameters it accepts, with defaults).

- ``flavour="series"`` (the default): built as ``cls(n_channels=..., window=..., **params)``;
  forward maps a batch of windows ``(batch, window, channels)`` to a reconstruction of
  the same shape. These are the models ``Detector`` and ``tsae fit`` offer.
- ``flavour="image"``: the course's MNIST autoencoders, built as ``cls(**params)``;
  forward maps ``(batch, 1, 28, 28)`` images in [0, 1] to reconstructions of the same
  shape, and ``encode`` / ``decode`` expose the latent code ``(batch, latent)``.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ConfigError

FLAVOURS = ("series", "image")
_REGISTRY: dict[str, type] = {}


def register_model(name: str, flavour: str = "series") -> Callable[[type], type]:
    """Class decorator adding a model class to the registry under ``name``."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")

    def add(cls: type) -> type:
        if name in _REGISTRY:
            raise RuntimeError(f"model name {name!r} registered twice")
        cls.registry_name, cls.flavour = name, flavour
        _REGISTRY[name] = cls
        return cls

    return add


def list_models(flavour: str = "series") -> list[str]:
    """Names of the registered models of ``flavour`` (time-series models by default), sorted."""
    return sorted(name for name, cls in _REGISTRY.items() if cls.flavour == flavour)


def get_model_class(name: str, flavour: str = "series") -> type:
    """The ``flavour`` class registered as ``name``; ConfigError naming the choices otherwise."""
    cls = _REGISTRY.get(name)
    if cls is None or cls.flavour != flavour:
        kind = "model" if flavour == "series" else f"{flavour} model"
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(list_models(flavour))}")
    return cls


def build_model(name: str, n_channels: int, window: int, params: dict | None = None):
    """Instantiate time-series model ``name`` with its defaults updated by ``params``.

    Unknown parameter names raise ConfigError listing the accepted ones.
    Returns ``(module, resolved_params)``.
    """
    cls = get_model_class(name)
    resolved = _resolve_params(cls, params)
    return cls(n_channels=n_channels, window=window, **resolved), resolved


def build_image_model(name: str, params: dict | None = None):
    """Instantiate image model ``name`` (``linear``, ``mlp``, ``conv2d``) with its
    defaults updated by ``params``. Returns ``(module, resolved_params)``."""
    cls = get_model_class(name, "image")
    resolved = _resolve_params(cls, params)
    return cls(**resolved), resolved


def _resolve_params(cls: type, params: dict | None) -> dict:
    """``cls.default_params()`` updated by ``params``, every value a positive integer."""
    name = cls.registry_name
    resolved = cls.default_params()
    unknown = set(params or {}) - set(resolved)
    if unknown:
        raise ConfigError(
            f"model {name!r} has no parameter {', '.join(sorted(unknown))}; "
            f"it accepts: {', '.join(sorted(resolved))}"
        )
    resolved.update(params or {})
    for key, value in resolved.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"model parameter {key} must be a positive integer, got {value!r}")
    return resolved


from . import conv1d, dense, lstm  # noqa: E402,F401  (registers the time-series models)
from . import conv2d, linear, mlp  # noqa: E402,F401  (registers the image models)
