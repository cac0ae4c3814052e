#!/usr/bin/env python
"""Fit and score speed (and peak memory) of every registered tsae model.

For each (dataset, model, threads) case a fresh Python process (``subprocess``,
one at a time, never two at once) imports tsae, builds the series, fits a
``Detector`` with its defaults (window ``auto``, default epochs and early stopping;
only ``threads`` is set) on the whole series, then scores the whole series with
``Detector.score``. The child reports wall times, ``det.training_`` and its own
memory: RSS after the imports (the baseline), the peak RSS during fit and the peak
during score (``VmHWM`` from ``/proc/self/status``, reset between the phases through
``/proc/self/clear_refs``), and its lifetime peak (``ru_maxrss``).

Datasets:

* ``uni``: ``make_signal(n=100_000, channels=1, seed=0)``, value column ``ch0``;
* ``smd``: the first 20,000 rows of ``machine-1-2.csv`` (value columns ``v0..v37``)
  when the file exists, else ``make_signal(n=20_000, channels=38, seed=0)``.

Every model runs with ``--threads`` (default 1); conv1d also runs with
``--compare-threads`` (default 2) so the 2-thread/1-thread ratio is measured in the
same session. ``--quick`` divides both series by 10 for a smoke run.

Usage::

    python benchmarks/speed.py [--quick] [--models conv1d,lstm,dense] [--threads 1]
                               [--out benchmarks/results]

Writes ``<out>/speed.md`` (header + tables) and ``<out>/speed.json`` (raw numbers),
and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model as _cpu_model  # noqa: E402  (benchmarks/machine.py)
from machine import git_rev as _git_rev
from machine import mem_total_gb as _mem_total_gb
from procmem import reset_peak as _reset_peak
from procmem import status_kb as _status_kb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_SMD = str(REPO.parent / "shared" / "datasets" / "smd" / "machine-1-2.csv")  # ../shared beside the repository
UNI_N, SMD_N, SMD_CHANNELS = 100_000, 20_000, 38


# ----------------------------------------------------------------------------- child side


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def _load_data(case: dict):
    """The case's series as a DataFrame (timestamp + value columns [+ label])."""
    from tsae_datasets.synthetic import make_signal

    if case["dataset"] == "uni":
        return make_signal(n=case["n"], channels=1, seed=0)
    if case["source"] == "file":
        import pandas as pd

        cols = ["timestamp"] + [f"v{i}" for i in range(SMD_CHANNELS)]
        return pd.read_csv(case["path"], nrows=case["n"], usecols=cols)
    return make_signal(n=case["n"], channels=SMD_CHANNELS, seed=0)


