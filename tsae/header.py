"""Validation of a model file's header: every field, against the others and the weights.

The checksum of a model file proves that it is the file that was written, not that
what was written makes sense: a header edited by hand with a recomputed checksum,
or written by a buggy tool, can hold a short scaler, a zero scale, a NaN cutoff or
a string where a number belongs. :func:`validate_header` is called by
``Detector.from_file`` after the checksum matched and before anything is built;
each problem is one :class:`~tsae.errors.ModelFileError` line naming the file and
the field, e.g.::

    model.tsae is not a valid tsae model: header field 'scaler.scale' must hold 3 positive finite numbers (got 2)

Fields of a format-version-1 header (``format``, ``format_version`` and ``checksum``
are checked by :mod:`tsae.persist`):

``tsae_version`` (str), ``model`` (``name``: a registered time-series model;
``params``: its hyper-parameters, within the model's limits), ``channels``
(non-empty list of unique column names: strings, or integers for a DataFrame's
default labels), ``columns_explicit`` (bool), ``timestamp`` (column name or null),
``window`` (int >= 2), ``score_mode`` (one of :data:`tsae.scoring.MODES`),
``scaler``, ``threshold``, ``events`` (see :meth:`tsae.scaling.Scaler.from_dict`,
:func:`tsae.thresholds.threshold_from_dict`, :meth:`tsae.events.EventRules.from_dict`),
``max_gap`` (int >= 0), ``settings`` (``noise``, ``seed``, ``val_fraction``, optional
``learning``: null or ``tsae.options.LearningSettings`` fields), ``training`` (dict);
optional: ``channel_weights`` (one positive finite number per channel; absent in files
written before channel weights existed), ``calibration`` (a
``tsae.calibration.ScoreCalibrator`` state) and ``ignored_columns`` (column names left
out at fit time, none of them a channel).
Other top-level fields are ignored. The weights must have exactly the names, shapes
and dtypes of the model the header describes (checked on torch's ``meta`` device,
so a header describing a huge model allocates nothing) and finite values.

The ``check_*`` functions raise :class:`~tsae.errors.ConfigError` naming the field
(``field 'scaler.scale' must ...``); the scaler, threshold and event rules use them
to rebuild themselves from their section of the header, the stream for its state.
"""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .errors import ConfigError, ModelFileError

__all__ = ["validate_header", "check_dict", "check_int", "check_number", "check_numbers", "check_choice", "check_names"]

_INT64_MAX = 2**63 - 1
_REQUIRED = (
    "tsae_version",
    "model",
    "channels",
    "columns_explicit",
    "timestamp",
    "window",
    "score_mode",
    "scaler",
    "max_gap",
    "threshold",
    "events",
    "settings",
    "training",
)
# Known entries of the free-form training summary, and what each must be.
_TRAINING_TYPES = {
    "config": dict,
    "noise": str,
    "history": list,
    "seed": int,
    "epochs_run": int,
    "best_epoch": int,
    "rows": int,
    "train_rows": int,
    "val_rows": int,
    "seconds": float,
    "best_val_loss": float,
}


