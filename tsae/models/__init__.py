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

Every class also exposes ``param_limits(window)``: the largest value of each
parameter and why. Optional class attributes: ``FLOAT_PARAMS`` (parameters that are
positive numbers, e.g. a VAE's ``beta``), ``ZERO_PARAMS`` (whole numbers that may be 0)
and ``ADDED_PARAMS`` (parameters added after model files were written, with the value
that gives those files' layout: :func:`model_params_from_file`). Parameters are checked
against those limits, then the model is built on torch's ``meta`` device (no memory) and
refused if it would hold more than :data:`MAX_WEIGHTS` weights, all before a single
weight is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from ..errors import ConfigError

FLAVOURS = ("series", "image")
#: Largest ``width`` and ``latent`` of any model (units of a layer or channels of a
#: convolution); the defaults are 8 to 64.
MAX_UNITS = 4096
#: Most hidden layers of a ``dense`` model or stacked layers of an ``lstm`` (default 1 or 2).
MAX_LAYERS = 16
#: Most weights a model may have: 50 million float32 weights are 200 MB, four times
#: that while training (gradients and Adam's two moments); the default models have
#: 15 thousand to half a million. A bigger model is a mistyped option, not a need.
MAX_WEIGHTS = 50_000_000
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
    cls = _REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None or cls.flavour != flavour:
        kind = "model" if flavour == "series" else f"{flavour} model"
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(list_models(flavour))}")
    return cls


def build_model(name: str, n_channels: int, window: int, params: Mapping | None = None):
    """Instantiate time-series model ``name`` with its defaults updated by ``params``.

    Parameters
    ----------
    name : str
        A registered time-series model (see :func:`list_models`).
    n_channels, window : int
        Channels and window length of the series.
    params : mapping, optional
        Hyper-parameters (``latent``, ``width``, ``depth``...), positive integers.

    Returns
    -------
    module : torch.nn.Module
        The model, with freshly initialised weights.
    resolved : dict
        Every hyper-parameter, defaults included.

    Raises
    ------
    ConfigError
        Unknown model or parameter name, a parameter of the wrong type or beyond
        the model's limits, or more than :data:`MAX_WEIGHTS` weights; nothing is
        allocated before these checks pass.
    """
    _, cls, resolved = model_skeleton(name, n_channels, window, params)
    return cls(n_channels=n_channels, window=window, **resolved), resolved


def model_skeleton(name: str, n_channels: int, window: int, params: Mapping | None = None):
    """Time-series model ``name`` built on the ``meta`` device: its layers and weight
    shapes without any memory, to check a model's size or a file's weights.

    Returns
    -------
    skeleton : torch.nn.Module
        The model on the meta device (its ``state_dict`` has the real names, shapes
        and dtypes; its weights have no values).
    cls : type
        The model class.
    resolved : dict
        Every hyper-parameter, defaults included.

    Raises
    ------
    ConfigError
        As :func:`build_model`.
    """
    cls = get_model_class(name)
    resolved = _resolve_params(cls, params, window)
    skeleton = _skeleton(cls, resolved, dict(n_channels=n_channels, window=window, **resolved))
    return skeleton, cls, resolved


def build_image_model(name: str, params: Mapping | None = None):
    """Instantiate image model ``name`` (``linear``, ``mlp``, ``conv2d``) with its
    defaults updated by ``params``, checked as in :func:`build_model`.
    Returns ``(module, resolved_params)``."""
    cls = get_model_class(name, "image")
    resolved = _resolve_params(cls, params, None)
    _skeleton(cls, resolved, resolved)
    return cls(**resolved), resolved


def _resolve_params(cls: type, params: Mapping | None, window: int | None) -> dict:
    """``cls.default_params()`` updated by ``params``: every value an integer from 1
    to its limit in ``cls.param_limits(window)`` (those in ``cls.FLOAT_PARAMS``: a
    positive number; those in ``cls.ZERO_PARAMS``: from 0)."""
    name = cls.registry_name
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"model parameters must be a dict of name -> positive integer, got {params!r:.80}")
    resolved = cls.default_params()
    unknown = set(params or {}) - set(resolved)
    if unknown:
        raise ConfigError(
            f"model {name!r} has no parameter {', '.join(sorted(map(str, unknown)))}; "
            f"it accepts: {', '.join(sorted(resolved))}"
        )
    resolved.update(params or {})
    limits = cls.param_limits(window)
    for key, value in resolved.items():
        if key in getattr(cls, "FLOAT_PARAMS", ()):  # e.g. a VAE's beta
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
                raise ConfigError(f"model parameter {key} must be a positive number, got {value!r:.80}")
            resolved[key] = float(value)
            continue
        low = 0 if key in getattr(cls, "ZERO_PARAMS", ()) else 1  # e.g. a VAE's mc_samples
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            kind = "a whole number >= 0" if low == 0 else "a positive integer"
            raise ConfigError(f"model parameter {key} must be {kind}, got {value!r:.80}")
        resolved[key] = int(value)
        if key in limits and value > limits[key][0]:
            limit, why = limits[key]
            raise ConfigError(f"model parameter {key} must be at most {limit} for {name} ({why}), got {value}")
    return resolved


def _skeleton(cls: type, resolved: dict, kwargs: dict) -> torch.nn.Module:
    """``cls(**kwargs)`` on the meta device; ConfigError if it has more than MAX_WEIGHTS weights."""
    try:
        with torch.device("meta"):
            skeleton = cls(**kwargs)
        count = sum(p.numel() for p in skeleton.parameters())
    except (RuntimeError, TypeError, OverflowError):  # (parameters are checked) a size beyond int64
        count = math.inf
    if count > MAX_WEIGHTS:
        settings = ", ".join(f"{k}={v}" for k, v in resolved.items())
        size = f"{count:,}" if count < math.inf else "over 2**61"
        shape = f" for window {kwargs['window']} and {kwargs['n_channels']} channel(s)" if "window" in kwargs else ""
        raise ConfigError(
            f"model {cls.registry_name!r} with {settings}{shape} would have {size} weights, "
            f"more than the limit of {MAX_WEIGHTS:,}: lower them"
        )
    return skeleton


def model_params_from_file(name: str, params: Mapping) -> dict:
    """A model file's ``model.params`` for model ``name``, with the parameters the model
    gained after the file was written (its class's ``ADDED_PARAMS``) set to the values
    that give the layout the file was trained with."""
    added = getattr(get_model_class(name), "ADDED_PARAMS", {})
    return {**params, **{k: v for k, v in added.items() if k not in params}}


def squared_error(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Squared reconstruction error of each element of ``x`` (same shape): the model's
    own ``squared_error`` if it has one (a VAE's Monte-Carlo score), else ``(model(x) - x)**2``."""
    own = getattr(model, "squared_error", None)
    return own(x) if own is not None else (model(x) - x).square()


# Importing the model modules registers them (time series: conv1d, dense, lstm, vae;
# images: conv2d, linear, mlp, vae-conv, vae-linear).
from . import conv1d, conv2d, dense, linear, lstm, mlp, vae  # noqa: E402,F401
