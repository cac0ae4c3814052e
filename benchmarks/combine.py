"""Ensembles from saved scores: the metrics of the mean of several runs' scores.

``accuracy.py --save-scores DIR`` keeps every task's scores (all rows) as
``DIR/<collection>/<series>__<method>.npy``. This script averages the scores of several
(DIR, method) pairs row by row (tsae's scores are all about 1 on normal data, so a plain
mean weighs the members alike) and measures the mean with ``accuracy.py``'s protocol:
VUS-PR on the test rows, UCR top-1. No model is fitted: an ensemble's fit time is the
sum of its members' (in their runs' ``accuracy.csv``).

    python benchmarks/combine.py conv+lstm=/tmp/s0:tsae-conv1d,/tmp/s0:tsae-lstm \\
        conv=/tmp/s0:tsae-conv1d

prints, per ensemble, mean VUS-PR per collection and the UCR top-1 hits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from accuracy import UCR_TOLERANCE, _load_task

from tsae import metrics


def parse(spec: str) -> tuple[str, list[tuple[Path, str]]]:
    """``NAME=DIR:METHOD[,DIR:METHOD...]`` -> (NAME, [(DIR, METHOD), ...])."""
    name, _, members = spec.partition("=")
    pairs = [member.rsplit(":", 1) for member in members.split(",")]
    if not name or any(len(p) != 2 for p in pairs):
        raise SystemExit(f"bad ensemble {spec!r}: expected NAME=DIR:METHOD[,DIR:METHOD...]")
    return name, [(Path(d), m) for d, m in pairs]


def evaluate(members: list[tuple[Path, str]], collections: list[str]) -> dict:
    """{collection: (mean VUS-PR, UCR top-1 hits or None, series)} of the members' mean score."""
    from tsae_datasets.shared import list_series

    out = {}
    for coll in collections:
        vus, hits = [], 0
        for sid in list_series(coll):
            _, labels, meta, _, fields = _load_task({"collection": coll, "series": sid})
            te = fields["train_end"]
            score = np.mean([np.load(d / coll / f"{sid}__{m}.npy") for d, m in members], axis=0)  # (n,)
            y = labels[te:]
            if y.any() and not y.all():
                vus.append(metrics.vus_pr(y, score[te:], sliding_window=fields["vus_window"]))
            if coll == "ucr":
                start, end = meta["anomaly_ranges"][0]
                hits += int(metrics.ucr_top1(score, start, end, te, tolerance=UCR_TOLERANCE))
        out[coll] = (float(np.mean(vus)), hits if coll == "ucr" else None, len(list_series(coll)))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ensembles", nargs="+", help="NAME=DIR:METHOD[,DIR:METHOD...]")
    p.add_argument("--collections", default="nab,ucr,smd", help="comma list (default nab,ucr,smd)")
    args = p.parse_args(argv)
    collections = [c for c in args.collections.split(",") if c]
    for name, members in map(parse, args.ensembles):
        result = evaluate(members, collections)
        cells = [f"{c} {v:.3f}" + (f" ({h}/{n} top-1)" if h is not None else "") for c, (v, h, n) in result.items()]
        print(f"{name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