def validate_header(header: Mapping[str, Any], weights: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Check every field of a model header, against each other and against the weights.

    Parameters
    ----------
    header : mapping
        The tsae header, as returned by :func:`tsae.persist.load_model_file`.
    weights : mapping of str to torch.Tensor
        The tensors of the same file.
    path : str or os.PathLike
        The file, for messages.

    Raises
    ------
    ModelFileError
        One line naming the file and the first field (or weight) that is missing,
        of the wrong type, out of range or inconsistent with the others.
    """
    try:
        expected, model = _check_header(header)
    except ConfigError as exc:
        raise ModelFileError(f"{os.fspath(path)} is not a valid tsae model: header {exc}") from None
    try:
        _check_weights(expected, weights, model)
    except ConfigError as exc:
        raise ModelFileError(f"{os.fspath(path)} is not a valid tsae model: {exc}") from None


def _check_header(header: Mapping[str, Any]) -> tuple[dict, str]:
    """Check each field in turn (ConfigError naming the field); return the state dict
    of the model the header describes (on the meta device) and a description of it."""
    from .events import EventRules
    from .scaling import Scaler
    from .thresholds import threshold_from_dict

    check_dict(header, "", _REQUIRED, closed=False)
    _check_str(header["tsae_version"], "tsae_version")
    channels = check_names(header["channels"], "channels", nonempty=True, unique=True)
    _check_bool(header["columns_explicit"], "columns_explicit")
    if header["timestamp"] is not None and not _is_name(header["timestamp"]):
        raise ConfigError(
            f"field 'timestamp' must be a column name (a string) or null, got {_show(header['timestamp'])}"
        )
    window = check_int(header["window"], "window", low=2)
    _check_score_mode(header["score_mode"])
    if "stride" in header:  # files written before strides score every window
        stride, most = check_int(header["stride"], "stride", low=1), 1 if header["score_mode"] == "causal" else window
        if stride > most:
            raise ConfigError(
                f"field 'stride' must be at most {most} (score mode {header['score_mode']}), got {stride}"
            )
    Scaler.from_dict(header["scaler"], n_channels=len(channels))
    check_int(header["max_gap"], "max_gap")
    threshold_from_dict(header["threshold"])
    EventRules.from_dict(header["events"])
    _check_settings(header["settings"])
    _check_params(header.get("params"))
    _check_calibration(header.get("calibration"))
    _check_training(header["training"])
    if header.get("channel_weights") is not None:
        check_numbers(header["channel_weights"], "channel_weights", len(channels), positive=True)
    both = [name for name in check_names(header.get("ignored_columns", []), "ignored_columns") if name in channels]
    if both:
        raise ConfigError(f"field 'ignored_columns' names channel(s) the model uses: {_names(both)}")
    expected, model = _check_model(header["model"], len(channels), window)
    if header.get("neighbors") is not None:  # absent in files written before it existed
        expected = {**expected, "neighbors.reference": _check_neighbors(header["neighbors"], len(channels), window)}
    return expected, model


# ------------------------------------------------------------------ sections


def _check_neighbors(fields: Any, n_channels: int, window: int):
    """The nearest-window distance's fields (``tsae.neighbors``); return the reference
    tensor they imply, on the meta device."""
    import torch

    from .neighbors import MAX_REFERENCE, block_factor

    check_dict(fields, "neighbors", ("weight", "level", "factor", "count"))
    check_number(fields["weight"], "neighbors.weight", low=0)
    check_number(fields["level"], "neighbors.level", low=0)
    factor = check_int(fields["factor"], "neighbors.factor", low=1)
    if factor != block_factor(window):
        raise ConfigError(f"field 'neighbors.factor' must be {block_factor(window)} for window {window}, got {factor}")
    count = check_int(fields["count"], "neighbors.count", low=1)
    if count > MAX_REFERENCE:
        raise ConfigError(f"field 'neighbors.count' must be at most {MAX_REFERENCE}, got {count}")
    return torch.empty((count, window // factor, n_channels), dtype=torch.float32, device="meta")


def _check_score_mode(value: Any) -> None:
    from .scoring import MODES

    check_choice(value, "score_mode", MODES)


def _check_settings(settings: Any) -> None:
    """The fit settings a refit would reuse: noise spec, seed and validation fraction."""
    from .corruption import Corruption
    from .options import LearningSettings

    check_dict(settings, "settings", ("noise", "seed", "val_fraction"), optional=("learning",))
    _check_str(settings["noise"], "settings.noise")
    try:
        Corruption.parse(settings["noise"])
    except ConfigError as exc:
        raise ConfigError(f"field 'settings.noise' is invalid: {exc}") from None
    check_int(settings["seed"], "settings.seed")
    check_number(settings["val_fraction"], "settings.val_fraction", low=0, high=1)
    learning = settings.get("learning")
    if learning is not None:
        if not isinstance(learning, dict):
            raise ConfigError(f"field 'settings.learning' must be null or an object, got {_show(learning)}")
        try:
            LearningSettings.parse(learning)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"field 'settings.learning' is invalid: {exc}") from None


def _check_params(params: Any) -> None:
    """The constructor's parameters (absent in older files): every one of them, each
    checked as ``fit`` checks it before any data."""
    import inspect

    from .detector import _ADDED_PARAMS, _RUNTIME_PARAMS, Detector, params_from_file

    if params is None:
        return
    names = tuple(n for n in inspect.signature(Detector).parameters if n not in _RUNTIME_PARAMS + _ADDED_PARAMS)
    check_dict(params, "params", names, optional=_ADDED_PARAMS)
    try:
        Detector(**params_from_file(params))._settings()
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"field 'params' is invalid: {exc}") from None


def _check_calibration(state: Any) -> None:
    """The score calibrator's state after the validation scores (null in older files)."""
    from .calibration import ScoreCalibrator

    if state is None:
        return
    try:
        ScoreCalibrator.from_state(state)
    except (ConfigError, AttributeError, TypeError) as exc:
        raise ConfigError(f"field 'calibration' is invalid: {exc}") from None


def _check_training(training: Any) -> None:
    """The training summary: a dict whose known entries have their types."""
    check_dict(training, "training", (), closed=False)
    for key, kind in _TRAINING_TYPES.items():
        if key not in training:
            continue
        value, field = training[key], f"training.{key}"
        if kind is int:
            check_int(value, field)
        elif kind is float:
            check_number(value, field, finite=False)
        elif not isinstance(value, kind):
            raise ConfigError(f"field '{field}' must be a {kind.__name__}, got {_show(value)}")


def _check_model(model: Any, n_channels: int, window: int) -> tuple[dict, str]:
    """Model name and parameters; return the model's state dict on the meta device
    (names, shapes and dtypes, no memory) and a description of the model."""
    from .models import get_model_class, model_params_from_file, model_skeleton

    check_dict(model, "model", ("name", "params"))
    _check_str(model["name"], "model.name")
    try:
        get_model_class(model["name"])
    except ConfigError as exc:
        raise ConfigError(f"field 'model.name' is invalid: {exc}") from None
    params = check_dict(model["params"], "model.params", (), closed=False)
    params = model_params_from_file(model["name"], params)  # files written before a parameter existed
    try:
        skeleton, _, resolved = model_skeleton(model["name"], n_channels, window, params)
    except ConfigError as exc:
        raise ConfigError(f"field 'model.params' is invalid: {exc}") from None
    missing = [key for key in resolved if key not in params]
    if missing:
        raise ConfigError(f"field 'model.params' lacks {_names(missing)}")
    settings = ", ".join(f"{k}={v}" for k, v in resolved.items())
    return skeleton.state_dict(), f"{model['name']} with {settings}, {n_channels} channel(s), window {window}"


def _check_weights(expected: Mapping[str, Any], weights: Mapping[str, Any], model: str) -> None:
    """Same names, shapes and dtypes as ``expected`` (a meta state dict), finite values."""
    missing = [name for name in expected if name not in weights]
    extra = sorted(name for name in weights if name not in expected)
    if missing or extra:
        parts = ([f"lack {_names(missing)}"] if missing else []) + ([f"have extra {_names(extra)}"] if extra else [])
        raise ConfigError(f"the weights {' and '.join(parts)} for the header's model ({model})")
    for name, reference in expected.items():
        tensor = weights[name]
        if tuple(tensor.shape) != tuple(reference.shape) or tensor.dtype != reference.dtype:
            raise ConfigError(
                f"weight '{name}' is {_dtype(tensor)} of shape {list(tensor.shape)}; the header's model "
                f"({model}) needs {_dtype(reference)} of shape {list(reference.shape)}"
            )
        if not bool(tensor.isfinite().all()):
            raise ConfigError(f"weight '{name}' holds non-finite values (NaN or infinity)")


# ------------------------------------------------------------------ checkers


def check_dict(
    value: Any, field: str, required: Sequence[str], optional: Collection[str] = (), closed: bool = True
) -> dict:
    """Check that a field is a JSON object with the ``required`` keys.

    Parameters
    ----------
    value : any
        The field's value.
    field : str
        Its dotted name, e.g. ``"scaler"`` (``""`` for the whole object).
    required : sequence of str
        Keys it must have.
    optional : collection of str, default ()
        Keys it may have besides.
    closed : bool, default True
        Refuse any other key.

    Returns
    -------
    dict
        ``value``.

    Raises
    ------
    ConfigError
        Naming the field and the first missing (or unknown) key.
    """
    what = f"field '{field}' " if field else ""
    if not isinstance(value, dict):
        raise ConfigError(f"{what}must be an object (a dict), got {_show(value)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise ConfigError(f"{what}lacks {_names(missing)}")
    unknown = sorted(str(key) for key in value if key not in required and key not in optional)
    if closed and unknown:
        raise ConfigError(f"{what}has unknown key(s) {_names(unknown)}; expected: {_names(list(required))}")
    return value


def check_int(value: Any, field: str, low: int = 0) -> int:
    """Check that a field is an integer from ``low`` to 2**63 - 1 (not a bool,
    not a float such as 64.0, not a string such as ``"64"``); return it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"field '{field}' must be an integer >= {low}, got {_show(value)}")
    if value > _INT64_MAX:
        raise ConfigError(f"field '{field}' must be an integer below 2**63, got {_show(value)}")
    return value


def check_number(
    value: Any, field: str, low: float | None = None, high: float | None = None, finite: bool = True
) -> float:
    """Check that a field is a real number (int or float, not a bool), finite
    unless ``finite`` is False, and strictly between ``low`` and ``high`` when given;
    return it as a float."""
    number = _real(value)
    ok = number is not None and (not finite or math.isfinite(number))
    ok = ok and (low is None or number > low) and (high is None or number < high)
    if not ok:
        kind = "a finite number" if finite else "a number"
        bounds = f" between {low:g} and {high:g} (exclusive)" if low is not None and high is not None else ""
        raise ConfigError(f"field '{field}' must be {kind}{bounds}, got {_show(value)}")
    return number


def check_numbers(value: Any, field: str, n: int, positive: bool = False) -> list[float]:
    """Check that a field is a list of ``n`` finite numbers (all > 0 if
    ``positive``); return them as floats."""
    kind = "positive finite numbers" if positive else "finite numbers"
    if not isinstance(value, list):
        raise ConfigError(f"field '{field}' must hold {n} {kind} (got {_show(value)})")
    if len(value) != n:
        raise ConfigError(f"field '{field}' must hold {n} {kind} (got {len(value)})")
    numbers = [_real(item) for item in value]
    for i, number in enumerate(numbers):
        if number is None or not math.isfinite(number) or (positive and not number > 0):
            raise ConfigError(f"field '{field}' must hold {n} {kind} (got {_show(value[i])} at position {i})")
    return numbers


def check_choice(value: Any, field: str, choices: Collection[str]) -> str:
    """Check that a field is one of the strings ``choices``; return it."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"field '{field}' must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def check_names(value: Any, field: str, nonempty: bool = False, unique: bool = False) -> list[str | int]:
    """Check that a field is a list of column names (at least one if
    ``nonempty``, none twice if ``unique``); return it.

    A column name is a string, or an integer: a DataFrame's default column labels
    (``pd.DataFrame(array)``) are 0, 1, ... and are stored as such.
    """
    ok = isinstance(value, list) and all(_is_name(item) for item in value)
    if not ok or (nonempty and not value):
        at_least = "a non-empty" if nonempty else "a"
        raise ConfigError(f"field '{field}' must be {at_least} list of column names (strings), got {_show(value)}")
    seen: set[str | int] = set()
    for item in value:
        if unique and item in seen:
            raise ConfigError(f"field '{field}' names {_show(item)} twice")
        seen.add(item)
    return value


def _check_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"field '{field}' must be a string, got {_show(value)}")
    return value


def _is_name(value: Any) -> bool:
    """A column name: a string or an integer (see :func:`check_names`)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"field '{field}' must be true or false, got {_show(value)}")
    return value


def _real(value: Any) -> float | None:
    """``value`` as a float if it is a real number (int or float, not a bool) that a
    float can hold, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _show(value: Any) -> str:
    """A short, one-line rendering of a header value for messages."""
    return reprlib.repr(value)


def _names(keys: Sequence[str], most: int = 4) -> str:
    """``'a', 'b' and 3 more``: at most ``most`` quoted names."""
    shown = ", ".join(_show(str(key)) for key in keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")


def _dtype(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")
