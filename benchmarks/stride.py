#!/usr/bin/env python
"""What scoring with a stride costs in accuracy and gains in speed (choosing ``stride="auto"``).

``Detector(stride=s)`` scores every ``s``-th sliding window (from row 0) and gives each point
the mean over the scored windows covering it (``tsae.scoring``): ``window / s`` windows per
point, ``1 / s`` of the forward passes. Setting ``det.stride_`` on a fitted detector changes
how ``score`` scores and nothing else, so one fit per series serves every stride. Strides are
named by K, the windows per point: ``stride = max(1, window_ // K)``, K in ``KS`` ("all" =
stride 1, every window); ``stride="auto"`` is K = ``tsae.detector.AUTO_STRIDE_WINDOWS``.

Two parts, run one after the other in the order of ``--parts`` (default speed first, while
the machine is quiet):

* **speed**: ``make_signal(n=100_000, channels=1, seed=0)`` (as ``speed.py``'s ``uni`` case);
  ``Detector(threads=1, stride=1)`` fitted once on the whole series, then ``score`` of the whole
  series for every K, in this process, in ``--rounds`` rounds (each round scores every K once,
  in order), keeping each K's best time. Waits for the 1-minute load average to fall below
  ``--max-load`` first (``--load-retries`` checks ``--load-wait`` seconds apart, then runs
  anyway); the load before and after is recorded.
* **accuracy**: every series of the shared collections as ``accuracy.py`` loads them (its
  ``_tasks``/``_load``), ``Detector(seed=0, threads=1, stride=1, progress=False)`` fitted on rows
  ``[0, train_end)``, then every row scored with each K (timed), and on the test rows
  ``[train_end, n)`` VUS-PR (buffer = ``auto_window`` of the training rows), AUC-PR (and UCR
  top-1) with ``tsae.metrics``, exactly as ``accuracy.py``'s ``tsae-conv1d`` rows; plus the
  largest relative difference of the scores from stride 1's, per series. Series run in
  ``--jobs`` spawned workers, torch/BLAS on one thread each (``accuracy._worker_init``).

Usage::

    python benchmarks/stride.py [--jobs 2] [--collections nab,ucr,smd] [--parts speed,accuracy]
        [--limit N] [--series ID,...] [--max-load 1.2] [--out benchmarks/results]
    python benchmarks/stride.py --render benchmarks/results/stride.json [--notes notes.md]

Writes ``<out>/stride.md`` (tables and conclusion) and ``<out>/stride.json`` (metadata, one row
per series with every K, the speed timings). A part left out of ``--parts`` is kept from an
existing ``<out>/stride.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# accuracy sets the one-thread variables (OMP_NUM_THREADS=1 ...) on import, before numpy or torch load
from accuracy import (  # noqa: E402
    DEFAULT_COLLECTIONS,
    SEED,
    UCR_TOLERANCE,
    _fmt_elapsed,
    _load_task,
    _parse_list,
    _tasks,
    _tsae_source,
    _versions,
    _worker_init,
)
from machine import provenance, rerender  # noqa: E402
from speed import UNI_N, _machine, _source_hash  # noqa: E402

#: Windows per point; None = every window (stride 1, the reference).
KS = (None, 64, 32, 16, 8, 4)
WORSE = 0.05  # a series "got worse" when its metric fell by more than this fraction
SPEED_ROUNDS = 3


def _label(k) -> str:
    return "all" if k is None else str(k)


def _stride(window: int, k) -> int:
    return 1 if k is None else max(1, window // k)


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


# ------------------------------------------------------------------------------ accuracy (workers)


def run_series(task: dict) -> dict:
    """One series: one fit, then every K scored and measured. Never raises: errors go in the row."""
    import numpy as np
    import pandas as pd

    from tsae import Detector, metrics

    row = {"collection": task["collection"], "series": task["series"], "error": None, "strides": []}
    try:
        values, labels, meta, cols, fields = _load_task(task)
        row.update(fields)
        n, te, vus_window = fields["n"], fields["train_end"], fields["vus_window"]
        y_test = labels[te:]
        frame = pd.DataFrame(values, columns=cols)
        det = Detector(seed=SEED, threads=1, stride=1, progress=False)
        _, fit_s, fit_c = _timed(lambda: det.fit(frame.iloc[:te]))
        w = det.window_
        row.update(window=w, fit_s=round(fit_s, 3), fit_cpu_s=round(fit_c, 3), epochs_run=det.training_["epochs_run"])
        scorable = bool(y_test.any() and not y_test.all())
        base, done = None, {}  # stride 1's scores; stride -> (scores, metrics) already computed
        for k in KS:
            stride = _stride(w, k)
            det.stride_ = stride
            scores, score_s, score_c = _timed(lambda: det.score(frame).to_numpy(dtype=np.float64))
            if scores.shape != (n,):
                raise ValueError(f"K={_label(k)}: scores have shape {scores.shape}, expected ({n},)")
            bad = ~np.isfinite(scores[te:])
            if bad.any():
                raise ValueError(f"K={_label(k)}: non-finite scores in the test part: {int(bad.sum())} rows")
            r = {
                "k": _label(k),
                "stride": stride,
                "windows_scored": (n - w) // stride + 1,
                "score_s": round(score_s, 4),
                "score_cpu_s": round(score_c, 4),
            }
            same = stride in done and np.array_equal(done[stride][0], scores)
            if same:  # the same stride as an earlier K (short windows): identical scores, same metrics
                r.update(done[stride][1])
            else:
                m = {"vus_pr": None, "auc_pr": None, "ucr_top1": None}
                if scorable:
                    s_test = scores[te:]
                    m["vus_pr"] = round(float(metrics.vus_pr(y_test, s_test, sliding_window=vus_window)), 6)
                    m["auc_pr"] = round(float(metrics.auc_pr(y_test, s_test)), 6)
                if task["collection"] == "ucr" and meta["anomaly_ranges"]:
                    start, end = meta["anomaly_ranges"][0]
                    m["ucr_top1"] = int(metrics.ucr_top1(scores, start, end, te, tolerance=UCR_TOLERANCE))
                if base is None:
                    base = scores
                pos = np.abs(base) > 0
                rel = np.abs(scores[pos] - base[pos]) / np.abs(base[pos])
                m["max_rel_diff"] = float(rel.max()) if rel.size else 0.0
                m["p99_rel_diff"] = float(np.quantile(rel, 0.99)) if rel.size else 0.0
                done[stride] = (scores, m)
                r.update(m)
            r["same_scores_as_earlier_k"] = same
            row["strides"].append(r)
    except Exception as exc:  # noqa: BLE001 - reported in the results, never hidden
        import traceback

        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=4)
    return row


def run_accuracy(args) -> dict:
    tasks = _tasks(args, ["tsae-conv1d"])  # the series, longest first (the method name only sizes them)
    print(f"accuracy: {len(tasks)} series on {args.jobs} worker(s)", flush=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    rows = []
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=args.jobs, mp_context=ctx, initializer=_worker_init, initargs=(False,)
    ) as pool:
        futures = [pool.submit(run_series, t) for t in tasks]
        for i, fut in enumerate(as_completed(futures), 1):
            row = fut.result()
            rows.append(row)
            if row["error"]:
                res = "ERROR " + row["error"]
            else:
                res = " ".join(f"{s['k']}:{_f(s['vus_pr'])}" for s in row["strides"])
            print(
                f"[{i}/{len(tasks)} {_fmt_elapsed(time.perf_counter() - started)}] {row['collection']}/"
                f"{row['series']} window {row.get('window')}: VUS-PR by K {res}",
                flush=True,
            )
    rows.sort(key=lambda r: (r["collection"], r["series"]))
    return {
        "collections": _parse_list(args.collections),
        "limit": args.limit,
        "series_filter": _parse_list(args.series),
        "jobs": args.jobs,
        "wall_s": round(time.perf_counter() - started, 1),
        "load_avg_start": load_start,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }


# ------------------------------------------------------------------------------ speed (this process)


def _wait_for_load(max_load: float, wait_s: float, retries: int) -> list[dict]:
    """Check the 1-minute load until it is below ``max_load`` (at most ``retries`` + 1 checks)."""
    checks = []
    for attempt in range(retries + 1):
        load1 = os.getloadavg()[0]
        checks.append({"time": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "load1": round(load1, 2)})
        if load1 < max_load:
            break
        if attempt < retries:
            print(f"speed: load1 {load1:.2f} >= {max_load}; waiting {wait_s:.0f} s", flush=True)
            time.sleep(wait_s)
    return checks


def run_speed(args) -> dict:
    import torch

    from tsae import Detector
    from tsae_datasets.synthetic import make_signal

    checks = _wait_for_load(args.max_load, args.load_wait, args.load_retries)
    df = make_signal(n=args.speed_n, channels=1, seed=0)
    n = len(df)
    load_start = [round(x, 2) for x in os.getloadavg()]
    det = Detector(threads=1, stride=1)
    _, fit_s, _ = _timed(lambda: det.fit(df))
    w = det.window_
    times = {_label(k): [] for k in KS}
    cpu = {_label(k): [] for k in KS}
    for rnd in range(args.rounds):
        for k in KS:
            det.stride_ = _stride(w, k)
            _, wall, c = _timed(lambda: det.score(df))
            times[_label(k)].append(round(wall, 4))
            cpu[_label(k)].append(round(c, 4))
        print(f"speed: round {rnd + 1}/{args.rounds}: " + ", ".join(f"{k} {t[-1]:.2f}s" for k, t in times.items()))
    load_end = [round(x, 2) for x in os.getloadavg()]
    base = min(times["all"])
    cases = []
    for k in KS:
        lab = _label(k)
        best = min(times[lab])
        i = times[lab].index(best)
        cases.append(
            {
                "k": lab,
                "stride": _stride(w, k),
                "windows_scored": (n - w) // _stride(w, k) + 1,
                "best_s": best,
                "times_s": times[lab],
                "cpu_s_of_best": cpu[lab][i],
                "points_per_s": round(n / best, 1),
                "speedup_vs_stride1": round(base / best, 3),
            }
        )
    return {
        "series": f"make_signal(n={args.speed_n}, channels=1, seed=0)",
        "n": n,
        "window": w,
        "detector": "Detector(threads=1, stride=1), other settings default; fitted once on the whole series",
        "fit_s": round(fit_s, 2),
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "max_load": args.max_load,
        "load_checks": checks,
        "load_avg_start": load_start,
        "load_avg_end": load_end,
        "cases": cases,
    }


# ------------------------------------------------------------------------------ output


def _f(x, nd=3) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def _mean(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return sum(xs) / len(xs) if xs else None


def _pct(new, ref) -> str:
    if new is None or not ref:
        return "–"
    return f"{(new / ref - 1) * 100:+.2f} %"


def summarise(rows: list[dict], collections: list[str]) -> dict:
    """collection -> K -> aggregates (means over the series scored at every K)."""
    out = {}
    for coll in collections:
        ok = [r for r in rows if r["collection"] == coll and not r["error"]]
        out[coll] = {"series": sum(r["collection"] == coll for r in rows), "errors": 0, "by_k": {}}
        out[coll]["errors"] = out[coll]["series"] - len(ok)
        if not ok:
            continue
        ref = {r["series"]: r["strides"][0] for r in ok}
        for j, k in enumerate(KS):
            per = [(r["strides"][j], ref[r["series"]]) for r in ok]
            scored = [(s, b) for s, b in per if s["vus_pr"] is not None and b["vus_pr"] is not None]
            top = [s["ucr_top1"] for s, _ in per if s["ucr_top1"] is not None]
            strides = [s["stride"] for s, _ in per]
            rel = [s["max_rel_diff"] for s, _ in per]
            out[coll]["by_k"][_label(k)] = {
                "scored": len(scored),
                "stride_min": min(strides),
                "stride_max": max(strides),
                "series_at_stride1": sum(x == 1 for x in strides),
                "vus_pr": _mean([s["vus_pr"] for s, _ in scored]),
                "auc_pr": _mean([s["auc_pr"] for s, _ in scored]),
                "vus_worse": sum(s["vus_pr"] < (1 - WORSE) * b["vus_pr"] for s, b in scored),
                "vus_better": sum(s["vus_pr"] > (1 + WORSE) * b["vus_pr"] for s, b in scored),
                "auc_worse": sum(s["auc_pr"] < (1 - WORSE) * b["auc_pr"] for s, b in scored),
                "ucr_top1": sum(top) if top else None,
                "ucr_n": len(top),
                "score_s": sum(s["score_s"] for s, _ in per),
                "max_rel_diff_median": sorted(rel)[len(rel) // 2],
                "max_rel_diff_max": max(rel),
            }
    return out


def conclusion(summary: dict, speed: dict | None) -> list[str]:
    """Which K keep mean VUS-PR within 1 % and 2 % of stride 1 on every collection."""
    colls = [c for c in summary if summary[c]["by_k"]]
    if not colls:
        return []
    drops = {}
    for k in KS[1:]:
        lab = _label(k)
        drops[lab] = {
            c: summary[c]["by_k"][lab]["vus_pr"] / summary[c]["by_k"]["all"]["vus_pr"] - 1
            for c in colls
            if summary[c]["by_k"]["all"]["vus_pr"]
        }
    spd = {c["k"]: c for c in speed["cases"]} if speed else {}
    lines = []
    for tol in (0.01, 0.02):
        keep = [lab for lab, d in drops.items() if all(v >= -tol for v in d.values())]
        # the fewest windows per point (largest stride, fastest) such that every K above it qualifies too
        chosen = None
        for lab in drops:  # KS order: 64, 32, 16, 8, 4
            if lab not in keep:
                break
            chosen = lab
        lines.append(
            f"- Mean VUS-PR within {tol:.0%} of stride 1 (a fall of at most {tol:.0%}) on every collection "
            f"({', '.join(colls)}): K = {', '.join(keep) if keep else 'none'}."
        )
        if chosen is None:
            lines.append(f"  No K from 64 down keeps it: already K = 64 falls by more than {tol:.0%} on a collection.")
            continue
        s = spd.get(chosen)
        lines.append(
            f"  Smallest K with every larger K qualifying too: **K = {chosen}** (changes vs stride 1: "
            + ", ".join(f"{c} {v * 100:+.2f} %" for c, v in drops[chosen].items())
            + ")"
            + (
                f"; speed at K = {chosen} (stride {s['stride']} for the speed series' window of {speed['window']}): "
                f"{s['points_per_s']:,.0f} points/s on 1 thread, {s['speedup_vs_stride1']:.2f}x stride 1."
                if s
                else "."
            )
        )
    return lines


def render_md(data: dict) -> str:
    meta, acc, speed = data["meta"], data.get("accuracy"), data.get("speed")
    L = ["# Scoring stride: accuracy cost and speed gain", ""]
    L.append(provenance(meta, "stride.py"))
    L.append("")
    v = meta["versions"]
    L.append(
        f"- Machine: {meta['cpu_model']}, {meta['nproc']} cores, {meta['mem_total_gb']} GB RAM; python "
        f"{v['python']}, torch {v['torch']}, numpy {v['numpy']}, tsae {v['tsae']}."
    )
    L.append(
        "- Threads: torch, BLAS/OpenMP on 1 thread in every process (`OMP_NUM_THREADS=1` etc.; "
        "`torch.set_num_threads(1)` in the workers, `Detector(threads=1)`)."
    )
    L.append(f"- Total wall time {_fmt_elapsed(meta.get('wall_s', 0))}.")
    if meta.get("kept_parts"):
        L.append(f"- Parts kept from an earlier run (not rerun): {', '.join(meta['kept_parts'])}.")
    L.append(
        "- K = scored windows per point; stride = `max(1, window_ // K)` per series (K = all: stride 1, every "
        'window). `stride="auto"` is K = 16 (`AUTO_STRIDE_WINDOWS`). One fit per series, '
        "`Detector(stride=1)`; each K sets `det.stride_` and calls `det.score`."
    )
    L.append("")
    if acc:
        colls = [c for c in acc["collections"] if any(r["collection"] == c for r in acc["rows"])]
        summary = summarise(acc["rows"], colls)
        L.append("## Accuracy")
        L.append("")
        L.append(
            f"Every series of {', '.join(colls)}"
            + (f" (first {acc['limit']} of each)" if acc.get("limit") else "")
            + (f" (series {', '.join(acc['series_filter'])})" if acc.get("series_filter") else "")
            + ", as `accuracy.py`'s `tsae-conv1d`: `Detector(seed=0, threads=1, stride=1, progress=False)` fitted "
            "on rows `[0, train_end)`, every row scored, VUS-PR (buffer = `auto_window` of the training rows) and "
            "AUC-PR (`tsae.metrics`) on the test rows `[train_end, n)`; series without an anomaly in the test part "
            f"get no metric. {acc['jobs']} worker processes (spawn); wall time {_fmt_elapsed(acc['wall_s'])}; "
            f"load average at start {acc['load_avg_start']}, at end {acc['load_avg_end']}."
        )
        L.append("")
        L.append(
            "Columns: Δ = relative change of the mean vs K = all; worse/better > 5 % = series whose metric "
            "fell/rose by more than 5 % (relative) vs K = all; score s = summed wall time of `score` "
            "(two workers share the 2 cores, so these times are noisier than the speed table); "
            "max rel. diff = per series the largest |score − stride-1 score| / stride-1 score over all rows, "
            "median and maximum over the series."
        )
        L.append("")
        for coll in colls:
            s = summary[coll]
            if not s["by_k"]:
                L.append(f"### {coll}: every series failed")
                L.append("")
                continue
            ucr = coll == "ucr"
            L.append(
                f"### {coll} ({s['series']} series, {s['by_k']['all']['scored']} with VUS/AUC"
                + (f", {s['errors']} failed" if s["errors"] else "")
                + ")"
            )
            L.append("")
            L.append(
                "| K | stride (min–max) | series at stride 1 | mean VUS-PR | Δ | VUS-PR worse / better > 5 % | "
                "mean AUC-PR | Δ | AUC-PR worse > 5 % |"
                + (" UCR top-1 |" if ucr else "")
                + " score s | speed-up | max rel. diff (median / max) |"
            )
            L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if ucr else "") + "---:|---:|---:|")
            ref = s["by_k"]["all"]
            for k in KS:
                a = s["by_k"][_label(k)]
                first = k is None
                worse = "" if first else f"{a['vus_worse']} / {a['vus_better']}"
                L.append(
                    f"| {_label(k)} | {a['stride_min']}–{a['stride_max']} | {a['series_at_stride1']} | "
                    f"{_f(a['vus_pr'], 4)} | {'' if first else _pct(a['vus_pr'], ref['vus_pr'])} | "
                    f"{worse} | {_f(a['auc_pr'], 4)} | "
                    f"{'' if first else _pct(a['auc_pr'], ref['auc_pr'])} | {'' if first else a['auc_worse']} |"
                    + (f" {a['ucr_top1']}/{a['ucr_n']} |" if ucr else "")
                    + f" {a['score_s']:.1f} | {ref['score_s'] / a['score_s']:.2f}x | "
                    + ("" if first else f"{a['max_rel_diff_median']:.3g} / {a['max_rel_diff_max']:.3g}")
                    + " |"
                )
            L.append("")
        errors = [r for r in acc["rows"] if r["error"]]
        if errors:
            L.append("Errors: " + "; ".join(f"{r['collection']}/{r['series']}: {r['error']}" for r in errors))
            L.append("")
        ref_acc = meta.get("accuracy_md_reference")
        if ref_acc:
            L.append(
                f"For reference, `results/accuracy.json` ({ref_acc['date']}, tsae commit {ref_acc['commit']}, "
                "before strides existed) has for `tsae-conv1d`: "
                + ", ".join(
                    f"{c} VUS-PR {x['vus_pr']:.4f} / AUC-PR {x['auc_pr']:.4f}" for c, x in ref_acc["means"].items()
                )
                + "."
            )
            L.append("")
    else:
        summary = {}
    if speed:
        L.append("## Speed")
        L.append("")
        checks = ", ".join(f"{c['load1']} ({c['time'][11:19]})" for c in speed["load_checks"])
        L.append(
            f"`{speed['series']}` (window {speed['window']}): {speed['detector']} (fit {speed['fit_s']} s), then "
            f"`score` of all {speed['n']:,} points for each K, in this one process, {speed['rounds']} rounds "
            f"(each round every K in turn); best time kept. torch threads {speed['torch_threads']}. 1-minute load "
            f"checks before starting (wanted < {speed['max_load']}): {checks}; load average at start "
            f"{speed['load_avg_start']}, at end {speed['load_avg_end']}."
        )
        L.append("")
        L.append(
            "| K | stride | windows scored | best s | all times s | CPU s of best | points/s (1 thread) | vs stride 1 |"
        )
        L.append("|---|---:|---:|---:|---|---:|---:|---:|")
        for c in speed["cases"]:
            L.append(
                f"| {c['k']} | {c['stride']} | {c['windows_scored']:,} | {c['best_s']:.3f} | "
                f"{', '.join(f'{t:.3f}' for t in c['times_s'])} | {c['cpu_s_of_best']:.3f} | "
                f"{c['points_per_s']:,.0f} | {c['speedup_vs_stride1']:.2f}x |"
            )
        L.append("")
    concl = conclusion(summary, speed) if summary else []
    if concl or meta.get("notes"):
        L.append("## Conclusion")
        L.append("")
        L += concl
        if meta.get("notes"):
            L.append("")
            L.append("Notes on this run:")
            L.append("")
            L.append(meta["notes"].strip())
        L.append("")
    return "\n".join(L)


def _accuracy_reference() -> dict | None:
    """The tsae-conv1d means of results/accuracy.json, when it exists (for a sanity check)."""
    path = HERE / "results" / "accuracy.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    means = {}
    for coll in saved["meta"].get("collections", []):
        rs = [r for r in saved["rows"] if r["collection"] == coll and r["method"] == "tsae-conv1d" and not r["error"]]
        rs = [r for r in rs if r["vus_pr"] not in ("", None)]
        if rs:
            means[coll] = {
                "vus_pr": _mean([float(r["vus_pr"]) for r in rs]),
                "auc_pr": _mean([float(r["auc_pr"]) for r in rs]),
            }
    src = saved["meta"].get("tsae_source") or {}
    return {"date": saved["meta"].get("date"), "commit": src.get("commit"), "means": means} if means else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--parts", default="speed,accuracy", help="comma list of speed, accuracy, run in that order (default both)"
    )
    p.add_argument("--collections", default=",".join(DEFAULT_COLLECTIONS), help="comma list (default nab,ucr,smd)")
    p.add_argument("--jobs", type=int, default=2, help="accuracy worker processes (default 2)")
    p.add_argument("--limit", type=int, default=0, help="first N series of each collection (0 = all)")
    p.add_argument("--series", help="only these series ids (comma list)")
    p.add_argument("--speed-n", type=int, default=UNI_N, help=f"points of the speed series (default {UNI_N})")
    p.add_argument("--rounds", type=int, default=SPEED_ROUNDS, help=f"speed rounds, best kept (default {SPEED_ROUNDS})")
    p.add_argument("--max-load", type=float, default=1.2, help="run the speed part below this 1-minute load")
    p.add_argument("--load-wait", type=float, default=60, help="seconds between load checks (default 60)")
    p.add_argument("--load-retries", type=int, default=5, help="load re-checks before running anyway (default 5)")
    p.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results)")
    p.add_argument("--render", metavar="JSON", help="only rewrite stride.md in --out from a saved stride.json")
    p.add_argument(
        "--notes", metavar="MD", help="with --render: store this file's text in the json as notes on the run"
    )
    args = p.parse_args(argv)
    out = Path(args.out)

    if args.render:
        rerender(args.render, args.notes, out, "stride", render_md)
        return 0

    parts = _parse_list(args.parts)
    if not parts or set(parts) - {"speed", "accuracy"}:
        p.error("--parts: a comma list of speed, accuracy")
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (out / "stride.json").exists():
        previous = json.loads((out / "stride.json").read_text())
    meta = _machine()
    meta.update(
        date=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        command=" ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        versions=_versions(),
        tsae_source=_tsae_source(),
        ks=[_label(k) for k in KS],
        parts=parts,
        accuracy_md_reference=_accuracy_reference(),
    )
    data = {"meta": meta}
    started = time.perf_counter()
    for part in parts:  # in the order given
        data[part] = run_speed(args) if part == "speed" else run_accuracy(args)
    kept = [part for part in ("speed", "accuracy") if part not in parts and previous.get(part)]
    for part in kept:
        data[part] = previous[part]
    meta["kept_parts"] = kept
    meta["wall_s"] = round(time.perf_counter() - started, 1)
    meta["source_hash_end"] = _source_hash()
    meta["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    (out / "stride.json").write_text(json.dumps(data, indent=1) + "\n")
    md = render_md(data)
    (out / "stride.md").write_text(md)
    print(md)
    print(f"done in {_fmt_elapsed(meta['wall_s'])}; wrote {out / 'stride.md'} and {out / 'stride.json'}")
    errors = data.get("accuracy", {}).get("rows", [])
    return 1 if any(r["error"] for r in errors) else 0


if __name__ == "__main__":
    sys.exit(main())
