"""Stream latency with continual learning on and off, side by side in one run.

``StreamingScorer.update`` is timed per row (``time.perf_counter_ns``) for the same
fitted conv1d model (window 128, torch on 1 thread) with ``learning="off"`` and
``learning="on"`` (the default settings: every 200 rows, 10 Adam steps), in the
``causal`` and default ``window`` score modes, on a univariate series and on 38 SMD
channels. The two streams take turns row by row, so a change in the machine's load
affects both alike. Rows whose update ran the learner's training steps are counted
apart: their time is the worst case the table reports.

    python benchmarks/learning.py [--rows 6000] [--out benchmarks/results/learning.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
SMD = ROOT.parent / "shared" / "datasets" / "smd" / "machine-1-2.csv"


def series(kind: str, n: int) -> pd.DataFrame:
    if kind == "smd" and SMD.exists():
        frame = pd.read_csv(SMD, nrows=n)
        return frame[[c for c in frame.columns if c.startswith("v")]]
    from tsae_datasets.synthetic import make_signal

    return make_signal(n=n, channels=1 if kind == "uni" else 38, seed=0).drop(columns=["label", "timestamp"])


def measure(kind: str, mode: str, fit_rows: int, rows: int) -> dict:
    from tsae import Detector

    frame = series(kind, fit_rows + rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector(window=128, epochs=3, threads=1, score_mode=mode, seed=0).fit(frame.iloc[:fit_rows])
    streams = {name: det.streaming(threads=1, learning=name) for name in ("off", "on")}
    values = frame[det.channels_].iloc[fit_rows:].to_numpy()  # the channels the fit kept (SMD: 30 of 38)
    times = {name: np.zeros(len(values)) for name in streams}
    trained = np.zeros(len(values), dtype=bool)
    for i, row in enumerate(values):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")
        for name in order:
            scorer = streams[name]
            updates = scorer.monitor.learner.updates if scorer.monitor.learner else 0
            started = time.perf_counter_ns()
            scorer.update(row)
            times[name][i] = (time.perf_counter_ns() - started) / 1000
            if scorer.monitor.learner and scorer.monitor.learner.updates != updates:
                trained[i] = True
    out = {
        "kind": kind,
        "mode": mode,
        "channels": values.shape[1],
        "rows": len(values),
        "training_rows": int(trained.sum()),
    }
    for name, us in times.items():
        plain = us[~trained] if name == "on" else us
        out[name] = {
            "p50": np.percentile(us, 50),
            "p99": np.percentile(us, 99),
            "max": us.max(),
            "mean": us.mean(),
            "p99_without_training": np.percentile(plain, 99),
        }
    out["training_worst_ms"] = float(times["on"][trained].max() / 1000) if trained.any() else float("nan")
    out["training_mean_ms"] = float(times["on"][trained].mean() / 1000) if trained.any() else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-rows", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learning.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    results = [
        measure(kind, mode, args.fit_rows, args.rows) for kind in ("uni", "smd") for mode in ("causal", "window")
    ]
    lines = [
        "# Stream latency with continual learning",
        "",
        f"`python benchmarks/learning.py --rows {args.rows}`; {os.cpu_count()} cores, {platform.platform()}, "
        f"torch {torch.__version__} on **1 thread**; conv1d, window 128, fitted on {args.fit_rows} rows (3 epochs); "
        f"learning on = `LearningSettings()` (every 200 rows, 10 Adam steps of 64 windows); the two streams take "
        f"turns row by row; {time.perf_counter() - started:.0f} s.",
        "",
        "| data | mode | learning | p50 µs | p99 µs | p99 µs, rows without training | max µs | mean µs | "
        "p99 ratio on/off | training rows | training row: mean / worst ms |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for name in ("off", "on"):
            s = r[name]
            ratio = f"{r['on']['p99'] / r['off']['p99']:.2f}" if name == "on" else "1"
            train = (
                (f"{r['training_rows']} of {r['rows']}", f"{r['training_mean_ms']:.1f} / {r['training_worst_ms']:.1f}")
                if name == "on"
                else ("-", "-")
            )
            lines.append(
                f"| {r['kind']} ({r['channels']} ch) | {r['mode']} | {name} | {s['p50']:.0f} | {s['p99']:.0f} | "
                f"{s['p99_without_training']:.0f} | {s['max']:.0f} | {s['mean']:.0f} | {ratio} | {train[0]} | "
                f"{train[1]} |"
            )
    lines += [
        "",
        "Goal: `update` p99 < 1 ms with learning on (training steps amortised over `every` rows; "
        "their worst case is the last column).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
