#!/usr/bin/env python
"""Detection accuracy and cost of tsae's defaults against the peers a user would pick.

For every series of the chosen collections of the shared labelled data (NAB, UCR, SMD;
see ``tsae_datasets.shared``) and every method:

* fit on rows ``[0, train_end)`` (the part the source marks as normal), timed;
* score every row of the series, timed;
* on the test rows ``[train_end, n)`` only, compute with ``tsae.metrics`` VUS-PR, AUC-PR,
  AUC-ROC and, for ``ucr``, the top-1 hit (``tsae.metrics.ucr_top1``, +/- 100 rows).

Methods: ``tsae-monitor`` (``tsae.coldstart.MONITORING``: causal scores, continual learning,
the calibrated probability as the score), ``tsae-<model>`` (``tsae.Detector`` with its defaults; only ``model``, ``seed`` (``--seed``, 0),
``threads=1`` and ``progress=False`` are set) for each model of ``--models``, and the peers of
``benchmarks/peers.py`` (``--peers``): IsolationForest and Sub-PCA on windows (TSB-AD's
Sub-IForest / Sub-PCA), PyOD's AutoEncoder on windows, LSTMAD (TSB-AD's, re-implemented) and a
stumpy matrix-profile AB-join against the training rows. Their settings are in peers.py.

Every (series, method) pair is one task, run in a worker process (``--jobs`` of them, "spawn"
context) with torch, BLAS/OpenMP and numba on one thread each; tasks are started longest
first. The VUS buffer (``sliding_window``) of a series is ``tsae.windows.auto_window`` of its
training rows, the same for every method (TSB-AD evaluates with the series' period too).

Usage::

    python benchmarks/accuracy.py [--data ../shared/datasets] [--collections nab,ucr,smd]
        [--models conv1d] [--peers iforest,subpca,pyod_ae,lstmad,mp] [--methods ...]
        [--jobs 2] [--limit N] [--series ID,...] [--out benchmarks/results] [--resume]
    python benchmarks/accuracy.py --render benchmarks/results/accuracy.json [--notes notes.md]

Writes ``<out>/accuracy.md`` (summary tables), ``<out>/accuracy.csv`` (one row per series and
method) and ``<out>/accuracy.json`` (run metadata + the same rows). Rows are also appended to
``<out>/accuracy.partial.jsonl`` as tasks finish, so ``--resume`` can continue a stopped run.
"""

from __future__ import annotations

import os

# One thread per worker for every library that would start a pool. Set before numpy, torch
# or numba are imported; spawned workers inherit the environment (and re-run this module).
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
for _var in _THREAD_VARS:
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import datetime as _dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402

from machine import cpu_model as _cpu_model  # noqa: E402  (benchmarks/machine.py)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

ALL_PEERS = ["iforest", "subpca", "pyod_ae", "lstmad", "mp"]
DEFAULT_COLLECTIONS = ["nab", "ucr", "smd"]
UCR_TOLERANCE = 100
SEED = 0  # default --seed
#: Extra tsae methods (only with ``--methods``, never in the default list): ``Detector`` with
#: these settings and every other one at its default, like ``tsae-<model>``. The code
#: regularisers and the VAE of issue 16, settings chosen once, a priori (not tuned here).
TSAE_VARIANTS = {
    "tsae-l1": {"regularizer": "l1:0.001"},
    "tsae-ksparse": {"regularizer": "ksparse:4"},
    "tsae-contractive": {"regularizer": "contractive:0.01"},
    "tsae-vae": {"model": "vae"},
    "tsae-vae-b0.1": {"model": "vae", "model_params": {"beta": 0.1}},
    # Donut-style Monte-Carlo reconstruction probability, 16 draws (chosen a priori)
    "tsae-vae-mc": {"model": "vae", "model_params": {"mc_samples": 16}},
    "tsae-vae-b0.1-mc": {"model": "vae", "model_params": {"beta": 0.1, "mc_samples": 16}},
    # issue 17: the nearest-training-window distance's weight (default 2), 0 = reconstruction only
    "tsae-discord0": {"discord": 0.0},
    "tsae-discord1": {"discord": 1.0},
    "tsae-discord3": {"discord": 3.0},
    # issue 17: other corruptions of the denoising objective (the default is gaussian:0.3)
    "tsae-mask": {"noise": "mask:0.2"},
    "tsae-noise0.5": {"noise": "gaussian:0.5"},
    # issue 17: fixed windows against the detected period
    "tsae-w32": {"window": 32},
    "tsae-w64": {"window": 64},
}
CSV_FIELDS = [
    "collection",
    "series",
    "method",
    "n",
    "train_end",
    "dims",
    "n_test",
    "test_anomaly_points",
    "vus_window",
    "window",
    "vus_pr",
    "auc_pr",
    "auc_roc",
    "ucr_top1",
    "fit_s",
    "score_s",
    "total_s",
    "fit_cpu_s",
    "score_cpu_s",
    "info",
    "error",
]


