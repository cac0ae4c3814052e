"""Synthetic multichannel signals with injected, labelled anomalies.

:func:`make_signal` builds something that looks like a server's metrics (CPU load,
temperature, request rate, ...): channels share latent factors (a daily cycle with
harmonics, a weekly modulation, a slow common drift), each with its own gain, phase
lag, trend, units and AR(1) noise. Anomalies of six kinds are injected after
``train_end`` only, so the training prefix is clean, and ``label`` is 1 exactly on
their rows.

The anomalies draw from their own random stream: for the same ``n``, ``channels``,
``seed`` and ``freq``, ``anomalies=0`` gives the clean version of the same signal, and
the two differ only on labelled rows.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from tsae.errors import ConfigError

__all__ = ["KINDS", "make_signal"]

#: Anomaly kinds, in the order they are cycled through (anomaly i has kind i mod 6;
#: ``correlation_break`` is skipped when there is only one channel).
KINDS = (
    "spike",
    "level_shift",
    "frequency_change",
    "flatline",
    "noise_burst",
    "correlation_break",
)

START = "2024-01-01"
_MIN_STEPS_PER_DAY = 12  # a daily cycle needs some resolution: freq <= 2h

# Row counts (inclusive ranges low..high) per kind; frequency_change lasts one daily cycle.
_LENGTHS = {
    "spike": (1, 3),
    "level_shift": (200, 300),
    "flatline": (130, 170),
    "noise_burst": (90, 110),
    "correlation_break": (180, 220),
}

# Units of the first channels (offset, scale): CPU %, temperature, requests/s.
_TEMPLATES = ((45.0, 15.0), (55.0, 4.0), (1200.0, 350.0))


def _int_param(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _steps_per_day(freq) -> float:
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"freq must be a fixed-length pandas frequency such as '5min', '1min' or '1h', got {freq!r}"
        ) from exc
    if step <= pd.Timedelta(0):
        raise ConfigError(f"freq must be positive, got {freq!r}")
    steps = pd.Timedelta("1D") / step
    if steps < _MIN_STEPS_PER_DAY:
        raise ConfigError(f"freq must give at least {_MIN_STEPS_PER_DAY} steps per day (at most 2h), got {freq!r}")
    return float(steps)


def _kinds_for(anomalies: int, channels: int, only=None) -> list[str]:
    if only is not None:
        unknown = sorted(set(only) - set(KINDS))
        if unknown or not only:
            raise ConfigError(f"kinds must be a non-empty subset of {', '.join(KINDS)}, got {list(only)!r}")
    kinds = [k for k in (only or KINDS) if channels > 1 or k != "correlation_break"]
    if not kinds:
        raise ConfigError("correlation_break needs channels > 1")
    return [kinds[i % len(kinds)] for i in range(anomalies)]


def _length_range(kind: str, period: float) -> tuple[int, int]:
    if kind == "frequency_change":
        p = int(round(period))
        return p, p
    return _LENGTHS[kind]


def make_signal(
    n: int = 20_000,
    channels: int = 3,
    anomalies: int = 8,
    seed: int | None = 0,
    freq: str = "5min",
    train_fraction: float = 0.5,
    kinds: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """A realistic multichannel signal with labelled anomalies after the training part.

    Parameters
    ----------
    n : rows.
    channels : value columns ``ch0 .. ch{channels-1}`` (>= 1).
    anomalies : number of injected anomalies (>= 0); kinds cycle through :data:`KINDS`.
    seed : seed of the numpy Generator; the same seed gives an identical frame.
    freq : sampling step (fixed-length pandas frequency, at most 2h); the daily cycle
        is one day of steps (288 at 5 min), the weekly modulation seven days.
    train_fraction : ``attrs["train_end"] = int(n * train_fraction)``; rows before it
        hold no anomaly.
    kinds : optional subset of :data:`KINDS` to cycle through instead of all of them.

    Returns
    -------
    DataFrame with ``timestamp`` (regular ``freq`` steps from 2024-01-01), ``ch0..``
    (float64) and ``label`` (int64, 1 inside an anomaly). ``df.attrs`` holds
    ``train_end`` (int) and ``anomalies``: one dict per anomaly, sorted by start, with
    ``kind``, ``start`` and ``end`` (inclusive row indices), ``channels`` (names of the
    affected columns) and kind-specific details (``magnitude`` in units of the channel's
    standard deviation, ``factor``, ``variance_factor``, ``phase_shift`` in radians).

    Raises
    ------
    ConfigError : a parameter is out of range, or ``n`` leaves too few rows after
        ``train_end`` for the anomalies (the check uses their longest possible lengths,
        so it does not depend on the seed).
    """
    n = _int_param("n", n, 2)
    channels = _int_param("channels", channels, 1)
    anomalies = _int_param("anomalies", anomalies, 0)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real):
        raise ConfigError(f"train_fraction must be a number in (0, 1), got {train_fraction!r}")
    if not 0.0 < float(train_fraction) < 1.0:
        raise ConfigError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    train_end = int(n * train_fraction)
    if train_end < 1:
        raise ConfigError(
            f"n * train_fraction must leave at least one training row, got n={n}, train_fraction={train_fraction}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    if seed is not None and seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    period = _steps_per_day(freq)

    kinds = _kinds_for(anomalies, channels, kinds)
    gap = max(10, int(period // 6))  # clean rows before, between and after anomalies
    longest = sum(_length_range(k, period)[1] for k in kinds)
    needed = longest + gap * (len(kinds) + 1) if kinds else 0
    if needed > n - train_end:
        raise ConfigError(
            f"n={n} is too small for {anomalies} anomalies: they need up to {needed} rows "
            f"after train_end={train_end}, there are {n - train_end}; increase n, lower "
            f"train_fraction or use fewer anomalies"
        )

    # Separate streams: the clean signal does not depend on the anomalies drawn.
    ss_signal, ss_anom = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(ss_signal)
    z, parts = _normal_signal(rng, n, channels, period)
    sigma = z[:train_end].std(axis=0)
    sigma[sigma == 0] = 1.0

    rng = np.random.default_rng(ss_anom)
    names = [f"ch{c}" for c in range(channels)]
    lengths = [int(rng.integers(lo, hi + 1)) for lo, hi in (_length_range(k, period) for k in kinds)]
    starts = _layout(rng, lengths, train_end, n, gap)
    label = np.zeros(n, dtype=np.int64)
    records = []
    for kind, start, length in zip(kinds, starts, lengths):
        end = start + length - 1
        rec = _inject(rng, kind, z, parts, sigma, start, end, period)
        rec = {
            "kind": kind,
            "start": int(start),
            "end": int(end),
            "channels": [names[c] for c in rec.pop("channels")],
            **rec,
        }
        records.append(rec)
        label[start : end + 1] = 1
    records.sort(key=lambda r: r["start"])

    x = z * parts["scale"] + parts["offset"]
    df = pd.DataFrame({"timestamp": pd.date_range(START, periods=n, freq=freq)})
    for c, name in enumerate(names):
        df[name] = x[:, c].astype(np.float64)
    df["label"] = label
    df.attrs["train_end"] = train_end
    df.attrs["anomalies"] = records
    return df


# --------------------------------------------------------------------------- normal part


def _ar1(rng: np.random.Generator, n: int, phi: float, std: float) -> np.ndarray:
    """Stationary AR(1) path with marginal standard deviation ``std``."""
    innov = rng.standard_normal(n) * std * np.sqrt(1.0 - phi * phi)
    x0 = rng.standard_normal() * std
    out, _ = lfilter([1.0], [1.0, -phi], innov, zi=[phi * x0])
    return out


def _daily_shape(phase: np.ndarray, p: dict, c: int) -> np.ndarray:
    """Channel c's daily profile (shared harmonics plus a channel-specific one)."""
    ph = phase - p["lag"][c]
    return (
        np.sin(ph)
        + p["a2"] * np.sin(2 * ph + p["p2"])
        + p["a3"] * np.sin(3 * ph + p["p3"])
        + p["h"][c] * np.sin(2 * ph + p["q"][c])
    )


