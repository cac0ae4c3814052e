"""Model registry: every autoencoder is registered under a name.

Adding a model is one file in this package with a ``@register_model("name")`` class
and one import line below. A registered class is a ``torch.nn.Module`` built as
``cls(n_channels=..., window=..., **params)`` whose forward maps a batch of windows
``(batch, window, channels)`` to a reconstruction of the same shape, and which
exposes ``default_params()`` (the hyper-parameters it accepts, with defaults).
"""

from __future__ import annotations

from typing import Callable

from ..errors import ConfigError

_REGISTRY: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator adding a model class to the registry under ``name``."""

    def add(cls: type) -> type:
        if name in _REGISTRY:
            raise RuntimeError(f"model name {name!r} registered twice")
        cls.registry_name = name
        _REGISTRY[name] = cls
        return cls

    return add


def list_models() -> list[str]:
    """Names of the registered time-series models, sorted."""
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type:
    """The class registered as ``name``; ConfigError naming the choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(list_models())}"
        ) from None


def build_model(name: str, n_channels: int, window: int, params: dict | None = None):
    """Instantiate model ``name`` with its defaults updated by ``params``.

    Unknown parameter names raise ConfigError listing the accepted ones.
    Returns ``(module, resolved_params)``.
    """
    cls = get_model_class(name)
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
    return cls(n_channels=n_channels, window=window, **resolved), resolved


from . import conv1d, dense, lstm  # noqa: E402,F401  (registers the models)
