"""Thresholds: small objects that turn anomaly scores into boolean flags.

Each threshold is fitted on scores (and labels, for methods that need them) with
``fit``, applied with ``__call__`` (``scores > cutoff_``), and round-trips through a
plain dict (``to_dict`` / ``threshold_from_dict``) so it can live in the model file.
``parse_threshold("percentile:99.5")`` builds one from a command-line spec.
"""

from __future__ import annotations

import inspect

import numpy as np

from .errors import ConfigError, DataError, NotFittedError
from .header import check_dict, check_number

_THRESHOLDS: dict[str, type] = {}


def _register(cls: type) -> type:
    _THRESHOLDS[cls.name] = cls
    return cls


class Threshold:
    """Base class. Subclasses set ``name``, implement ``_cutoff`` and ``params``."""

    name = ""
    cutoff_: float | None = None

    def fit(self, scores, labels=None) -> Threshold:
        """Learn ``cutoff_`` from ``scores`` (NaN scores are ignored); returns self."""
        scores = np.asarray(scores, dtype=np.float64)
        finite = np.isfinite(scores)
        if not finite.any():
            raise DataError(f"{self.name} threshold: no finite scores to fit on")
        self.cutoff_ = float(self._cutoff(scores[finite], None if labels is None else np.asarray(labels)[finite]))
        return self

    def __call__(self, scores) -> np.ndarray:
        """Boolean flags: ``scores > cutoff_`` (NaN scores are never flagged)."""
        if self.cutoff_ is None:
            raise NotFittedError(f"{self.name} threshold is not fitted; call fit(scores) first")
        with np.errstate(invalid="ignore"):
            return np.asarray(scores, dtype=np.float64) > self.cutoff_

    def params(self) -> dict:
        """The constructor's parameters (what the user chose)."""
        return {}

    def learned(self) -> dict:
        """What ``fit`` learned besides ``cutoff_`` (empty for most methods)."""
        return {}

    def spec(self) -> dict:
        """The unfitted threshold as plain data: ``{"method": name, **params()}``
        (:func:`threshold_from_spec` rebuilds it)."""
        return {"method": self.name, **self.params()}

    def to_dict(self) -> dict:
        """The fitted threshold as plain data: parameters, what was learned, the cutoff."""
        return {**self.spec(), **self.learned(), "cutoff": self.cutoff_}

    def __str__(self) -> str:
        """Short description, e.g. ``percentile:99.5``."""
        main = next(iter(self.params().values()))
        return f"{self.name}:{main:g}" if isinstance(main, float) else self.name

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@_register
class Percentile(Threshold):
    """Cutoff at the ``q``-th percentile of scores on normal data: about
    ``(100 - q)`` % of normal points are flagged."""

    name = "percentile"

    def __init__(self, q: float = 99.5):
        if not 0 < float(q) < 100:
            raise ConfigError(f"percentile must be between 0 and 100 (exclusive), got {q!r}")
        self.q = float(q)

    def params(self) -> dict:
        return {"q": self.q}

    def _cutoff(self, scores, labels):
        return np.percentile(scores, self.q)


@_register
class Probability(Threshold):
    """Flags rows whose calibrated anomaly probability (``tsae.calibration``) is above
    ``level``, instead of their raw score: the same level means the same on every
    series (one setting serves a fleet) and follows drift. Nothing is learned from
    scores: ``cutoff_`` is ``level``."""

    name = "probability"
    on_probability = True

    def __init__(self, level: float = 0.999):
        if not 0 < float(level) < 1:
            raise ConfigError(f"probability level must be between 0 and 1 (exclusive), got {level!r}")
        self.level = float(level)

    def params(self) -> dict:
        return {"level": self.level}

    def _cutoff(self, scores, labels):
        return self.level


def parse_threshold(spec: str, allow_pr: bool = False) -> Threshold:
    """Build an unfitted threshold from ``"method:value"``, e.g. ``"percentile:99.9"``,
    ``"contamination:0.01"``, ``"pot:1e-4"`` or (with labels, ``allow_pr``) ``"pr"``."""
    method, _, value = str(spec).partition(":")
    cls = _THRESHOLDS.get(method)
    if cls is PrecisionRecall and not allow_pr:
        raise ConfigError(
            "the pr threshold needs labels: fit with another method, then `tsae calibrate labelled.csv --method pr`"
        )
    if cls is None:
        raise ConfigError(f"threshold method {method!r} unknown; choose one of: {', '.join(_THRESHOLDS)}")
    if not value:
        return cls()
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"threshold value in {spec!r} is not a number") from None
    return cls(number)


# What a fitted threshold learns besides its cutoff (stored with its parameters by
# ``to_dict``): the entries of each, all numbers.
_LEARNED = {
    "expected": ("precision", "recall", "fbeta", "beta"),
    "tail": ("quantile", "t", "gamma", "sigma", "n", "n_t"),
}