def run_case(case: dict) -> dict:
    """Run one case in this (fresh) process; returns the measurements."""
    t_start = time.perf_counter()
    import numpy as np
    import torch

    import tsae
    import tsae_datasets.synthetic  # noqa: F401  (part of the baseline, like tsae itself)

    res: dict = {"import_s": round(time.perf_counter() - t_start, 3)}
    res["rss_imports_mb"] = _mb(_status_kb("VmRSS"))
    df = _load_data(case)
    n = len(df)
    res["rss_data_mb"] = _mb(_status_kb("VmRSS"))
    res["peak_data_mb"] = _mb(_status_kb("VmHWM"))
    value_cols = [c for c in df.columns if c not in ("timestamp", "label")]
    res.update(n=n, channels=len(value_cols))

    kwargs = {"threads": case["threads"]}
    if case.get("epochs") is not None:
        kwargs["epochs"] = case["epochs"]
    det = tsae.Detector(case["model"], **kwargs)

    can_reset = _reset_peak()
    res["load1_start"] = round(os.getloadavg()[0], 2)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    det.fit(df)
    fit_s = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    res["peak_fit_mb"] = _mb(_status_kb("VmHWM")) if can_reset else None
    res["rss_after_fit_mb"] = _mb(_status_kb("VmRSS"))

    can_reset = _reset_peak()
    t0 = time.perf_counter()
    scores = det.score(df)
    score_s = time.perf_counter() - t0
    ru2 = resource.getrusage(resource.RUSAGE_SELF)
    res["peak_score_mb"] = _mb(_status_kb("VmHWM")) if can_reset else None
    res["load1_end"] = round(os.getloadavg()[0], 2)
    # ru_maxrss of a live process follows VmHWM, which _reset_peak lowers: it only covers the
    # score phase here, so the lifetime peak is the largest of the per-phase peaks.
    res["ru_maxrss_mb"] = round(ru2.ru_maxrss / 1024, 1)  # Linux: kB
    phases = [res["peak_data_mb"], res["peak_fit_mb"], res["peak_score_mb"], res["ru_maxrss_mb"]]
    res["peak_process_mb"] = max(x for x in phases if x is not None)

    tr = det.training_
    cfg = tr["config"]
    drawn = min(cfg["max_windows"], tr["train_windows"])  # windows drawn per epoch
    val_per_epoch = min(cfg["max_windows"], tr["val_windows"])  # clean forward passes per epoch
    window = det.window_
    res.update(
        window=window,
        epochs_max=cfg["epochs"],
        epochs_run=tr["epochs_run"],
        best_epoch=tr["best_epoch"],
        batch_size=cfg["batch_size"],
        max_windows=cfg["max_windows"],
        train_windows_available=tr["train_windows"],
        windows_per_epoch=drawn,
        steps_per_epoch=math.ceil(drawn / cfg["batch_size"]),
        val_windows_per_epoch=val_per_epoch,
        train_rows=tr["train_rows"],
        val_rows=tr["val_rows"],
        fit_s=round(fit_s, 3),
        train_loop_s=tr["seconds"],
        epoch_s=round(tr["seconds"] / tr["epochs_run"], 3),
        # windows drawn per epoch x epochs run / seconds of the training loop (det.training_["seconds"])
        train_windows_per_s=round(drawn * tr["epochs_run"] / tr["seconds"], 1),
        # same numerator over the whole fit() wall time (adds auto window, scaling,
        # building the model and scoring the validation part for the threshold)
        train_windows_per_fit_s=round(drawn * tr["epochs_run"] / fit_s, 1),
        fit_other_s=round(fit_s - tr["seconds"], 3),
        fit_cpu_s=round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 3),
        score_s=round(score_s, 3),
        score_cpu_s=round((ru2.ru_utime + ru2.ru_stime) - (ru1.ru_utime + ru1.ru_stime), 3),
        score_windows=n - window + 1,
        score_points_per_s=round(n / score_s, 1),
        score_windows_per_s=round((n - window + 1) / score_s, 1),
        scores_nan=int(np.isnan(scores.to_numpy()).sum()),
        scores_len_ok=len(scores) == n,
        best_val_loss=tr["best_val_loss"],
        torch_threads_after=torch.get_num_threads(),
    )
    return res


# ---------------------------------------------------------------------------- parent side


