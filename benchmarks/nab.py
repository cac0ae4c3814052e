"""tsae in the Numenta Anomaly Benchmark's protocol, scored by NAB's rules (tsae.nab).

For each series of a collection in the shared format (for NAB: ../shared/datasets/nab):
fit on the probationary first p = min(floor(0.15 n), 750) rows (not meta.json's
train_end), then score every row with ``Detector.assess`` so that row t's score uses
rows 0..t only: the ``causal`` score mode (the error at t of the window ending at t),
continual learning (``--learning``; the model keeps training on earlier rows judged
normal) and the causal calibration (tsae.calibration) into a probability in [0, 1].
With ``--cooldown C`` the detector alerts at probability > ``--alert`` and silences
alerts within C rows of the last one (``events={"cooldown": C}``); the rows it silences
are written as 0, as an operator with that alert rule would see them. Writes
OUT/<series_id>.csv (timestamp, anomaly_score: one row per input row, in order) and
prints the NAB scores of the three profiles (one threshold per profile for the whole
collection, as NAB's optimiser chooses it) and the detection delay.

    python benchmarks/nab.py --data ../shared/datasets/nab --out out/nab [--threads 1] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def probationary_rows(n: int) -> int:
    """NAB's probationary period: min(floor(0.15 n), 750) rows."""
    return min(int(np.floor(0.15 * n)), 750)


def run_series(
    path: str,
    out_dir: str,
    threads: int,
    seed: int,
    variant: str,
    learning: str,
    cooldown: int,
    alert: float,
    window: str,
) -> dict:
    """Fit on the probationary rows of one series, score it causally, write its CSV."""
    import warnings

    from tsae import Detector
    from tsae.io import read_table, write_table

    warnings.simplefilter("ignore")  # short probationary parts: window shortened, few validation scores
    frame = read_table(path)
    p = probationary_rows(len(frame))
    started = time.perf_counter()
    det = Detector(
        score_mode="causal",
        threads=threads,
        seed=seed,
        learning=learning,
        window=int(window) if window.isdigit() else window,
        threshold=f"probability:{alert}",
        events={"cooldown": cooldown},
    ).fit(frame.iloc[:p].drop(columns="label"))
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    assessed = det.assess(frame.drop(columns="label"))
    score_s = time.perf_counter() - started
    if variant == "calibrated":
        probability = assessed["probability"].to_numpy()
        silenced = (probability > alert) & ~assessed["is_anomaly"].to_numpy()  # the cool-down's
        anomaly_score = np.where(silenced, 0.0, np.nan_to_num(probability, nan=0.0))  # no score yet: 0
    else:  # NAB wants [0, 1]: squash the raw score monotonically
        raw = np.nan_to_num(assessed["score"].to_numpy(), nan=0.0)
        anomaly_score = raw / (1.0 + raw)
    series_id = Path(path).stem
    write_table(
        pd.DataFrame({"timestamp": frame["timestamp"], "anomaly_score": anomaly_score}),
        Path(out_dir) / f"{series_id}.csv",
    )
    return {
        "id": series_id,
        "n": len(frame),
        "probationary": p,
        "window": det.window_,
        "fit_s": round(fit_s, 2),
        "score_s": round(score_s, 2),
        "scores": anomaly_score.tolist(),
        "labels": frame["label"].to_numpy().astype(int).tolist(),
    }


def detection_delays(corpus: dict, threshold: float, profile: str) -> dict:
    """For every detected window: rows from its start to the first detection, and that
    as a share of the window's length."""
    from tsae import nab

    rows, share = [], []
    for scores, labels in corpus.values():
        result = nab.score_file(scores, nab.windows_from_labels(labels), threshold, profile)
        for (start, end), first in zip(result.windows, result.first_detections):
            if first is not None:
                rows.append(first - start)
                share.append((first - start) / (end - start + 1))
    return {"rows": rows, "share": share}


def _median(values: list) -> float:
    return float(np.median(values)) if values else float("nan")


def _mean(values: list) -> float:
    return float(np.mean(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "nab")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "nab")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per series")
    parser.add_argument("--jobs", type=int, default=2, help="series fitted in parallel (processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=("calibrated", "raw"), default="calibrated")
    parser.add_argument("--learning", default="on", help="continual learning: on, off or settings")
    parser.add_argument("--cooldown", type=int, default=50, help="rows an alert silences the next ones for")
    parser.add_argument("--alert", type=float, default=0.999999999, help="alert level of the probability")
    parser.add_argument("--window", default="auto", help="window length (default: auto)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "nab.md")
    args = parser.parse_args()

    from tsae import nab

    args.out.mkdir(parents=True, exist_ok=True)
    paths = sorted(str(p) for p in args.data.glob("*.csv"))
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        n = len(paths)
        runs = list(
            pool.map(
                run_series,
                paths,
                [str(args.out)] * n,
                [args.threads] * n,
                [args.seed] * n,
                [args.variant] * n,
                [args.learning] * n,
                [args.cooldown] * n,
                [args.alert] * n,
                [args.window] * n,
            )
        )
    wall = time.perf_counter() - started
    corpus = {r["id"]: (np.array(r["scores"]), np.array(r["labels"])) for r in runs}
    results = {profile: nab.nab_score(corpus, profile=profile) for profile in PROFILES}
    delays = {profile: detection_delays(corpus, r["threshold"], profile) for profile, r in results.items()}
    lines = [
        "# NAB",
        "",
        f"`python benchmarks/nab.py --variant {args.variant} --learning {args.learning} --cooldown {args.cooldown} "
        f"--alert {args.alert} --window {args.window} --threads {args.threads} --jobs {args.jobs}` on "
        f"{len(runs)} series of `{args.data.name}`; {os.cpu_count()} cores, {platform.platform()}; "
        f"{wall:.0f} s wall (fit {sum(r['fit_s'] for r in runs):.0f} s, scoring with learning "
        f"{sum(r['score_s'] for r in runs):.0f} s over {sum(r['n'] for r in runs)} rows). Fit on the "
        f"probationary rows (min(floor(0.15 n), 750)), causal score mode, continual learning {args.learning}, "
        f"anomaly_score = {'calibrated probability (tsae.calibration)' if args.variant == 'calibrated' else 'raw/(1+raw)'}"
        f"{f', silenced for {args.cooldown} rows after an alert at > {args.alert} (written as 0)' if args.cooldown else ''}.",
        "",
        "| profile | NAB score | threshold | windows detected | delay rows: median / mean | delay, share of window: median |",
        "|---|---:|---:|---:|---|---:|",
        *[
            f"| {profile} | {r['score']:.2f} | {r['threshold']:.6g} | {r['windows']['detected']} of "
            f"{r['windows']['scored']} | {_median(delays[profile]['rows']):.0f} / {_mean(delays[profile]['rows']):.0f} | "
            f"{_median(delays[profile]['share']):.2f} |"
            for profile, r in results.items()
        ],
        "",
        "Delay: rows from a labelled window's start to its first detection at the profile's threshold "
        "(NAB's windows start before the anomaly: a detection inside the window counts, earlier is better).",
        "",
        "Other variants and settings measured: [nab-tried.md](nab-tried.md).",
        "",
    ]
    args.results.write_text("\n".join(lines))
    (args.results.with_suffix(".json")).write_text(
        json.dumps(
            {
                "variant": args.variant,
                "results": {k: {kk: vv for kk, vv in v.items() if kk != "files"} for k, v in results.items()},
                "delays": delays,
                "series": [{k: v for k, v in r.items() if k not in ("scores", "labels")} for r in runs],
            },
            indent=2,
            default=float,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