def threshold_from_dict(d: dict) -> Threshold:
    """Rebuild a fitted threshold from ``Threshold.to_dict()`` output (the model
    header's ``threshold``), checking every field.

    Parameters
    ----------
    d : dict
        ``method``, the method's parameters, what it learned (``expected`` for
        ``pr``, ``tail`` for ``pot``) and ``cutoff``.

    Returns
    -------
    Threshold
        Fitted: ``cutoff_`` is set.

    Raises
    ------
    ConfigError
        Naming the field (e.g. ``threshold.q``, ``threshold.cutoff``): an unknown
        method, a missing or unknown key, a parameter of the wrong type or out of
        range, or a cutoff that is not a finite number.
    """
    check_dict(d, "threshold", ("method", "cutoff"), closed=False)
    cls = _method_class(d, "threshold")
    check_dict(d, "threshold", tuple(cls().to_dict()))
    th = _construct(cls, d)
    for key in _LEARNED:
        if key in d:
            setattr(th, key + "_", _learned(d[key], key))
    th.cutoff_ = check_number(d["cutoff"], "threshold.cutoff")
    return th


def threshold_from_spec(d: dict, field: str = "threshold") -> Threshold:
    """An unfitted threshold from ``Threshold.spec()`` output; ConfigError naming the field."""
    cls = _method_class(d, field)
    check_dict(d, field, tuple(cls().spec()))
    return _construct(cls, d)


def _method_class(d, field: str) -> type:
    """The threshold class ``d["method"]`` names; ConfigError naming ``field`` otherwise."""
    check_dict(d, field, ("method",), closed=False)
    cls = _THRESHOLDS.get(d["method"]) if isinstance(d["method"], str) else None
    if cls is None:
        raise ConfigError(
            f"field '{field}.method': unknown threshold method {d['method']!r:.40}; "
            f"choose one of: {', '.join(_THRESHOLDS)}"
        )
    return cls


def _construct(cls: type, d: dict) -> Threshold:
    """``cls`` built from its constructor arguments in ``d``, each checked on its own
    (type, then range) so that an error names it, then together."""
    params = {}
    for key, parameter in inspect.signature(cls).parameters.items():
        value = d[key]
        if value is not None or parameter.default is not None:
            check_number(value, f"threshold.{key}")
        try:
            cls(**{key: value})
        except ConfigError as exc:
            raise ConfigError(f"field 'threshold.{key}' is out of range: {exc}") from None
        params[key] = value
    try:
        return cls(**params)
    except ConfigError as exc:
        raise ConfigError(f"field 'threshold' is invalid: {exc}") from None


def _learned(value, key: str) -> dict | None:
    """A learned summary (``expected``, ``tail``): null, or its numbers."""
    if value is None:
        return None
    check_dict(value, f"threshold.{key}", _LEARNED[key])
    for name in _LEARNED[key]:
        check_number(value[name], f"threshold.{key}.{name}")
    return value


@_register
class Contamination(Threshold):
    """Cutoff that flags the expected ``fraction`` of the scores it is fitted on
    (for a set known to contain about that share of anomalies)."""

    name = "contamination"

    def __init__(self, fraction: float = 0.01):
        if not 0 < float(fraction) < 0.5:
            raise ConfigError(f"contamination must be between 0 and 0.5 (exclusive), got {fraction!r}")
        self.fraction = float(fraction)

    def params(self) -> dict:
        return {"fraction": self.fraction}

    def _cutoff(self, scores, labels):
        return np.quantile(scores, 1 - self.fraction)