# ------------------------------------------------------------------------------ worker side

_SERIES_CACHE: dict = {}


def _worker_init(warm_numba: bool) -> None:
    """Per worker process: 1 torch thread, 1 BLAS/OpenMP thread, numba compiled once."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    if warm_numba:
        # stumpy's numba functions compile on first use (~10-20 s); do it here, untimed.
        import numpy as np
        import stumpy

        rng = np.random.default_rng(0)
        stumpy.stump(rng.standard_normal(64), 8, rng.standard_normal(64), ignore_trivial=False)


def _load(collection: str, series_id: str):
    """(values (n, C) float64, labels (n,) int, meta), cached for the last series."""
    key = (collection, series_id)
    if key not in _SERIES_CACHE:
        from tsae_datasets.shared import load_series

        df, meta = load_series(collection, series_id)
        cols = [c for c in df.columns if c not in ("timestamp", "label")]
        _SERIES_CACHE.clear()
        _SERIES_CACHE[key] = (df[cols].to_numpy(dtype="float64"), df["label"].to_numpy(dtype="int64"), meta, cols)
    return _SERIES_CACHE[key]


def _load_task(task: dict) -> tuple:
    """(values, labels, meta, cols, row fields: n, train_end, dims, n_test,
    test_anomaly_points, vus_window) of a task's series, the protocol's split."""
    from tsae.windows import auto_window

    values, labels, meta, cols = _load(task["collection"], task["series"])
    n, te = len(values), int(meta["train_end"])
    fields = dict(
        n=n,
        train_end=te,
        dims=values.shape[1],
        n_test=n - te,
        test_anomaly_points=int(labels[te:].sum()),
        vus_window=auto_window(values[:te]),
    )
    return values, labels, meta, cols, fields


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def _fit_score(method: str, values, cols, train_end: int, seed: int = SEED):
    """Fit on the training rows and score every row; returns (scores, timings, info)."""
    import numpy as np

    if method.startswith("tsae-"):
        import pandas as pd

        from tsae import Detector

        frame = pd.DataFrame(values, columns=cols)
        if method == "tsae-monitor":  # the monitoring settings: causal, learning, calibrated probability
            from tsae.coldstart import MONITORING

            det = Detector(seed=seed, threads=1, progress=False, **MONITORING)
            score = lambda: np.nan_to_num(det.assess(frame)["probability"].to_numpy(dtype=np.float64), nan=0.0)  # noqa: E731
        elif method in TSAE_VARIANTS:
            det = Detector(seed=seed, threads=1, progress=False, **TSAE_VARIANTS[method])
            score = lambda: det.score(frame).to_numpy(dtype=np.float64)  # noqa: E731
        else:
            det = Detector(model=method[len("tsae-") :], seed=seed, threads=1, progress=False)
            score = lambda: det.score(frame).to_numpy(dtype=np.float64)  # noqa: E731
        _, fit_s, fit_c = _timed(lambda: det.fit(frame.iloc[:train_end]))
        scores, score_s, score_c = _timed(score)
        tr = det.training_
        info = {
            "window": det.window_,
            "epochs_run": tr.get("epochs_run"),
            "best_epoch": tr.get("best_epoch"),
            "max_windows": tr.get("config", {}).get("max_windows"),
        }
        if method in TSAE_VARIANTS:
            info["settings"] = TSAE_VARIANTS[method]
    else:
        from peers import make_peer

        peer = make_peer(method, seed=seed)
        _, fit_s, fit_c = _timed(lambda: peer.fit(values[:train_end]))
        scores, score_s, score_c = _timed(lambda: np.asarray(peer.score(values), dtype=np.float64))
        info = dict(peer.info)
    return scores, (fit_s, score_s, fit_c, score_c), info


def run_task(task: dict) -> dict:
    """One (series, method): fit, score, metrics. Never raises: errors go in the row."""
    import numpy as np

    from tsae import metrics

    row = {k: "" for k in CSV_FIELDS}
    row.update(collection=task["collection"], series=task["series"], method=task["method"])
    try:
        values, labels, meta, cols, fields = _load_task(task)
        row.update(fields)
        n, te, vus_window = fields["n"], fields["train_end"], fields["vus_window"]
        y_test = labels[te:]
        scores, (fit_s, score_s, fit_c, score_c), info = _fit_score(
            task["method"], values, cols, te, task.get("seed", SEED)
        )
        row.update(
            window=info.get("window", ""),
            fit_s=round(fit_s, 3),
            score_s=round(score_s, 3),
            total_s=round(fit_s + score_s, 3),
            fit_cpu_s=round(fit_c, 3),
            score_cpu_s=round(score_c, 3),
            info=json.dumps(info, sort_keys=True, default=str),
        )
        if scores.shape != (n,):
            raise ValueError(f"scores have shape {scores.shape}, expected ({n},)")
        if task.get("save_scores"):  # every row's score, for benchmarks/combine.py
            out = Path(task["save_scores"]) / task["collection"] / f"{task['series']}__{task['method']}.npy"
            out.parent.mkdir(parents=True, exist_ok=True)
            np.save(out, scores)
        s_test = scores[te:]
        bad = ~np.isfinite(s_test)
        if bad.any():
            raise ValueError(
                f"non-finite scores in the test part: {int(bad.sum())} rows, first at row "
                f"{te + int(np.flatnonzero(bad)[0])}"
            )
        if y_test.any() and not y_test.all():
            row.update(
                vus_pr=round(metrics.vus_pr(y_test, s_test, sliding_window=vus_window), 6),
                auc_pr=round(metrics.auc_pr(y_test, s_test), 6),
                auc_roc=round(metrics.auc_roc(y_test, s_test), 6),
            )
        if task["collection"] == "ucr" and meta["anomaly_ranges"]:
            start, end = meta["anomaly_ranges"][0]
            row["ucr_top1"] = int(metrics.ucr_top1(scores, start, end, te, tolerance=UCR_TOLERANCE))
    except Exception as exc:  # noqa: BLE001 - reported in the results, never hidden
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["info"] = row["info"] or json.dumps({"traceback": traceback.format_exc(limit=4)})
    return row


# ------------------------------------------------------------------------------ parent side


def _estimate(method: str, n: int, te: int, dims: int) -> float:
    """Rough seconds of a task (from trial runs on this machine), only to start long ones first."""
    if method == "lstmad":
        return te * 0.8 / 128 * 0.022 * 20 * (1.5 if dims > 1 else 1) + n / 128 * 0.007
    if method == "mp":
        return (n - te) * te * dims / 1.6e8
    if method == "pyod_ae":
        return te * 6e-4 * (3 if dims > 1 else 1) + n * 2e-5
    if method == "subpca":
        return (te + n) * 5e-5 * (20 if dims > 1 else 1)
    if method == "iforest":
        return n * 1e-5
    if method == "tsae-contractive":  # the exact Jacobian penalty: ~6x the training time
        return 6 * (5 + n * 3e-5)
    return 5 + n * 3e-5


def _parse_list(text: str | None) -> list[str]:
    if text is None or text.strip().lower() in ("", "none"):
        return []
    return [t.strip() for t in text.split(",") if t.strip()]


def _methods(args) -> list[str]:
    if args.methods:
        methods = _parse_list(args.methods)
        for m in methods:
            if not (m.startswith("tsae-") or m in ALL_PEERS):
                sys.exit(f"unknown method {m!r}: use tsae-<model> or one of {', '.join(ALL_PEERS)}")
        return methods
    peers = _parse_list(args.peers)
    for p in peers:
        if p not in ALL_PEERS:
            sys.exit(f"unknown peer {p!r}; choose from {', '.join(ALL_PEERS)}")
    return [f"tsae-{m}" for m in _parse_list(args.models)] + peers


def _tasks(args, methods: list[str]) -> list[dict]:
    from tsae_datasets.shared import list_collections, list_series, shared_root

    root = shared_root()
    known = list_collections()
    wanted_series = set(_parse_list(args.series))
    tasks = []
    for coll in _parse_list(args.collections):
        if coll not in known:
            sys.exit(f"unknown collection {coll!r} in {root}; choose from {', '.join(known)}")
        meta = json.loads((root / coll / "meta.json").read_text())["series"]
        ids = list_series(coll)
        if wanted_series:
            ids = [s for s in ids if s in wanted_series]
        if args.limit:
            ids = ids[: args.limit]
        for sid in ids:
            m = meta[sid]
            for method in methods:
                tasks.append(
                    {
                        "collection": coll,
                        "series": sid,
                        "method": method,
                        "est": _estimate(method, m["n"], m["train_end"], m.get("dims", 1)),
                        "save_scores": args.save_scores,
                        "seed": args.seed,
                    }
                )
    tasks.sort(key=lambda t: -t["est"])
    return tasks


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("tsae", "torch", "numpy", "scikit-learn", "pyod", "stumpy", "numba", "threadpoolctl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _tsae_source() -> dict:
    """Where the measured tsae comes from: its folder, the git commit there and any uncommitted
    changes to it (the numbers belong to that code, not necessarily to the commit alone)."""
    import subprocess

    import tsae

    path = Path(tsae.__file__).resolve().parent
    out = {"path": str(path), "commit": None, "uncommitted": None}
    try:
        git = ["git", "-C", str(path)]
        out["commit"] = subprocess.run(
            git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            git + ["status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
        ).stdout
        out["uncommitted"] = [line[3:] for line in status.splitlines() if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        pass
    return out


def _tsae_defaults() -> dict:
    """``Detector()``'s default settings, as measured (JSON-ready)."""
    import inspect

    from tsae import Detector

    skip = {"model", "seed", "threads", "progress", "device", "columns", "timestamp"}
    return {
        name: p.default
        for name, p in inspect.signature(Detector).parameters.items()
        if name not in skip and isinstance(p.default, (str, int, float, type(None)))
    }