def _daily(phase: np.ndarray, rows: slice, p: dict, c: int) -> np.ndarray:
    return p["weekly_gain"][rows] * p["gain"][c] * _daily_shape(phase, p, c)


def _normal_signal(rng: np.random.Generator, n: int, channels: int, period: float):
    """Clean signal in standardised units (daily amplitude ~1) and its parameters."""
    t = np.arange(n, dtype=np.float64)
    phase = 2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)  # start at any time of day
    week = 2 * np.pi * t / (7 * period) + rng.uniform(0, 2 * np.pi)
    p = {
        "phase": phase,
        # shared harmonics of the daily load profile
        "a2": rng.uniform(0.25, 0.45),
        "p2": rng.uniform(0, 2 * np.pi),
        "a3": rng.uniform(0.08, 0.2),
        "p3": rng.uniform(0, 2 * np.pi),
        # weekly modulation of the daily amplitude (busier weekdays)
        "weekly_gain": 1.0 + rng.uniform(0.15, 0.3) * np.sin(week),
    }
    lag = rng.uniform(0.1, 0.8, channels)
    lag[0] = 0.0
    gain = rng.uniform(0.7, 1.3, channels)
    gain[1:] *= np.where(rng.random(channels - 1) < 0.2, -1.0, 1.0)
    p.update(
        lag=lag,
        gain=gain,
        h=rng.uniform(0.0, 0.2, channels),
        q=rng.uniform(0, 2 * np.pi, channels),
    )
    weekly_level = rng.uniform(0.1, 0.3, channels) * rng.choice([-1.0, 1.0], channels)
    drift_load = rng.uniform(0.15, 0.3, channels)
    trend = rng.uniform(-0.3, 0.3, channels)
    noise_std = rng.uniform(0.06, 0.1, channels)
    noise_phi = rng.uniform(0.5, 0.8, channels)

    # slow common drift (memory of about half a day), shared by all channels
    drift = _ar1(rng, n, float(np.exp(-2.0 / period)), 1.0)
    z = np.empty((n, channels))
    rows = slice(0, n)
    for c in range(channels):
        z[:, c] = (
            _daily(phase, rows, p, c)
            + weekly_level[c] * np.sin(week)
            + drift_load[c] * drift
            + trend[c] * t / n
            + _ar1(rng, n, noise_phi[c], noise_std[c])
        )

    offset = np.empty(channels)
    scale = np.empty(channels)
    for c in range(channels):
        if c < len(_TEMPLATES):
            o, s = _TEMPLATES[c]
            offset[c] = o * rng.uniform(0.9, 1.1)
            scale[c] = s * rng.uniform(0.9, 1.1)
        else:
            scale[c] = float(np.exp(rng.uniform(0.0, np.log(500.0))))
            offset[c] = scale[c] * rng.uniform(2.0, 4.0)
    p.update(noise_std=noise_std, offset=offset, scale=scale)
    return z, p