@_register
class PrecisionRecall(Threshold):
    """Cutoff chosen on a labelled set from its precision-recall curve.

    By default the cutoff maximising F-beta. With ``target_precision``: the lowest
    cutoff whose precision reaches the target (the most recall at that precision);
    with ``target_recall``: the highest cutoff whose recall reaches the target (the
    most precision at that recall). After ``fit``, ``expected_`` holds the precision,
    recall and F-beta the cutoff gives on the fitting data.
    """

    name = "pr"
    needs_labels = True

    def __init__(self, beta: float = 1.0, target_precision: float | None = None, target_recall: float | None = None):
        if not float(beta) > 0:
            raise ConfigError(f"beta must be > 0, got {beta!r}")
        if target_precision is not None and target_recall is not None:
            raise ConfigError("give target_precision or target_recall, not both")
        for key, value in (("target_precision", target_precision), ("target_recall", target_recall)):
            if value is not None and not 0 < float(value) <= 1:
                raise ConfigError(f"{key} must be in (0, 1], got {value!r}")
        self.beta, self.target_precision, self.target_recall = float(beta), target_precision, target_recall
        self.expected_: dict | None = None

    def __str__(self) -> str:
        if self.target_precision is not None:
            return f"pr (precision >= {self.target_precision:g})"
        if self.target_recall is not None:
            return f"pr (recall >= {self.target_recall:g})"
        return f"pr (best F{self.beta:g})"

    def params(self) -> dict:
        return {
            "beta": self.beta,
            "target_precision": self.target_precision,
            "target_recall": self.target_recall,
        }

    def learned(self) -> dict:
        return {"expected": self.expected_}

    def _cutoff(self, scores, labels):
        from sklearn.metrics import precision_recall_curve

        if labels is None:
            raise DataError("the pr threshold needs labels (a labelled validation set)")
        labels = np.asarray(labels).astype(bool)
        if labels.all() or not labels.any():
            raise DataError(
                f"the pr threshold needs both normal and anomalous labelled points; "
                f"got {int(labels.sum())} anomalous of {len(labels)}"
            )
        precision, recall, cuts = precision_recall_curve(labels, scores)  # flags: scores >= cuts[i]
        precision, recall = precision[:-1], recall[:-1]
        b2 = self.beta**2
        with np.errstate(invalid="ignore", divide="ignore"):
            fbeta = np.nan_to_num((1 + b2) * precision * recall / (b2 * precision + recall))
        if self.target_precision is not None:
            ok = np.flatnonzero(precision >= self.target_precision)
            if len(ok) == 0:
                raise DataError(f"no cutoff reaches precision {self.target_precision} (best is {precision.max():.3f})")
            best = ok[np.argmax(recall[ok])]  # cuts ascend: the lowest qualifying cutoff has most recall
        elif self.target_recall is not None:
            ok = np.flatnonzero(recall >= self.target_recall)
            best = ok[np.argmax(cuts[ok])]
        else:
            best = int(np.argmax(fbeta))
        self.expected_ = {
            "precision": float(precision[best]),
            "recall": float(recall[best]),
            "fbeta": float(fbeta[best]),
            "beta": self.beta,
        }
        below = scores[scores < cuts[best]]  # flags are scores > cutoff: sit between two scores
        return (cuts[best] + below.max()) / 2 if len(below) else np.nextafter(cuts[best], -np.inf)


@_register
class PeaksOverThreshold(Threshold):
    """Extreme-value cutoff (SPOT, Siffer et al., KDD 2017), no labels needed.

    A generalised Pareto distribution is fitted (scipy, maximum likelihood, location 0)
    to the excesses of the scores over their ``init_quantile`` quantile ``t`` (default:
    the paper's 0.98, lowered on small sets so that at least 20 scores exceed it); the
    cutoff is the score exceeded with probability ``risk``:
    ``t + sigma/gamma * ((risk * n / n_t) ** -gamma - 1)`` (``t - sigma * log(risk * n / n_t)``
    when gamma is 0), where ``n_t`` scores of ``n`` exceed ``t``. Unlike a percentile,
    it extrapolates beyond the largest score seen.
    """

    name = "pot"

    def __init__(self, risk: float = 1e-4, init_quantile: float | None = None):
        if not 0 < float(risk) < 1:
            raise ConfigError(f"pot risk must be between 0 and 1, got {risk!r}")
        if init_quantile is not None and not 0.5 <= float(init_quantile) < 1:
            raise ConfigError(f"pot init_quantile must be in [0.5, 1), got {init_quantile!r}")
        self.risk = float(risk)
        self.init_quantile = None if init_quantile is None else float(init_quantile)
        self.tail_: dict | None = None

    def params(self) -> dict:
        return {"risk": self.risk, "init_quantile": self.init_quantile}

    def learned(self) -> dict:
        return {"tail": self.tail_}

    def _cutoff(self, scores, labels):
        from scipy.stats import genpareto

        q = self.init_quantile
        if q is None:  # the paper's 0.98, lowered on small sets to keep >= 20 excesses
            q = max(0.5, min(0.98, 1 - 20 / len(scores)))
        t = float(np.quantile(scores, q))
        excess = scores[scores > t] - t
        if len(excess) < 10:
            raise DataError(
                f"pot threshold: only {len(excess)} of {len(scores)} scores lie above the "
                f"initial {q:g} quantile; the tail fit needs at least 10 (more data)"
            )
        gamma, _, sigma = genpareto.fit(excess, floc=0)
        ratio = self.risk * len(scores) / len(excess)
        if abs(gamma) < 1e-8:
            cutoff = t - sigma * np.log(ratio)
        else:
            cutoff = t + sigma / gamma * (ratio**-gamma - 1)
        self.tail_ = {
            "quantile": q,
            "t": t,
            "gamma": float(gamma),
            "sigma": float(sigma),
            "n": len(scores),
            "n_t": len(excess),
        }
        return cutoff