def _read_partial(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def run(args) -> None:
    if args.data:
        os.environ["TSAE_SHARED_DATASETS"] = str(Path(args.data).resolve())
    from tsae_datasets.shared import shared_root

    methods = _methods(args)
    if not methods:
        sys.exit("nothing to run: --models and --peers are both empty")
    tasks = _tasks(args, methods)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "accuracy.partial.jsonl"
    done_rows = []
    if args.resume:
        done_rows = [r for r in _read_partial(partial) if not r.get("error")]
        done = {(r["collection"], r["series"], r["method"]) for r in done_rows}
        tasks = [t for t in tasks if (t["collection"], t["series"], t["method"]) not in done]
        print(f"resume: {len(done_rows)} rows kept from {partial}, {len(tasks)} tasks to run", flush=True)
    else:
        partial.unlink(missing_ok=True)
    meta = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "data": str(shared_root()),
        "collections": _parse_list(args.collections),
        "methods": methods,
        "limit": args.limit,
        "series_filter": _parse_list(args.series),
        "jobs": args.jobs,
        "seed": args.seed,
        "threads": "1 per worker: torch.set_num_threads(1), threadpoolctl threadpool_limits(1), "
        + ", ".join(f"{v}=1" for v in _THREAD_VARS),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "versions": _versions(),
        "tsae_source": _tsae_source(),
        "tsae_defaults": _tsae_defaults(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "subsampling": "none: every series is fitted and scored whole",
        "resumed_rows": len(done_rows),
    }
    print(f"{len(tasks)} tasks ({len(methods)} methods) on {args.jobs} worker(s): {', '.join(methods)}", flush=True)
    started = time.perf_counter()
    rows = list(done_rows)
    ctx = mp.get_context("spawn")
    with (
        ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=ctx, initializer=_worker_init, initargs=("mp" in methods,)
        ) as pool,
        open(partial, "a") as log,
    ):
        futures = {pool.submit(run_task, t): t for t in tasks}
        for k, fut in enumerate(as_completed(futures), 1):
            row = fut.result()
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            res = (
                "ERROR " + row["error"]
                if row["error"]
                else (f"vus_pr {row['vus_pr']}" + (f" top1 {row['ucr_top1']}" if row["ucr_top1"] != "" else ""))
            )
            print(
                f"[{k}/{len(tasks)} {_fmt_elapsed(time.perf_counter() - started)}] {row['collection']}/"
                f"{row['series']} {row['method']}: fit {row['fit_s']}s score {row['score_s']}s {res}",
                flush=True,
            )
    meta["wall_s"] = round(time.perf_counter() - started, 1)
    meta["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    rows.sort(
        key=lambda r: (r["collection"], r["series"], methods.index(r["method"]) if r["method"] in methods else 99)
    )
    write_results(out, meta, rows)
    if not any(r["error"] for r in rows):
        partial.unlink(missing_ok=True)  # everything is in accuracy.json now
    print(f"done in {_fmt_elapsed(meta['wall_s'])}; wrote {out / 'accuracy.md'}, accuracy.csv, accuracy.json")