def _source_hash() -> str:
    """Hash of the library code a case runs (tsae/ and datasets/ *.py), to detect edits
    landing while the benchmark runs (other commits to the repository do not matter)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(list((REPO / "tsae").rglob("*.py")) + list((REPO / "datasets").rglob("*.py"))):
        h.update(str(path.relative_to(REPO)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _machine() -> dict:
    import torch

    import tsae

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": _mem_total_gb(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "tsae": tsae.__version__,
        "git": _git_rev(),
        "source_hash": _source_hash(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cases(args, models: list[str], smd_source: str) -> list[dict]:
    scale = 10 if args.quick else 1
    datasets = [
        {
            "dataset": "uni",
            "n": UNI_N // scale,
            "source": "synthetic",
            "label": f"make_signal(n={UNI_N // scale}, channels=1, seed=0)",
        },
    ]
    if smd_source == "file":
        datasets.append(
            {
                "dataset": "smd",
                "n": SMD_N // scale,
                "source": "file",
                "path": args.smd,
                "label": f"{Path(args.smd).name} rows 0..{SMD_N // scale - 1}, v0..v37",
            }
        )
    else:
        datasets.append(
            {
                "dataset": "smd",
                "n": SMD_N // scale,
                "source": "synthetic",
                "label": f"make_signal(n={SMD_N // scale}, channels=38, seed=0)",
            }
        )
    cases = []
    for ds in datasets:
        for model in models:
            thread_list = [args.threads]
            if model == "conv1d" and args.compare_threads and args.compare_threads != args.threads:
                thread_list.append(args.compare_threads)
            for threads in thread_list:
                cases.append({**ds, "model": model, "threads": threads, "epochs": args.epochs})
    return cases


def _run_child(case: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(case)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = round(time.perf_counter() - t0, 2)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    res = json.loads(lines[-1])
    res["child_wall_s"] = wall
    return res


def _f(x, nd=1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if abs(x) >= 1e4:
            return f"{x:,.0f}"
        return f"{x:.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _peak(r: dict, key: str) -> str:
    if r.get(key) is None or r.get("rss_imports_mb") is None:
        return "-"
    return f"{r[key]:.0f} (+{r[key] - r['rss_imports_mb']:.0f})"


MAIN_COLUMNS = [
    ("dataset", lambda c, r: c["dataset"]),
    ("n x C", lambda c, r: f"{c['n']:,} x {r.get('channels', '?')}"),
    ("model", lambda c, r: c["model"]),
    ("threads", lambda c, r: str(c["threads"])),
    ("window", lambda c, r: _f(r.get("window"))),
    ("win/epoch", lambda c, r: _f(r.get("windows_per_epoch"))),
    ("epochs run (best)", lambda c, r: f"{r['epochs_run']}/{r['epochs_max']} ({r['best_epoch']})"),
    ("best val loss", lambda c, r: f"{r['best_val_loss']:.3f}"),
    ("fit s", lambda c, r: _f(r.get("fit_s"), 2)),
    ("train loop s", lambda c, r: _f(r.get("train_loop_s"), 2)),
    ("s/epoch", lambda c, r: _f(r.get("epoch_s"), 3)),
    ("train win/s", lambda c, r: _f(r.get("train_windows_per_s"), 0)),
    ("score s", lambda c, r: _f(r.get("score_s"), 2)),
    ("score pts/s", lambda c, r: _f(r.get("score_points_per_s"), 0)),
    ("score win/s", lambda c, r: _f(r.get("score_windows_per_s"), 0)),
    ("RSS imports MB", lambda c, r: _f(r.get("rss_imports_mb"), 0)),
    ("peak fit MB (+over imports)", lambda c, r: _peak(r, "peak_fit_mb")),
    ("peak score MB (+over imports)", lambda c, r: _peak(r, "peak_score_mb")),
    ("load1", lambda c, r: f"{r['load1_start']:.1f}-{r['load1_end']:.1f}"),
]


def _main_table(results: list[dict]) -> list[str]:
    head = [name for name, _ in MAIN_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for item in results:
        case, res = item["case"], item["result"]
        if "error" in res:
            cells = [
                case["dataset"],
                f"{case['n']:,}",
                case["model"],
                str(case["threads"]),
                f"FAILED: {res['error']}",
            ] + [""] * (len(head) - 5)
        else:
            cells = [fn(case, res) for _, fn in MAIN_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _thread_table(results: list[dict], base: int, other: int) -> list[str]:
    ok = {
        (i["case"]["dataset"], i["case"]["model"], i["case"]["threads"]): i["result"]
        for i in results
        if "error" not in i["result"]
    }
    lines = []
    for (ds, model, th), r1 in ok.items():
        r2 = ok.get((ds, model, other))
        if th != base or r2 is None:
            continue
        if not lines:
            lines = [
                f"| dataset | model | s/epoch {base}t | s/epoch {other}t | ratio {other}t/{base}t | "
                f"fit s {base}t | fit s {other}t | ratio | score s {base}t | score s {other}t | ratio | "
                f"fit CPU/wall {base}t | fit CPU/wall {other}t |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
        lines.append(
            f"| {ds} | {model} | {r1['epoch_s']:.3f} | {r2['epoch_s']:.3f} | {r2['epoch_s'] / r1['epoch_s']:.2f} | "
            f"{r1['fit_s']:.2f} | {r2['fit_s']:.2f} | {r2['fit_s'] / r1['fit_s']:.2f} | "
            f"{r1['score_s']:.2f} | {r2['score_s']:.2f} | {r2['score_s'] / r1['score_s']:.2f} | "
            f"{r1['fit_cpu_s'] / r1['fit_s']:.2f} | {r2['fit_cpu_s'] / r2['fit_s']:.2f} |"
        )
    return lines


DEFINITIONS = """\
Column definitions:

- **fit s**: wall time of `Detector.fit(df)` on the whole series (auto window, scaling, training
  loop, then scoring the held-out last 20 % to fit the threshold).