# ------------------------------------------------------------------------------ anomalies


def _layout(rng: np.random.Generator, lengths: list[int], train_end: int, n: int, gap: int):
    """Random non-overlapping starts in [train_end, n) with >= gap clean rows around each."""
    k = len(lengths)
    if k == 0:
        return []
    free = (n - train_end) - sum(lengths) - gap * (k + 1)
    cuts = np.sort(rng.integers(0, free + 1, size=k))
    slack = np.diff(np.concatenate([[0], cuts, [free]]))
    order = rng.permutation(k)
    starts = [0] * k
    pos = train_end
    for j, i in enumerate(order):
        pos += gap + int(slack[j])
        starts[i] = pos
        pos += lengths[i]
    return starts


def _inject(rng, kind, z, p, sigma, start, end, period) -> dict:
    """Modify z in place on rows start..end; return the record's details."""
    channels = z.shape[1]
    rows = slice(start, end + 1)
    length = end - start + 1
    c = int(rng.integers(channels))

    if kind == "spike":
        mag = float(rng.uniform(3.0, 5.0) * rng.choice([-1.0, 1.0]))
        z[rows, c] += mag * sigma[c] * rng.uniform(0.85, 1.15, length)
        return {"channels": [c], "magnitude": mag}

    if kind == "level_shift":
        mag = float(rng.uniform(2.0, 3.0) * rng.choice([-1.0, 1.0]))
        z[rows, c] += mag * sigma[c]
        return {"channels": [c], "magnitude": mag}

    if kind == "frequency_change":
        # One daily cycle runs `factor` times faster on every channel; the phase is
        # continuous at both ends since the window lasts one period.
        factor = int(rng.integers(3, 5))
        ph = p["phase"][rows]
        warped = ph[0] + factor * (ph - ph[0])
        for ch in range(channels):
            z[rows, ch] += _daily(warped, rows, p, ch) - _daily(ph, rows, p, ch)
        return {"channels": list(range(channels)), "factor": factor}

    if kind == "flatline":
        z[rows, c] = z[start - 1, c]  # the sensor holds its last reading
        return {"channels": [c]}

    if kind == "noise_burst":
        # Added white noise with 4x the noise variance: total noise variance x5.
        z[rows, c] += rng.normal(0.0, 2.0 * p["noise_std"][c], length)
        return {"channels": [c], "variance_factor": 5.0}

    if kind == "correlation_break":
        # The channel's daily cycle slides out of phase with the other channels and
        # back (smooth ramps over a sixth of the window each way): the same values
        # and range per channel, but the cross-channel relation is broken.
        shift = float(rng.uniform(0.8, 1.0) * np.pi * rng.choice([-1.0, 1.0]))
        ramp = max(1, length // 6)
        w = np.ones(length)
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, ramp + 1) / (ramp + 1))
        w[:ramp] = edge
        w[-ramp:] = edge[::-1]
        ph = p["phase"][rows]
        z[rows, c] += _daily(ph - shift * w, rows, p, c) - _daily(ph, rows, p, c)
        return {"channels": [c], "phase_shift": shift}

    raise AssertionError(kind)  # pragma: no cover