def _fmt_elapsed(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# ------------------------------------------------------------------------------ output


def write_results(out: Path, meta: dict, rows: list[dict]) -> None:
    with open(out / "accuracy.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in CSV_FIELDS})
    (out / "accuracy.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    md = render_md(meta, rows)
    (out / "accuracy.md").write_text(md)
    print(md)


def _num(v):
    return None if v in ("", None) else float(v)


def _mean(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(xs) / len(xs) if xs else None


def _f(x, nd=3):
    return "–" if x is None else f"{x:.{nd}f}"


def _summary(rows: list[dict], methods: list[str], collections: list[str]) -> dict:
    """(collection, method) -> aggregates."""
    agg = {}
    for coll in collections:
        for m in methods:
            rs = [r for r in rows if r["collection"] == coll and r["method"] == m]
            if not rs:
                continue
            ok = [r for r in rs if not r["error"]]
            scored = [r for r in ok if _num(r["vus_pr"]) is not None]
            top = [int(r["ucr_top1"]) for r in ok if r["ucr_top1"] not in ("", None)]
            times = [_num(r["total_s"]) for r in ok]
            agg[coll, m] = {
                "series": len(rs),
                "errors": len(rs) - len(ok),
                "scored": len(scored),
                "vus_pr": _mean([_num(r["vus_pr"]) for r in scored]),
                "auc_pr": _mean([_num(r["auc_pr"]) for r in scored]),
                "auc_roc": _mean([_num(r["auc_roc"]) for r in scored]),
                "top1_hits": sum(top) if top else None,
                "top1_n": len(top),
                "fit_s": sum(_num(r["fit_s"]) for r in ok),
                "score_s": sum(_num(r["score_s"]) for r in ok),
                "mean_s": _mean(times),
                "total_s": sum(times) if times else 0.0,
                "max_s": max(times) if times else None,
            }
    return agg


def render_md(meta: dict, rows: list[dict]) -> str:
    methods = list(meta["methods"])
    collections = [c for c in meta["collections"] if any(r["collection"] == c for r in rows)]
    agg = _summary(rows, methods, collections)
    v = meta["versions"]
    L = []
    L.append("# Accuracy benchmark: tsae defaults vs peers on NAB, UCR and SMD")
    L.append("")
    src = meta.get("tsae_source") or {}
    state = (
        ""
        if src.get("uncommitted") is None
        else " (clean)"
        if not src["uncommitted"]
        else f" plus uncommitted changes to {', '.join(src['uncommitted'])}"
    )
    L.append(
        f"Generated by `benchmarks/accuracy.py` (`{meta['command']}`) on {meta['date']}; "
        f"tsae from `{src.get('path')}`" + (f" at commit {src['commit']}{state}" if src.get("commit") else "") + "."
    )
    L.append("")
    L.append(f"- Machine: {meta['cpu']}, {meta['cores']} cores; {meta['platform']}.")
    L.append(
        f"- Versions: python {v['python']}, tsae {v['tsae']}, torch {v['torch']}, numpy {v['numpy']}, "
        f"scikit-learn {v['scikit-learn']}, pyod {v['pyod']}, stumpy {v['stumpy']}, numba {v['numba']}."
    )
    L.append(
        f"- Workers: `--jobs {meta['jobs']}` (ProcessPoolExecutor, spawn); threads: {meta['threads']}. "
        f"Load average at start {meta['load_avg_start']}, at end {meta.get('load_avg_end')}; "
        f"wall time {_fmt_elapsed(meta.get('wall_s', 0))}"
        + (f" (this run; {meta['resumed_rows']} rows resumed from an earlier one)" if meta.get("resumed_rows") else "")
        + "."
    )
    L.append(
        f"- Data: `{meta['data']}`; collections {', '.join(collections)}"
        + (f", first {meta['limit']} series of each" if meta.get("limit") else ", every series")
        + (f", series {', '.join(meta['series_filter'])}" if meta.get("series_filter") else "")
        + f". Subsampling: {meta['subsampling']}."
    )
    L.append(
        "- Protocol: fit on rows `[0, train_end)`, score every row; metrics (`tsae.metrics`, TSB-AD "
        "definitions) on the **test rows `[train_end, n)` only**. VUS buffer (`sliding_window`) = "
        "`tsae.windows.auto_window` of the training rows, the same for every method of a series. "
        f"UCR top-1: the highest test score within +/- {UCR_TOLERANCE} rows of the anomaly. "
        "Series without an anomaly in the test part get no VUS/AUC (counted in `series`, not in `scored`). "
        "Seeds fixed (0)."
    )
    L.append("")
    L.append("## Summary (means over the scored series of each collection)")
    L.append("")
    L.append(
        "| collection | method | series | scored | VUS-PR | AUC-PR | AUC-ROC | UCR top-1 | "
        "fit s (total) | score s (total) | fit+score s: mean / total |"
    )
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for coll in collections:
        best = max((agg[coll, m]["vus_pr"] or -1 for m in methods if (coll, m) in agg), default=None)
        for m in methods:
            a = agg.get((coll, m))
            if a is None:
                continue
            vus = _f(a["vus_pr"])
            if a["vus_pr"] is not None and a["vus_pr"] == best:
                vus = f"**{vus}**"
            top = f"{a['top1_hits']}/{a['top1_n']}" if a["top1_n"] else "–"
            err = f" ({a['errors']} err)" if a["errors"] else ""
            L.append(
                f"| {coll} | {m} | {a['series']}{err} | {a['scored']} | {vus} | {_f(a['auc_pr'])} | "
                f"{_f(a['auc_roc'])} | {top} | {a['fit_s']:.1f} | {a['score_s']:.1f} | "
                f"{_f(a['mean_s'], 1)} / {a['total_s']:.1f} |"
            )
    L.append("")
    L.append("Bold: best mean VUS-PR of the collection.")
    L.append("")
    # targets for tuning: each tsae model vs the best peer
    tsae_methods = [m for m in methods if m.startswith("tsae-")]
    peers = [m for m in methods if not m.startswith("tsae-")]
    if tsae_methods and peers:
        L.append("## Targets: tsae vs the best peer")
        L.append("")
        L.append("| collection | measure | " + " | ".join(tsae_methods) + " | best peer |")
        L.append("|---|---|" + "---:|" * (len(tsae_methods) + 1))
        for coll in collections:
            measures = [("mean VUS-PR", "vus_pr", _f)]
            if coll == "ucr":
                measures.append(("top-1 hits", "top1_hits", lambda x: "–" if x is None else str(x)))
            for label, key, fmt in measures:
                pv = {p: agg[coll, p][key] for p in peers if (coll, p) in agg and agg[coll, p][key] is not None}
                top = max(pv.values()) if pv else None
                cells = [fmt(agg[coll, t][key]) if (coll, t) in agg else "–" for t in tsae_methods]
                L.append(
                    f"| {coll} | {label} | "
                    + " | ".join(cells)
                    + " | "
                    + (f"{fmt(top)} ({', '.join(p for p in pv if pv[p] == top)})" if pv else "–")
                    + " |"
                )
        tot = {m: sum(agg[c, m]["total_s"] for c in collections if (c, m) in agg) for m in methods}
        if "pyod_ae" in tot:
            L.append(
                "| all | fit+score s, total | "
                + " | ".join(f"{tot[t]:.1f}" for t in tsae_methods)
                + f" | {tot['pyod_ae']:.1f} (pyod_ae) |"
            )
        L.append("")
    # time per method
    L.append("## Time per method (all collections, seconds, wall clock of fit and score in one worker)")
    L.append("")
    L.append("| method | series | fit | score | fit+score | mean per series | slowest series |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    for m in methods:
        ok = [r for r in rows if r["method"] == m and not r["error"]]
        if not ok:
            continue
        fit = sum(_num(r["fit_s"]) for r in ok)
        score = sum(_num(r["score_s"]) for r in ok)
        slow = max(ok, key=lambda r: _num(r["total_s"]))
        L.append(
            f"| {m} | {len(ok)} | {fit:.1f} | {score:.1f} | {fit + score:.1f} | {(fit + score) / len(ok):.1f} | "
            f"{slow['collection']}/{slow['series']} ({_num(slow['total_s']):.1f} s, n={slow['n']}) |"
        )
    L.append("")
    errors = [r for r in rows if r["error"]]
    if errors:
        L.append("## Errors")
        L.append("")
        for r in errors:
            L.append(f"- {r['collection']}/{r['series']} {r['method']}: {r['error']}")
        L.append("")
    unscored = sorted({(r["collection"], r["series"]) for r in rows if not r["error"] and r["vus_pr"] in ("", None)})
    if unscored:
        L.append(
            "Series without VUS/AUC (no anomaly in the test part): " + ", ".join(f"{c}/{s}" for c, s in unscored) + "."
        )
        L.append("")
    if meta.get("notes"):
        L.append("## Notes on this run")
        L.append("")
        L.append(meta["notes"].strip())
        L.append("")
    L.append("## Methods")
    L.append("")
    defaults = meta.get("tsae_defaults")
    defaults = ", ".join(f"`{k}={v!r}`" for k, v in defaults.items()) if defaults else "not recorded"
    L.append(
        f"- `tsae-<model>`: `tsae.Detector(model=<model>, seed={meta.get('seed', 0)}, threads=1, progress=False)`, every other "
        f"setting at its default ({defaults}); fitted on the training rows as a DataFrame of the value "
        "columns."
    )
    variants = [m for m in methods if m in TSAE_VARIANTS]
    if variants:
        L.append(
            f"- tsae variants: `tsae.Detector(seed={meta.get('seed', 0)}, threads=1, progress=False, **settings)`, every other "
            "setting at its default, fitted and scored like `tsae-<model>`; settings: "
            + "; ".join(f"`{m}`: " + ", ".join(f"`{k}={v!r}`" for k, v in TSAE_VARIANTS[m].items()) for m in variants)
            + "."
        )
    L.append(
        "- Peers (`benchmarks/peers.py`; details and references in its docstring). Shared rules: every "
        "channel z-scored with the training rows' mean and standard deviation; window W = "
        "`tsae.windows.auto_window(training rows)` (clipped to [16, 256]); window scores become point "
        "scores by TSB-AD's rule (the window starting at row i scores row i + ceil((W-1)/2); edge rows "
        "repeat the first/last window score)."
    )
    L.append(
        "  - `iforest` (TSB-AD Sub-IForest): scikit-learn `IsolationForest` on flattened windows, "
        "150 trees, max_features 1.0 (TSB-AD-U optimum); multivariate: 25 trees, max_features 0.8 "
        "(TSB-AD-M optimum); max_samples auto."
    )
    L.append(
        "  - `subpca` (TSB-AD Sub-PCA): PyOD `PCA` on flattened windows (TSB-AD's PCA is a copy of it) "
        "with standardised window columns and TSB-AD's zero pruning; all components (TSB-AD-U optimum), "
        "multivariate 0.25 of the variance (TSB-AD-M optimum); score = PyOD's weighted distance to the "
        "eigenvectors (TSB-AD's Sub-PCA score, not a plain reconstruction error)."
    )
    L.append(
        "  - `pyod_ae`: `pyod.models.auto_encoder.AutoEncoder()` with PyOD's defaults (hidden [64, 32], "
        "10 epochs, batch 32, lr 1e-3, dropout 0.2, batch norm) on the flattened training windows; "
        "`decision_function` on every window."
    )
    L.append(
        "  - `lstmad`: TSB-AD's LSTMAD **re-implemented** (the TSB-AD package requires numpy<2 and cannot "
        "be installed here): encoder/decoder LSTM, 2 layers x 20 units, forecasts the next point from the "
        "previous 100 (TSB-AD's tuned window), Adam lr 8e-4, StepLR(5, 0.75), batch 128, <= 49 epochs with "
        "early stopping (patience 3) on the last 20% of the training rows; score = squared forecast error."
    )
    L.append(
        "  - `mp`: stumpy AB-join of every window of the series against the training rows (z-normalised, "
        "m = W); score = distance to the nearest training window (windows inside the training rows are "
        "their own nearest, distance 0, and are not joined); multivariate: mean over channels. numba "
        "compiles once per worker before timing starts."
    )
    L.append("")
    L.append(
        "Per-series rows (metrics, window, fit/score wall and CPU seconds, settings used) are in "
        "`accuracy.csv`; `accuracy.json` has them with this run's metadata."
    )
    L.append("")
    return "\n".join(L)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data", help="shared datasets folder (default: $TSAE_SHARED_DATASETS or found beside the repository)"
    )
    p.add_argument("--collections", default=",".join(DEFAULT_COLLECTIONS), help="comma list (default nab,ucr,smd)")
    p.add_argument("--models", default="conv1d", help="tsae models, comma list (default conv1d; 'none' to skip)")
    p.add_argument(
        "--peers",
        default=",".join(ALL_PEERS),
        help=f"peers, comma list (default {','.join(ALL_PEERS)}; 'none' to skip)",
    )
    p.add_argument("--methods", help="explicit method list overriding --models/--peers, e.g. tsae-conv1d,iforest")
    p.add_argument("--seed", type=int, default=SEED, help=f"seed of every method (default {SEED})")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--limit", type=int, default=0, help="first N series of each collection (0 = all)")
    p.add_argument("--series", help="only these series ids (comma list)")
    p.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results)")
    p.add_argument(
        "--save-scores",
        metavar="DIR",
        help="also save every task's scores (all rows) as DIR/<collection>/<series>__<method>.npy",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of <out>/accuracy.partial.jsonl and run only the missing tasks",
    )
    p.add_argument("--render", metavar="JSON", help="rewrite accuracy.md (and .csv) from a saved accuracy.json")
    p.add_argument(
        "--notes",
        metavar="MD",
        help="with --render: store this markdown file's text in the json and show it under 'Notes on this run'",
    )
    args = p.parse_args(argv)
    if args.render:
        data = json.loads(Path(args.render).read_text())
        if args.notes:
            data["meta"]["notes"] = Path(args.notes).read_text()
        out = Path(args.out) if args.out != str(HERE / "results") else Path(args.render).parent
        write_results(out, data["meta"], data["rows"])
        return
    if args.jobs < 1:
        p.error("--jobs must be >= 1")
    run(args)


if __name__ == "__main__":
    main()