- **train loop s**: `det.training_["seconds"]`, the training loop only (per epoch: the drawn training
  windows forward + backward, then a clean forward pass over up to `max_windows` validation windows).
- **epochs run (best)**: epochs trained out of the maximum, and the epoch whose weights were kept
  (early stopping after 5 epochs without improvement). **best val loss**: that epoch's validation
  MSE on scaled values (clean input); about 1.0 means no better than predicting the mean.
- **s/epoch**: train loop s / epochs run.
- **win/epoch**: training windows drawn per epoch, `min(max_windows, train_windows)` (a fresh random
  draw of stride-1 windows each epoch), in batches of 64.
- **train win/s**: **win/epoch** x epochs run / **train loop s**. Validation forward passes are in the denominator's time but not in the
  numerator. The same numerator over **fit s** is in `speed.json` as `train_windows_per_fit_s`.
- **score s**: wall time of `Detector.score(df)` on the whole series (checks, gap filling, scaling and
  every stride-1 window). **score pts/s** = n / score s; **score win/s** = (n - window + 1) / score s.
- **RSS imports MB**: RSS of the fresh child process after importing numpy, pandas, torch, tsae and
  tsae_datasets (the baseline). **peak fit MB** / **peak score MB**: peak RSS (`VmHWM`) during
  fit / during score (peak reset between phases via `/proc/self/clear_refs`), so each includes the
  baseline and the data; in brackets the excess over the baseline. `speed.json` also has the peak
  while building the series (`peak_data_mb`) and the child's lifetime peak (`peak_process_mb`).
- **load1**: 1-minute load average at the start and end of the timed part (other processes on the
  machine compete for the cores).
"""


def _detector_defaults() -> dict:
    """The Detector's training defaults as the library defines them now."""
    import inspect

    import tsae

    params = inspect.signature(tsae.Detector.__init__).parameters
    keys = ("window", "epochs", "patience", "batch_size", "max_windows", "val_fraction", "threads")
    return {k: params[k].default for k in keys if k in params}


def _consistency_warnings(meta: dict, results: list[dict]) -> list[str]:
    """Warn when the library changed during the run (other commits landing meanwhile)."""
    out = []
    if meta.get("source_hash_end") and meta["source_hash_end"] != meta.get("source_hash"):
        out.append(
            f"- **WARNING: the library code (tsae/, datasets/) changed during the run (source hash "
            f"{meta.get('source_hash')} at start, {meta['source_hash_end']} at end; git {meta['git']} -> "
            f"{meta.get('git_end')}): later cases may have run different code**"
        )
    elif meta.get("git_end") and meta["git_end"] != meta["git"]:
        out.append(
            f"- note: commits landed during the run (git {meta['git']} -> {meta['git_end']}) but the "
            f"library code (tsae/, datasets/) was unchanged"
        )
    d = meta.get("defaults", {})
    for item in results:
        r, c = item["result"], item["case"]
        if "error" in r:
            continue
        seen = {"epochs": r["epochs_max"], "batch_size": r["batch_size"], "max_windows": r["max_windows"]}
        if c.get("epochs") is not None:
            seen.pop("epochs")
        diff = {k: v for k, v in seen.items() if k in d and d[k] != v}
        if diff:
            out.append(
                f"- **WARNING: {c['dataset']}/{c['model']}/threads={c['threads']} ran with "
                + ", ".join(f"{k}={v}" for k, v in diff.items())
                + " (not the defaults above)**"
            )
    return out


