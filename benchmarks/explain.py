"""Which channels caused an alarm: tsae's per-channel parts of the score against simple
baselines, on SMD's interpretation labels and on a synthetic set, plus the cost.

HitRate@P% (Su et al., KDD 2019, as OmniAnomaly computes it): for each labelled anomalous
row with g cause channels, the share of them among a method's top floor(g * P / 100)
channels for that row; averaged over all labelled rows of all segments. Every method
ranks the same candidates (the channels the tsae model keeps: SMD's constant channels
are left out at fit, and a labelled cause among them counts as a miss for every method).

Methods, all fitted on the training rows only:
- ``tsae``: ``Detector.explain`` of the default ``Detector``;
- ``zscore``: the absolute z-score of each channel against the training rows;
- ``pca``: each channel's squared error after a PCA reconstruction (components keeping
  90 % of the training variance), on the z-scored channels.

Synthetic: ``make_signal``-like sines on 12 channels, 12 anomalies each raising 1 to 3
random channels (known causes) for 20-60 rows after the training part.

    python benchmarks/explain.py [--threads 1] [--out benchmarks/results/explain.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SMD = ROOT.parent / "shared" / "datasets" / "smd"
PERCENTS = (100, 150)


def hit_rate(parts: np.ndarray, segments: list[tuple[int, int, list[int]]], percent: int) -> float:
    """Mean over the labelled rows of the share of their cause channels among the top
    floor(g * percent / 100) of ``parts[row]`` (g = number of causes); NaN rows count 0."""
    hits = []
    for start, end, causes in segments:
        g = len(causes)
        k = int(np.floor(g * percent / 100))
        for row in range(start, end + 1):
            values = np.nan_to_num(parts[row], nan=-np.inf)
            top = set(np.argsort(-values, kind="stable")[:k].tolist())
            hits.append(len(top & set(causes)) / g)
    return float(np.mean(hits))


def baselines(values: np.ndarray, train_end: int) -> dict:
    """The z-score and per-channel PCA error of every row, fitted on rows [0, train_end)."""
    from sklearn.decomposition import PCA

    mean, std = values[:train_end].mean(0), values[:train_end].std(0)
    z = (values - mean) / np.where(std > 0, std, 1.0)
    pca = PCA(n_components=0.9, svd_solver="full").fit(z[:train_end])
    rebuilt = pca.inverse_transform(pca.transform(z))
    return {"zscore": np.abs(z), "pca": (z - rebuilt) ** 2}


def evaluate(frame: pd.DataFrame, train_end: int, segments_by_name: list, threads: int) -> dict:
    """Fit tsae on the training rows, time score vs explain, and the hit rates of every method."""
    from tsae import Detector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector(threads=threads, seed=0).fit(frame.iloc[:train_end])
    channels = list(det.channels_)
    index = {name: j for j, name in enumerate(channels)}
    segments = [(s, e, [index[c] for c in causes if c in index]) for s, e, causes in segments_by_name]
    missing = sum(len(causes) for _, _, causes in segments_by_name) - sum(len(c) for _, _, c in segments)
    # causes outside the candidates count as misses: keep g as labelled
    segments = [
        (s, e, c + [-1] * (len(causes) - len(c))) for (s, e, c), (_, _, causes) in zip(segments, segments_by_name)
    ]
    timings = {}
    for name, run in (("score", det.score), ("explain", det.explain)):
        best = np.inf
        for _ in range(3):
            started = time.perf_counter()
            out = run(frame)
            best = min(best, time.perf_counter() - started)
        timings[name] = best
        if name == "explain":
            parts = out.to_numpy()
    values = frame[channels].to_numpy(dtype=np.float64)
    methods = {"tsae": parts, **baselines(values, train_end)}
    return {
        "channels": len(channels),
        "window": det.window_,
        "segments": len(segments),
        "rows": sum(e - s + 1 for s, e, _ in segments),
        "causes_outside_candidates": missing,
        "hit_rate": {m: {p: hit_rate(v, segments, p) for p in PERCENTS} for m, v in methods.items()},
        "score_s": timings["score"],
        "explain_s": timings["explain"],
    }


def synthetic(seed: int = 0, n: int = 12_000, channels: int = 12, anomalies: int = 12) -> tuple:
    """Sine channels with anomalies raising 1-3 known channels; (frame, train_end, segments)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame = pd.DataFrame(
        {f"c{j}": np.sin(2 * np.pi * t / (24 + 3 * j) + j) + 0.1 * rng.normal(size=n) for j in range(channels)}
    )
    train_end = n // 2
    starts = np.sort(rng.choice(np.arange(train_end + 100, n - 100, 150), anomalies, replace=False))
    segments = []
    for start in starts:
        length = int(rng.integers(20, 61))
        causes = sorted(rng.choice(channels, int(rng.integers(1, 4)), replace=False).tolist())
        for c in causes:
            frame.loc[start : start + length - 1, f"c{c}"] += rng.choice([-1, 1]) * rng.uniform(1.5, 3.0)
        segments.append((int(start), int(start + length - 1), [f"c{c}" for c in causes]))
    return frame, train_end, segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "explain.md")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results = {}
    meta = json.loads((SMD / "meta.json").read_text())
    labels = json.loads((SMD / "interpretation.json").read_text())["series"]
    for name, segs in labels.items():
        frame = pd.read_csv(SMD / f"{name}.csv")
        values = frame[[c for c in frame.columns if c.startswith("v")]]
        segments = [(s["rows"][0], s["rows"][1], s["channels"]) for s in segs]
        results[f"SMD {name}"] = evaluate(values, meta["series"][name]["train_end"], segments, args.threads)
    frame, train_end, segments = synthetic()
    results["synthetic (12 ch, 12 anomalies)"] = evaluate(frame, train_end, segments, args.threads)

    lines = [
        "# Explaining alarms: which channels",
        "",
        f"`python benchmarks/explain.py --threads {args.threads}`; {os.cpu_count()} cores, {platform.platform()}, "
        f"torch on {args.threads} thread(s); {time.perf_counter() - started:.0f} s. HitRate@P% per labelled row "
        "(Su et al., KDD 2019), averaged over the rows of every labelled segment; every method fitted on the "
        "training rows only (see the script's docstring).",
        "",
        "| data | channels | segments (rows) | method | HitRate@100% | HitRate@150% |",
        "|---|---:|---|---|---:|---:|",
    ]
    for data, r in results.items():
        for method, rates in r["hit_rate"].items():
            lines.append(
                f"| {data} | {r['channels']} | {r['segments']} ({r['rows']}) | {method} | {rates[100]:.3f} | "
                f"{rates[150]:.3f} |"
            )
    lines += ["", "Cost of `Detector.explain` against `Detector.score` on the same rows (best of 3):", ""]
    lines += ["| data | rows | score s | explain s | ratio |", "|---|---:|---:|---:|---:|"]
    for data, r in results.items():
        n = 47388 if data.startswith("SMD") else 12000
        lines.append(
            f"| {data} | {n} | {r['score_s']:.2f} | {r['explain_s']:.2f} | {r['explain_s'] / r['score_s']:.2f} |"
        )
    notes = [r["causes_outside_candidates"] for r in results.values()]
    lines += [
        "",
        f"Labelled causes among channels the model left out (constant in training; misses for every method): {notes}.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