def _markdown(meta: dict, results: list[dict]) -> str:
    out = [
        "# tsae speed benchmark" + (" (QUICK smoke run: series 10x smaller)" if meta["quick"] else ""),
        "",
        f"- date: {meta['date']}; tsae {meta['tsae']} (git {meta['git']}, library source hash "
        f"{meta.get('source_hash', '?')})",
        f"- machine: nproc {meta['nproc']} (usable {meta['cpus_usable']}), CPU {meta['cpu_model']}, "
        f"RAM {meta['mem_total_gb']} GB; load average at start {meta['load_avg_start']}, "
        f"at end {meta.get('load_avg_end')}",
        f"- python {meta['python']}, torch {meta['torch']} (CPU)",
        f"- threads: every case with `threads={meta['threads']}`"
        + (
            f"; conv1d also with `threads={meta['compare_threads']}`"
            if meta["compare_threads"] and meta["compare_threads"] != meta["threads"] and "conv1d" in meta["models"]
            else ""
        )
        + "; cases run one after another, each in a fresh process",
        f"- data: **uni** = {meta['datasets']['uni']}; **smd** = {meta['datasets']['smd']} "
        f"(source: {'real SMD file' if meta['smd_source'] == 'file' else 'synthetic fallback, SMD file not found'})",
        "- Detector defaults ("
        + ", ".join(f"{k} {v}" for k, v in meta.get("defaults", {}).items())
        + "); only `threads` set"
        + (f"; **epochs capped at {meta['epochs']} with --epochs**" if meta["epochs"] else "")
        + "; fit and score both on the whole series",
        f"- total benchmark wall time: {meta.get('total_s', 0):.0f} s",
        *_consistency_warnings(meta, results),
        "",
        *_main_table(results),
        "",
    ]
    tt = _thread_table(results, meta["threads"], meta["compare_threads"]) if meta["compare_threads"] else []
    if tt:
        out += [
            f"Thread scaling ({meta['compare_threads']} threads vs {meta['threads']}, same session; "
            f"ratio < 1 means faster with more threads):",
            "",
            *tt,
            "",
        ]
    out += [DEFINITIONS]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="10x smaller series (smoke run)")
    p.add_argument("--models", default=None, help="comma-separated model names (default: tsae.list_models())")
    p.add_argument("--threads", type=int, default=1, help="torch threads for every case (default 1)")
    p.add_argument(
        "--compare-threads",
        type=int,
        default=2,
        help="also run the conv1d cases with this many threads (default 2; 0 = off)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="cap the epochs (default: the Detector default, 30, with early stopping); "
        "use only when a case is too slow, it is stated in the results",
    )
    p.add_argument("--smd", default=DEFAULT_SMD, help=f"SMD machine CSV (default {DEFAULT_SMD})")
    p.add_argument("--case-timeout", type=float, default=3600, help="seconds per case before it is killed")
    p.add_argument("--out", default=str(HERE / "results"), help="output directory (default benchmarks/results)")
    p.add_argument(
        "--render", metavar="JSON", help="only rewrite speed.md in --out from an existing speed.json (no measurement)"
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.render:
        saved = json.loads(Path(args.render).read_text())
        md = _markdown(saved["meta"], saved["results"])
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "speed.md").write_text(md)
        print(md)
        return 0

    if args.child:
        print(json.dumps(run_case(json.loads(args.child))), flush=True)
        return 0

    import tsae

    models = args.models.split(",") if args.models else tsae.list_models()
    unknown = [m for m in models if m not in tsae.list_models()]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(tsae.list_models())}")
    if args.threads < 1 or args.compare_threads < 0:
        p.error("--threads must be >= 1 and --compare-threads >= 0")
    smd_source = "file" if Path(args.smd).is_file() else "synthetic"
    cases = _cases(args, models, smd_source)
    meta = _machine()
    meta.update(
        defaults=_detector_defaults(),
        quick=args.quick,
        threads=args.threads,
        compare_threads=args.compare_threads,
        epochs=args.epochs,
        smd_source=smd_source,
        models=models,
        datasets={c["dataset"]: c["label"] for c in cases},
    )

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases, 1):
        print(
            f"[{i}/{len(cases)}] {case['dataset']} n={case['n']} {case['model']} threads={case['threads']} ...",
            file=sys.stderr,
            flush=True,
        )
        res = _run_child(case, args.case_timeout)
        results.append({"case": case, "result": res})
        if "error" in res:
            print(f"    FAILED: {res['error']}", file=sys.stderr, flush=True)
        else:
            print(
                f"    window {res['window']}, epochs {res['epochs_run']}, fit {res['fit_s']:.1f} s "
                f"({res['epoch_s']:.2f} s/epoch), score {res['score_s']:.1f} s, "
                f"peak {res['peak_process_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    meta["total_s"] = round(time.perf_counter() - t0, 1)
    meta["git_end"] = _git_rev()
    meta["source_hash_end"] = _source_hash()
    meta["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]

    md = _markdown(meta, results)
    (out_dir / "speed.md").write_text(md)
    (out_dir / "speed.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    print(md)
    print(f"wrote {out_dir / 'speed.md'} and {out_dir / 'speed.json'}", file=sys.stderr)
    return 1 if any("error" in r["result"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
