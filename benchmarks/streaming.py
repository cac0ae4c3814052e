#!/usr/bin/env python
"""Streaming benchmark: per-point latency, stream throughput, bounded-memory file scoring.

Measures, in one run, one case after another (each in a fresh child process,
torch on **1 thread** everywhere):

1. **Per-point latency** of ``StreamingScorer.update`` (``time.perf_counter_ns``
   around every call, plus the thread's CPU time around the same call) for four
   models fitted with ``Detector(model, window=128, epochs=3, threads=1)``:
   conv1d, lstm and dense on ``make_signal(n=20_000, channels=1)``, and conv1d on
   38 channels (the first 20,000 rows of the SMD file ``machine-1-2.csv``,
   columns ``v0..v37``, or ``make_signal(channels=38)`` when the file is absent).
   Side by side with two naive per-row re-scorings, timed on the same rows:

   * **naive single window**: keep the last ``window`` rows, scale them, one
     forward pass of that one window (batch of 1), mean error over the window.
     The same forward work per row as ``update``, but a different score: the
     error of the one window *ending* at the new row (the ``causal`` score),
     not the score ``update`` returns;
   * **naive overlap**: keep the last ``2*window - 1`` rows and re-score all
     ``window`` windows covering the point ``window - 1`` rows back (one forward
     pass, batch of 128), and compute that point's score from them as the model's
     score mode defines it (default ``window``: the mean of the windows'
     channel-weighted errors; ``overlap``: their errors at the point): the
     **same** score as ``update`` (checked in the run).

   Plus the bare model forward pass (batch 1 and batch 128) as a floor.
   Rows are timed in rounds (methods take turns, the order rotating), so a change
   in the machine's load affects every method alike. Goal: ``update`` p99 < 1 ms.
2. **Throughput** of ``update_many`` (blocks of 10,000 rows) on a 1,000,000-row
   series, of ``Detector.score`` on the same series (the batch reference), and of
   ``cat file.csv | tsae stream -m model.tsae --threads 1 > /dev/null`` (a
   100,000-row prefix first; the 1,000,000-row file only if that projects to at
   most ``--cli-limit`` seconds, else the table says so).
3. **Memory of chunked file scoring**: peak RSS (``/usr/bin/time -v``) and wall time
   of ``tsae score big.csv -m model.tsae -o out.csv --threads 1`` on a
   10,000,000-row CSV (the 1,000,000-row series tiled 10 times, timestamps going
   on), and on its 1,000,000-row prefix, both with ``OMP_NUM_THREADS=1`` (torch on
   one thread for sure); plus the command exactly as typed (``--threads 1`` only)
   on the first 100,000 rows. Goal: peak < 1 GB. Every chunked output is compared
   with ``Detector.score`` of the whole file (the 10M one in one process, when the
   machine has the memory for it; ``--no-verify-big`` skips that).

``--quick`` divides every row count by 10 (smoke run). The generated files live in
``--workdir`` (default: a fresh directory under /tmp) and are deleted at the end
(``--keep-files`` keeps them).

Usage::

    python benchmarks/streaming.py [--quick] [--out benchmarks/results] [--workdir DIR]

Writes ``<out>/streaming.md`` and ``<out>/streaming.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model as _cpu_model  # noqa: E402  (benchmarks/machine.py)
from machine import git_rev as _git_rev
from procmem import reset_peak as _reset_peak
from procmem import status_kb as _status_kb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_SMD = str(REPO.parent / "shared" / "datasets" / "smd" / "machine-1-2.csv")  # ../shared beside the repository
WINDOW, EPOCHS, THREADS = 128, 3, 1
FIT_N, SMD_CHANNELS = 20_000, 38
LATENCY_ROWS, LATENCY_WARMUP, ROUNDS = 5_000, 1_000, 5
SERIES_N, BIG_TILES, BLOCK = 1_000_000, 10, 10_000
CLI_PROBE_N = 100_000
GOAL_P99_US, GOAL_PEAK_MB = 1000.0, 1024.0
LATENCY_MODELS = [("uni", "conv1d"), ("smd", "conv1d"), ("uni", "lstm"), ("uni", "dense")]


# ------------------------------------------------------------------------------ helpers


def _mem_available_mb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _stats(ns) -> dict:
    """Percentiles of per-call times given in ns, returned in microseconds."""
    import numpy as np

    us = np.asarray(ns, dtype=np.float64) / 1e3
    p = np.percentile(us, [50, 90, 99, 99.9])
    return {
        "n": int(len(us)),
        "p50": round(p[0], 1),
        "p90": round(p[1], 1),
        "p99": round(p[2], 1),
        "p999": round(p[3], 1),
        "max": round(float(us.max()), 1),
        "mean": round(float(us.mean()), 1),
        "over_1ms": int((us > 1000).sum()),
    }


# ------------------------------------------------------------------------- child: prepare


def _fit_frame(dataset: str, smd_path: str):
    """The 20,000-row series a latency model is fitted on (and streamed through)."""
    from tsae_datasets.synthetic import make_signal

    if dataset == "uni":
        return make_signal(n=FIT_N, channels=1), f"make_signal(n={FIT_N}, channels=1, seed=0)"
    if Path(smd_path).is_file():
        import pandas as pd

        head = pd.read_csv(smd_path, nrows=0).columns
        cols = [c for c in ["timestamp"] + [f"v{i}" for i in range(SMD_CHANNELS)] if c in head]
        if sum(c.startswith("v") for c in cols) == SMD_CHANNELS:
            return (
                pd.read_csv(smd_path, nrows=FIT_N, usecols=cols),
                f"{Path(smd_path).name} rows 0..{FIT_N - 1}, v0..v{SMD_CHANNELS - 1}",
            )
    return (
        make_signal(n=FIT_N, channels=SMD_CHANNELS),
        f"make_signal(n={FIT_N}, channels={SMD_CHANNELS}, seed=0) (SMD file not found)",
    )


def prepare(case: dict) -> dict:
    """Fit and save the four models; write the series CSV and the big (tiled) CSV."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import torch

    import tsae
    from tsae_datasets.synthetic import make_signal

    torch.set_num_threads(THREADS)
    work = Path(case["workdir"])
    out: dict = {"models": {}}
    for dataset, model in LATENCY_MODELS:
        frame, label = _fit_frame(dataset, case["smd"])
        t0 = time.perf_counter()
        det = tsae.Detector(model, window=WINDOW, epochs=EPOCHS, threads=THREADS).fit(frame)
        fit_s = time.perf_counter() - t0
        path = work / f"{dataset}_{model}.tsae"
        det.save(path)
        tr = det.training_
        out["models"][f"{dataset}_{model}"] = {
            "path": str(path),
            "data": label,
            "rows": len(frame),
            "channels": det.n_features_in_,
            "window": det.window_,
            "epochs_run": tr["epochs_run"],
            "best_val_loss": tr["best_val_loss"],
            "fit_s": round(fit_s, 2),
            "cutoff": det.threshold_.cutoff_,
            "params": sum(p.numel() for p in det.module_.parameters()),
        }

    n = case["series_n"]
    t0 = time.perf_counter()
    series = make_signal(n=n, channels=1, seed=0)
    values = series["ch0"].to_numpy(np.float64)
    base = series["timestamp"].iloc[0].to_datetime64().astype("datetime64[s]")
    step = np.timedelta64(300, "s")

    def tile(k: int) -> pa.Table:
        stamps = base + (np.arange(n, dtype=np.int64) + k * n) * step
        return pa.table({"timestamp": pa.array(stamps, type=pa.timestamp("s")), "ch0": values})

    series_csv, big_csv, probe_csv = work / "series.csv", work / "big.csv", work / "probe.csv"
    pacsv.write_csv(tile(0), series_csv)
    pacsv.write_csv(tile(0).slice(0, case["probe_n"]), probe_csv)
    with pacsv.CSVWriter(big_csv, tile(0).schema) as writer:
        for k in range(case["tiles"]):
            writer.write_table(tile(k))
    out.update(
        series_csv=str(series_csv),
        big_csv=str(big_csv),
        probe_csv=str(probe_csv),
        probe_rows=min(case["probe_n"], n),
        series_rows=n,
        big_rows=n * case["tiles"],
        series_label=f"make_signal(n={n}, channels=1, seed=0)",
        series_mb=round(series_csv.stat().st_size / 2**20, 1),
        big_mb=round(big_csv.stat().st_size / 2**20, 1),
        write_s=round(time.perf_counter() - t0, 1),
    )
    return out


# ------------------------------------------------------------------------- child: latency


class _History:
    """The last ``size`` rows of a stream in a flat array (amortised O(1) append)."""

    def __init__(self, size: int, channels: int):
        import numpy as np

        self.size = size
        self.buf = np.empty((4 * size, channels), dtype=np.float64)
        self.n = 0

    def append(self, row) -> None:
        if self.n == len(self.buf):
            self.buf[: self.size - 1] = self.buf[self.n - self.size + 1 : self.n]
            self.n = self.size - 1
        self.buf[self.n] = row
        self.n += 1

    def last(self):
        return self.buf[self.n - self.size : self.n]


def latency(case: dict) -> dict:
    import gc

    import numpy as np
    import torch

    import tsae
    from tsae.windows import sliding_windows

    torch.set_num_threads(THREADS)
    det = tsae.load(case["model_path"], threads=THREADS)
    frame, _ = _fit_frame(case["dataset"], case["smd"])
    values = frame[det.channels_].to_numpy(np.float64)  # (n, C) raw rows, as they would arrive
    w, channels = det.window_, det.n_features_in_
    center = np.asarray(det.scaler_.center, dtype=np.float64)
    scale = np.asarray(det.scaler_.scale, dtype=np.float64)
    model = det.module_
    weights = (
        torch.ones(channels)
        if det.channel_weights_ is None
        else torch.as_tensor(det.channel_weights_, dtype=torch.float32)
    )
    warm, n_timed, rounds = case["warmup"], case["rows"], case["rounds"]
    assert warm >= 2 * w and warm + n_timed <= len(values), "series too short for the latency run"

    # update: the library's streaming scorer, fed every row in order
    stream = det.streaming(threads=THREADS)
    for t in range(warm):
        stream.update(values[t])
    upd_scores: dict[int, float] = {}

    def run_update(t):
        ev = stream.update(values[t])
        upd_scores[ev.row] = ev.score

    # naive single window: last W rows -> scale -> one forward (batch 1) -> mean error of that window
    hist1 = _History(w, channels)
    for t in range(warm - w - 200, warm - 200):
        hist1.append(values[t])

    def naive_single(t):
        hist1.append(values[t])
        x = torch.from_numpy(((hist1.last() - center) / scale).astype(np.float32))[None]  # (1, W, C)
        with torch.inference_mode():
            return float(((model(x) - x).square() * weights).mean())

    # naive overlap: last 2W-1 rows -> scale -> all W windows covering point t-W+1 (batch W) -> its score
    hist2 = _History(2 * w - 1, channels)
    for t in range(warm - 2 * w + 1 - 200, warm - 200):
        hist2.append(values[t])
    diag = (np.arange(w), w - 1 - np.arange(w))  # window i covers the point at its position W-1-i
    ovl_scores: dict[int, float] = {}

    def naive_overlap(t):
        hist2.append(values[t])
        scaled = ((hist2.last() - center) / scale).astype(np.float32)  # (2W-1, C)
        x = torch.from_numpy(np.ascontiguousarray(sliding_windows(scaled, w)))  # (W, W, C)
        with torch.inference_mode():
            err = ((model(x) - x).square() * weights).mean(dim=2).double().numpy()  # (W, W)
        ovl_scores[t - w + 1] = float(err.mean() if det.score_mode == "window" else err[diag].sum() / w)

    x1 = torch.from_numpy(((values[:w] - center) / scale).astype(np.float32))[None]
    xw = torch.from_numpy(
        np.ascontiguousarray(sliding_windows(((values[: 2 * w - 1] - center) / scale).astype(np.float32), w))
    )

    def fwd1(t):
        with torch.inference_mode():
            model(x1)

    def fwdw(t):
        with torch.inference_mode():
            model(xw)

    methods = {
        "update": run_update,
        "naive_single": naive_single,
        "naive_overlap": naive_overlap,
        "forward_b1": fwd1,
        "forward_b128": fwdw,
    }
    methods = {k: v for k, v in methods.items() if k in case.get("methods", methods)}
    for name in ("naive_single", "naive_overlap"):  # their warm-up: 200 rows before the timed ones
        for t in range(warm - 200, warm):
            if name in methods:
                methods[name](t)
    for name in ("forward_b1", "forward_b128"):
        for t in range(50):
            if name in methods:
                methods[name](t)
    ovl_scores.clear()

    wall = {m: [] for m in methods}
    cpu = {m: [] for m in methods}
    nivcsw = {m: 0 for m in methods}
    load_start = _load()
    per_round = n_timed // rounds
    order = list(methods)
    perf, tcpu = time.perf_counter_ns, time.thread_time_ns
    t_begin = time.perf_counter()
    for r in range(rounds):
        rows = range(warm + r * per_round, warm + (r + 1) * per_round)
        for name in order[r % len(order) :] + order[: r % len(order)]:  # rotate who goes first
            fn, wl, cl = methods[name], wall[name], cpu[name]
            ru0 = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            for t in rows:
                c0 = tcpu()
                w0 = perf()
                fn(t)
                w1 = perf()
                c1 = tcpu()
                wl.append(w1 - w0)
                cl.append(c1 - c0)
            nivcsw[name] += resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - ru0
    timed_s = time.perf_counter() - t_begin

    # timer overhead (an empty call) and equivalence checks
    empty = []
    for _ in range(2000):
        w0 = perf()
        w1 = perf()
        empty.append(w1 - w0)
    res = {
        "model": det.model,
        "dataset": case["dataset"],
        "channels": channels,
        "window": w,
        "warmup_rows": warm,
        "timed_rows": n_timed,
        "rounds": rounds,
        "timed_s": round(timed_s, 1),
        "torch_threads": torch.get_num_threads(),
        "load_start": load_start,
        "load_end": _load(),
        "timer_overhead_ns_p50": float(np.median(empty)),
        "wall_us": {m: _stats(v) for m, v in wall.items()},
        "cpu_us": {m: _stats(v) for m, v in cpu.items()},
        "involuntary_ctx_switches": nivcsw,
    }
    if "naive_overlap" in methods:
        points = sorted(set(ovl_scores) & set(upd_scores))
        upd = np.array([upd_scores[p] for p in points])
        ovl = np.array([ovl_scores[p] for p in points])
        gc.collect()
        whole = det.score(frame).to_numpy()[points]
        res.update(
            {
                "check_points": len(points),
                "max_abs_diff_update_vs_naive_overlap": float(np.abs(upd - ovl).max()),
                "max_abs_diff_update_vs_batch_score": float(np.abs(upd - whole).max()),
                "max_abs_diff_naive_overlap_vs_batch_score": float(np.abs(ovl - whole).max()),
                "score_scale_p50": float(np.median(np.abs(whole))),
            }
        )
    return res


# ---------------------------------------------------------------------- child: throughput


def throughput(case: dict) -> dict:
    import numpy as np
    import torch

    import tsae
    from tsae.io import read_table

    torch.set_num_threads(THREADS)
    det = tsae.load(case["model_path"], threads=THREADS)
    frame = read_table(case["series_csv"])
    n, block = len(frame), case["block"]
    res: dict = {
        "rows": n,
        "block": block,
        "load_start": _load(),
        "rss_before_mb": round(_status_kb("VmRSS") / 1024, 1),
    }

    stream = det.streaming(threads=THREADS)
    _reset_peak()
    parts, block_s = [], []
    t0 = time.perf_counter()
    for i in range(0, n, block):
        b0 = time.perf_counter()
        parts.append(stream.update_many(frame.iloc[i : i + block])["score"].to_numpy())
        block_s.append(time.perf_counter() - b0)
    parts.append(stream.flush()["score"].to_numpy())
    total = time.perf_counter() - t0
    streamed = np.concatenate(parts)
    res.update(
        update_many_s=round(total, 2),
        update_many_rows_per_s=round(n / total),
        update_many_block_ms_p50=round(1e3 * float(np.median(block_s)), 1),
        update_many_block_ms_max=round(1e3 * max(block_s), 1),
        update_many_peak_mb=round(_status_kb("VmHWM") / 1024, 1),
    )

    _reset_peak()
    t0 = time.perf_counter()
    whole = det.score(frame).to_numpy()
    total = time.perf_counter() - t0
    res.update(
        score_s=round(total, 2),
        score_rows_per_s=round(n / total),
        score_peak_mb=round(_status_kb("VmHWM") / 1024, 1),
        load_end=_load(),
        update_many_len_ok=len(streamed) == n,
        max_abs_diff_update_many_vs_score=float(np.abs(streamed - whole).max()),
        identical_update_many_vs_score=int((streamed == whole).sum()),
    )
    np.save(case["whole_npy"], whole)
    return res


# -------------------------------------------------------------------------- child: verify


def verify(case: dict) -> dict:
    """Compare a `tsae score` output file with Detector.score on the whole input file."""
    import numpy as np
    import pyarrow.csv as pacsv
    import torch

    import tsae

    torch.set_num_threads(THREADS)
    out = pacsv.read_csv(
        case["scored_csv"], convert_options=pacsv.ConvertOptions(include_columns=["score", "is_anomaly"])
    )
    chunked = out.column("score").to_numpy()
    flags = out.column("is_anomaly").to_numpy(zero_copy_only=False).astype(bool)
    del out
    res: dict = {"rows_out": len(chunked)}
    if case.get("whole_npy"):
        whole, res["whole_from"] = np.load(case["whole_npy"]), "Detector.score(frame) saved by the throughput step"
    else:
        det = tsae.load(case["model_path"], threads=THREADS)
        _reset_peak()
        t0 = time.perf_counter()
        whole = det.score(case["input_csv"]).to_numpy()
        res.update(
            whole_from="Detector.score(path) in this process",
            whole_score_s=round(time.perf_counter() - t0, 1),
            whole_score_peak_mb=round(_status_kb("VmHWM") / 1024, 1),
        )
    det = tsae.load(case["model_path"], threads=THREADS)
    res.update(rows_whole=len(whole), same_length=len(whole) == len(chunked))
    if len(whole) == len(chunked):
        res.update(
            identical=int((whole == chunked).sum()),
            bit_identical=bool(np.array_equal(whole, chunked)),
            max_abs_diff=float(np.abs(whole - chunked).max()),
            flags_identical=bool(np.array_equal(det.flags(whole), flags)),
            flagged=int(flags.sum()),
        )
    return res


# ------------------------------------------------------------------------- parent side


def _run_child(case: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(case)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    res = json.loads(lines[-1])
    res["child_wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def _timed_shell(command: str, timeout: float) -> dict:
    """Run ``command`` under bash with the measured program wrapped by /usr/bin/time -v
    (``{TIME}`` in the command marks where); returns wall time, peak RSS, CPU share."""
    tfile = tempfile.NamedTemporaryFile(prefix="tsae-time-", suffix=".txt", delete=False).name
    helper = None
    if Path("/usr/bin/time").exists():
        wrap = f"/usr/bin/time -v -o {tfile}"
    else:  # fallback: a python wrapper reporting getrusage(RUSAGE_CHILDREN) of its only child
        helper = tempfile.NamedTemporaryFile("w", prefix="tsae-rusage-", suffix=".py", delete=False)
        helper.write(
            "import resource, subprocess, sys\n"
            "code = subprocess.call(sys.argv[2:])\n"
            "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "open(sys.argv[1], 'w').write('Maximum resident set size (kbytes): %d\\n"
            "User time (seconds): %.2f\\nSystem time (seconds): %.2f\\n' % "
            "(ru.ru_maxrss, ru.ru_utime, ru.ru_stime))\n"
            "sys.exit(code)\n"
        )
        helper.close()
        wrap = f"{sys.executable} {helper.name} {tfile}"
    load_start = _load()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["bash", "-o", "pipefail", "-c", command.replace("{TIME}", wrap)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the whole pipeline (its own process group), nothing else
        proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    res = {"wall_s": round(wall, 2), "exit": proc.returncode, "load_start": load_start, "load_end": _load()}
    try:
        text = Path(tfile).read_text()
    finally:
        Path(tfile).unlink(missing_ok=True)
        if helper is not None:
            Path(helper.name).unlink(missing_ok=True)
    for line in text.splitlines():
        key, _, val = line.strip().rpartition(": ")
        if key == "Maximum resident set size (kbytes)":
            res["peak_rss_mb"] = round(int(val) / 1024, 1)
        elif key == "Percent of CPU this job got":
            res["cpu_percent"] = int(val.rstrip("%") or 0)
        elif key == "User time (seconds)":
            res["user_s"] = float(val)
        elif key == "System time (seconds)":
            res["sys_s"] = float(val)
        elif key == "Involuntary context switches":
            res["nivcsw"] = int(val)
    if proc.returncode != 0:
        res["error"] = f"exit {proc.returncode}: " + " | ".join(stderr.strip().splitlines()[-3:])
    res["stderr_tail"] = stderr.strip().splitlines()[-2:]
    return res


def _machine() -> dict:
    import torch

    import tsae

    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(next(ln for ln in fh if ln.startswith("MemTotal:")).split()[1]) / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": mem,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "tsae": tsae.__version__,
        "git": _git_rev(),
        "load_avg_start": _load(),
        "threads": THREADS,
    }


def _tsae_bin() -> str:
    local = Path(sys.executable).parent / "tsae"
    return str(local) if local.exists() else "tsae"


# ----------------------------------------------------------------------------- markdown

METHOD_ROWS = [
    (
        "update",
        "`StreamingScorer.update(row)`",
        "score of the row W-1 back (final now; default `window` mode); 1 window forward (batch 1) + partial sums",
    ),
    (
        "naive_single",
        "naive single window",
        "error of the 1 window ending at the new row (= *causal* score, not update's score); 1 forward, batch 1",
    ),
    (
        "naive_overlap",
        "naive overlap",
        "same score as update: re-scores all W=128 windows covering the row W-1 back; 1 forward, batch 128",
    ),
    ("forward_b1", "model forward only, batch 1", "floor: `model(x)` on a fixed (1, W, C) tensor"),
    ("forward_b128", "model forward only, batch 128", "floor of naive overlap: `model(x)` on (128, W, C)"),
]


def _us(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def _latency_table(lat: dict) -> list[str]:
    head = [
        "model (data)",
        "method",
        "what it computes per row",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "mean µs",
        "CPU p50 µs",
        "CPU p99 µs",
        "calls > 1 ms (wall / CPU)",
        "p50 ratio to update",
        "p99 ratio to update",
        "p99 < 1 ms",
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for key, r in lat.items():
        if "error" in r:
            out.append(f"| {key} | FAILED: {r['error']} |" + " |" * (len(head) - 2))
            continue
        base_w = r["wall_us"]["update"]
        for m, label, what in METHOD_ROWS:
            s, c = r["wall_us"][m], r["cpu_us"][m]
            ratio50 = "1" if m == "update" else f"{s['p50'] / base_w['p50']:.2f}"
            ratio99 = "1" if m == "update" else f"{s['p99'] / base_w['p99']:.2f}"
            goal = (
                ("**yes**" if s["p99"] < GOAL_P99_US else "**no**")
                if m == "update"
                else ("yes" if s["p99"] < GOAL_P99_US else "no")
            )
            out.append(
                f"| {r['model']} ({r['dataset']}, {r['channels']} ch, W {r['window']}) | {label} | {what} | "
                f"{_us(s['p50'])} | {_us(s['p99'])} | {_us(s['p999'])} | {_us(s['max'])} | {_us(s['mean'])} | "
                f"{_us(c['p50'])} | {_us(c['p99'])} | {s['over_1ms']} / {c['over_1ms']} of {s['n']} | "
                f"{ratio50} | {ratio99} | {goal} |"
            )
    return out


def _check_table(lat: dict) -> list[str]:
    out = [
        "| model (data) | points compared | max abs diff update vs naive overlap | "
        "max abs diff update vs `Detector.score` | median score | load1 start -> end | "
        "involuntary context switches during update rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for _key, r in lat.items():
        if "error" in r:
            continue
        out.append(
            f"| {r['model']} ({r['dataset']}) | {r['check_points']:,} | "
            f"{r['max_abs_diff_update_vs_naive_overlap']:.2e} | {r['max_abs_diff_update_vs_batch_score']:.2e} | "
            f"{r['score_scale_p50']:.3g} | {r['load_start'][0]} -> {r['load_end'][0]} | "
            f"{r['involuntary_ctx_switches']['update']:,} |"
        )
    return out


def _repeat_table(lat: dict, reps: dict) -> list[str]:
    """update / naive single / forward b1 percentiles in every latency process of a model."""
    out = [
        "| model (data) | process | update p50 / p99 µs | update CPU p99 µs | naive single p50 / p99 µs | "
        "forward b1 p50 / p99 µs | update p99 < 1 ms | load1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, first in lat.items():
        runs = [first] + reps.get(key, [])
        for i, r in enumerate(runs, 1):
            if "error" in r:
                out.append(f"| {key} | {i} | FAILED: {r['error']} | | | | | |")
                continue
            u, n, f = r["wall_us"]["update"], r["wall_us"]["naive_single"], r["wall_us"]["forward_b1"]
            out.append(
                f"| {r['model']} ({r['dataset']}) | {i}{' (all methods)' if i == 1 else ''} | "
                f"{_us(u['p50'])} / {_us(u['p99'])} | {_us(r['cpu_us']['update']['p99'])} | "
                f"{_us(n['p50'])} / {_us(n['p99'])} | {_us(f['p50'])} / {_us(f['p99'])} | "
                f"{'yes' if u['p99'] < GOAL_P99_US else 'no'} | {r['load_start'][0]} -> {r['load_end'][0]} |"
            )
    return out


def _throughput_table(tp: dict, cli: dict, meta: dict) -> list[str]:
    out = ["| path | rows | wall s | rows/s | peak RSS MB | notes |", "|---|---|---|---|---|---|"]
    if "error" in tp:
        out.append(f"| update_many / Detector.score | - | - | - | - | FAILED: {tp['error']} |")
    else:
        out.append(
            f"| `update_many`, blocks of {tp['block']:,} rows (DataFrame slices), then `flush` | {tp['rows']:,} | "
            f"{tp['update_many_s']:.1f} | **{tp['update_many_rows_per_s']:,}** | {tp['update_many_peak_mb']:.0f} | "
            f"block p50 {tp['update_many_block_ms_p50']:.0f} ms, max {tp['update_many_block_ms_max']:.0f} ms; "
            f"max abs diff vs `Detector.score` {tp['max_abs_diff_update_many_vs_score']:.1e} "
            f"({tp['identical_update_many_vs_score']:,} of {tp['rows']:,} bit-identical) |"
        )
        out.append(
            f"| `Detector.score` on the whole series (batch reference) | {tp['rows']:,} | {tp['score_s']:.1f} | "
            f"{tp['score_rows_per_s']:,} | {tp['score_peak_mb']:.0f} | in-process, same model; peak includes the "
            f"~{tp['rss_before_mb']:.0f} MB process with the frame |"
        )
    start = cli.get("startup", {})
    for key in ("probe", "full"):
        r = cli.get(key)
        if r is None:
            continue
        if "error" in r:
            out.append(f"| `tsae stream` ({key}) | {r.get('rows', '-')} | - | - | - | FAILED: {r['error']} |")
            continue
        net = r["rows"] / max(r["wall_s"] - start.get("wall_s", 0), 1e-9)
        out.append(
            f"| `cat file \\| tsae stream -m m.tsae --threads 1 > /dev/null` | {r['rows']:,} | {r['wall_s']:.1f} | "
            f"**{r['rows_per_s']:,}** | {r.get('peak_rss_mb', 0):.0f} | {net:,.0f} rows/s without the "
            f"{start.get('wall_s', 0):.1f} s start-up; CPU {r.get('cpu_percent', '-')} %; "
            f"load1 {r['load_start'][0]} -> {r['load_end'][0]} |"
        )
    if cli.get("skipped_full"):
        out.append(
            f"| `tsae stream`, {meta['series_rows']:,} rows | - | - | - | - | **not run**: {cli['skipped_full']} |"
        )
    if start:
        out.append(
            f"| `tsae stream` start-up (header line only, 0 rows) | 0 | {start['wall_s']:.1f} | - | "
            f"{start.get('peak_rss_mb', 0):.0f} | imports + model load |"
        )
    return out


def _memory_table(mem: dict) -> list[str]:
    out = [
        "| `tsae score FILE -m m.tsae -o out.csv --threads 1` | rows | file MB | wall s | rows/s | "
        "peak RSS MB | < 1 GB | CPU % | output vs `Detector.score` on the whole file |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("asis", "prefix", "big"):
        r = mem.get(key)
        if r is None:
            continue
        if "error" in r:
            out.append(f"| {key} | {r.get('rows', '-')} | - | - | - | - | - | - | FAILED: {r['error']} |")
            continue
        v = r.get("verify") or {}
        if not v:
            check = r.get("verify_skipped", "not compared")
        elif "error" in v:
            check = f"FAILED: {v['error']}"
        elif not v.get("same_length"):
            check = f"**length differs** ({v['rows_out']:,} vs {v['rows_whole']:,})"
        else:
            check = (
                f"{'**bit-identical**' if v['bit_identical'] else '**differs**'}: {v['identical']:,} of "
                f"{v['rows_whole']:,} scores equal, max abs diff {v['max_abs_diff']:.1e}, flags "
                f"{'identical' if v['flags_identical'] else 'DIFFER'} ({v['flagged']:,} flagged); whole = "
                f"{v['whole_from']}"
            )
            if "whole_score_s" in v:
                check += f" ({v['whole_score_s']:.0f} s, peak {v['whole_score_peak_mb']:,.0f} MB)"
        out.append(
            f"| {r['label']} | {r['rows']:,} | {r['file_mb']:,.0f} | {r['wall_s']:.1f} | {r['rows_per_s']:,} | "
            f"**{r.get('peak_rss_mb', 0):,.0f}** | {'yes' if r.get('peak_rss_mb', 1e9) < GOAL_PEAK_MB else '**no**'} | "
            f"{r.get('cpu_percent', '-')} | {check} |"
        )
    return out


NOTES = """\
Notes:

- Latency: every timed call is bracketed by `time.thread_time_ns()` (CPU time of the calling
  thread; torch runs on that one thread) and `time.perf_counter_ns()` (wall). The rows are the
  next {rows:,} rows of the 20,000-row series after {warmup:,} warm-up rows, taken in {rounds} rounds
  in which the methods take turns (rotating who goes first). The input row is a numpy array of
  the channel values (`update` also accepts dicts/Series; `tsae stream` passes dicts).
  Python's garbage collector stays on. **CPU** percentiles exclude time the thread spent
  waiting for a core: a wall p99 far above the CPU p99 means the row waited behind other
  processes (see the load average and the involuntary context switches), not that tsae worked
  longer.
- Naive re-scorers keep their history in a flat numpy buffer (no per-row list building), scale
  with the detector's scaler, and run the model under `torch.inference_mode()`, as `update` does.
- `update` runs with `min_batch=1` (no padding of the single window), so its scores can differ
  from `Detector.score` by float32 rounding (about 1e-7 relative). With the default stride
  (`window // 16`: 8 here) a row scores a window only every 8th call, so p50 is a call
  without a forward pass and p99 one with it (plus the nearest-window distance).
  `update_many` pads its passes like the batch path and is compared bit for bit, like
  `tsae score` (chunked).
- The big CSV is the {series:,}-row series written {tiles} times in a row with timestamps going on
  (5-minute steps), so it has a jump at every tile boundary.
- `tsae score` rows marked `OMP_NUM_THREADS=1` run with that variable set, so torch starts on
  one thread whatever the file-scoring path does with `--threads`; the first `tsae score` row
  is the command exactly as a user types it (`--threads 1` only), on a short prefix. Peak RSS
  and CPU % come from `/usr/bin/time -v` around the `tsae` process.
"""


def _markdown(meta: dict, res: dict) -> str:
    lat, tp, cli, mem = res.get("latency", {}), res.get("throughput", {}), res.get("cli", {}), res.get("memory", {})
    met = []
    for key, r in lat.items():
        if "error" in r:
            continue
        p99s = [
            x["wall_us"]["update"]["p99"] for x in [r] + res.get("latency_repeats", {}).get(key, []) if "error" not in x
        ]
        n_ok = sum(p < GOAL_P99_US for p in p99s)
        met.append(
            f"{r['model']} ({r['dataset']}) p99 {r['wall_us']['update']['p99']:,.0f} µs (CPU p99 "
            f"{r['cpu_us']['update']['p99']:,.0f} µs): {'met' if r['wall_us']['update']['p99'] < GOAL_P99_US else 'MISSED'}"
            + (
                f" (met in {n_ok} of {len(p99s)} processes, p99 {min(p99s):,.0f}-{max(p99s):,.0f} µs)"
                if len(p99s) > 1
                else ""
            )
        )
    big = mem.get("big", {})
    fits = "; ".join(
        f"{k}: {v['data']}, {v['channels']} ch, {v['epochs_run']} epochs, val loss {v['best_val_loss']:.3f}, "
        f"fit {v['fit_s']:.0f} s, {v['params']:,} weights"
        for k, v in meta.get("models", {}).items()
    )
    out = [
        "# tsae streaming benchmark" + (" (QUICK smoke run: 10x fewer rows)" if meta["quick"] else ""),
        "",
        f"- date: {meta['date']}; tsae {meta['tsae']} (git {meta['git']})",
        f"- machine: nproc {meta['nproc']} (usable {meta['cpus_usable']}), CPU {meta['cpu_model']}, RAM "
        f"{meta['mem_total_gb']} GB; load average at start {meta['load_avg_start']}, at end {meta.get('load_avg_end')} "
        "(1-minute load about 1: this benchmark alone on one core; about 2 or more: other processes competed "
        "for the cores; every case also records its own)",
        f"- python {meta['python']}, torch {meta['torch']} (CPU); **torch threads = {meta['threads']}** in every "
        "case (`torch.set_num_threads(1)`, `threads=1`, `--threads 1`), except where `tsae score` ignores "
        "`--threads` (the row marked `--threads 1` only, see section 3); cases run one after another, each in a fresh process",
        f"- models: `Detector(model, window={WINDOW}, epochs={EPOCHS}, threads=1).fit(data)` on the whole "
        f"20,000-row series (the Detector holds out its last 20 % for early stopping and the threshold); {fits}",
        f"- throughput/memory series: {meta.get('series_label')}; big file {meta.get('big_rows', 0):,} rows "
        f"({meta.get('big_mb', 0):,.0f} MB CSV), columns `timestamp,ch0`; model = the uni conv1d one",
        f"- total benchmark wall time: {meta.get('total_s', 0):.0f} s",
        "",
        "## Goals",
        "",
        "- `update` p99 < 1 ms: " + ("; ".join(met) if met else "not measured"),
        f"- `tsae score` on {meta.get('big_rows', 0):,} rows, peak RSS < 1 GB: "
        + (
            f"{big['peak_rss_mb']:,.0f} MB, {'met' if big['peak_rss_mb'] < GOAL_PEAK_MB else 'MISSED'}"
            if "peak_rss_mb" in big
            else "not measured"
        ),
        "",
        f"## 1. Per-point latency (wall time per call unless marked CPU; {meta.get('latency_rows', 0):,} timed rows each)",
        "",
        *_latency_table(lat),
        "",
        "Equivalence checks on the timed rows (each point's score from `update`, from the naive overlap "
        "re-scoring and from `Detector.score` of the whole 20,000-row series):",
        "",
        *_check_table(lat),
        "",
        *(
            [
                "The same models in further fresh processes (update, naive single window and forward batch 1 "
                "only, same rows and rounds), to show how much the absolute numbers move between processes:",
                "",
                *_repeat_table(lat, res.get("latency_repeats", {})),
                "",
            ]
            if res.get("latency_repeats")
            else []
        ),
        "## 2. Throughput",
        "",
        *_throughput_table(tp, cli, meta),
        "",
        "## 3. Bounded memory: chunked `tsae score` (default `--chunk-rows 100000`)",
        "",
        *_memory_table(mem),
        "",
        NOTES.format(
            rows=meta.get("latency_rows", 0),
            warmup=meta.get("latency_warmup", 0),
            rounds=meta.get("latency_rounds", 0),
            series=meta.get("series_rows", 0),
            tiles=meta.get("tiles", 0),
        ),
    ]
    if meta.get("analysis"):
        out += ["## Analysis", "", meta["analysis"].strip(), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="10x fewer rows everywhere (smoke run)")
    p.add_argument("--out", default=str(HERE / "results"), help="output directory (default benchmarks/results)")
    p.add_argument("--workdir", default=None, help="where the model files and big CSVs go (default: new dir in /tmp)")
    p.add_argument("--keep-files", action="store_true", help="keep the generated CSVs and model files")
    p.add_argument("--smd", default=DEFAULT_SMD, help=f"SMD machine CSV (default {DEFAULT_SMD})")
    p.add_argument(
        "--cli-limit",
        type=float,
        default=540,
        help="run `tsae stream` on the full series only if the probe projects at most this many "
        "seconds (default 540: 10 minutes with a 10 %% margin)",
    )
    p.add_argument(
        "--latency-repeats",
        type=int,
        default=3,
        help="latency processes per model (default 3): the first times every method, the others "
        "update, naive single and forward b1 only, to show the spread between processes",
    )
    p.add_argument(
        "--no-verify-big",
        action="store_true",
        help="do not score the big file whole in one process to compare with the chunked output",
    )
    p.add_argument("--case-timeout", type=float, default=3600, help="seconds per case before it is killed")
    p.add_argument("--render", metavar="JSON", help="only rewrite streaming.md from a saved streaming.json")
    p.add_argument(
        "--analysis",
        metavar="MD",
        help="with --render: store this markdown file's text as the Analysis section (in the JSON too)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        case = json.loads(args.child)
        fn = {"prepare": prepare, "latency": latency, "throughput": throughput, "verify": verify}[case["kind"]]
        print(json.dumps(fn(case)), flush=True)
        return 0
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        if args.analysis:
            saved["meta"]["analysis"] = Path(args.analysis).read_text()
            Path(args.render).write_text(json.dumps(saved, indent=1) + "\n")
        md = _markdown(saved["meta"], saved["results"])
        (Path(args.out) / "streaming.md").write_text(md)
        print(md)
        return 0

    scale = 10 if args.quick else 1
    series_n = SERIES_N // scale
    meta = _machine()
    meta.update(
        quick=args.quick,
        series_rows=series_n,
        tiles=BIG_TILES,
        big_rows=series_n * BIG_TILES,
        latency_rows=LATENCY_ROWS // scale,
        latency_warmup=LATENCY_WARMUP,
        latency_rounds=ROUNDS,
        window=WINDOW,
        epochs=EPOCHS,
    )
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tsae-streaming-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(work).free / 2**30
    need_gb = series_n * BIG_TILES * 70 / 2**30 + 1  # big input + output CSV, ~35 bytes a row each
    meta.update(workdir=str(work), disk_free_gb=round(free_gb, 1))
    if free_gb < need_gb:
        p.error(f"{work} has {free_gb:.1f} GB free; the big files need about {need_gb:.1f} GB")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"latency": {}, "cli": {}, "memory": {}}
    t_all = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] load {_load()[0]:.1f} | {msg}", file=sys.stderr, flush=True)

    def save() -> None:
        meta["total_s"] = round(time.perf_counter() - t_all, 1)
        meta["load_avg_end"] = _load()
        (out_dir / "streaming.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")

    try:
        log(
            f"prepare: fit {len(LATENCY_MODELS)} models, write {series_n:,}- and {series_n * BIG_TILES:,}-row CSVs in {work}"
        )
        prep = _run_child(
            {
                "kind": "prepare",
                "workdir": str(work),
                "smd": args.smd,
                "series_n": series_n,
                "tiles": BIG_TILES,
                "probe_n": CLI_PROBE_N // scale,
            },
            args.case_timeout,
        )
        if "error" in prep:
            raise SystemExit(f"prepare failed: {prep['error']}")
        meta.update(
            models=prep["models"], series_label=prep["series_label"], big_mb=prep["big_mb"], series_mb=prep["series_mb"]
        )
        model_path = prep["models"]["uni_conv1d"]["path"]

        for dataset, model in LATENCY_MODELS:
            key = f"{dataset}_{model}"
            log(f"latency {key}: {LATENCY_ROWS // scale:,} timed rows x 5 methods")
            r = _run_child(
                {
                    "kind": "latency",
                    "dataset": dataset,
                    "smd": args.smd,
                    "model_path": prep["models"][key]["path"],
                    "warmup": LATENCY_WARMUP,
                    "rows": LATENCY_ROWS // scale,
                    "rounds": ROUNDS,
                },
                args.case_timeout,
            )
            results["latency"][key] = r
            if "error" not in r:
                u = r["wall_us"]["update"]
                log(
                    f"    update p50 {u['p50']} µs p99 {u['p99']} µs (CPU p99 {r['cpu_us']['update']['p99']} µs); "
                    f"naive overlap p50 {r['wall_us']['naive_overlap']['p50']} µs"
                )
            else:
                log(f"    FAILED: {r['error']}")
            save()
        for rep_i in range(1, args.latency_repeats):
            for dataset, model in LATENCY_MODELS:
                key = f"{dataset}_{model}"
                log(f"latency repeat {rep_i + 1}/{args.latency_repeats} {key}: update, naive single, forward b1")
                r = _run_child(
                    {
                        "kind": "latency",
                        "dataset": dataset,
                        "smd": args.smd,
                        "model_path": prep["models"][key]["path"],
                        "warmup": LATENCY_WARMUP,
                        "rows": LATENCY_ROWS // scale,
                        "rounds": ROUNDS,
                        "methods": ["update", "naive_single", "forward_b1"],
                    },
                    args.case_timeout,
                )
                results.setdefault("latency_repeats", {}).setdefault(key, []).append(r)
                if "error" not in r:
                    log(f"    update p50 {r['wall_us']['update']['p50']} µs p99 {r['wall_us']['update']['p99']} µs")
            save()

        whole_npy = work / "series_whole_scores.npy"
        log(f"throughput: update_many and Detector.score on {series_n:,} rows")
        results["throughput"] = _run_child(
            {
                "kind": "throughput",
                "model_path": model_path,
                "series_csv": prep["series_csv"],
                "block": BLOCK,
                "whole_npy": str(whole_npy),
            },
            args.case_timeout,
        )
        log(f"    {results['throughput']}")
        save()

        tsae_bin = _tsae_bin()
        stream_cmd = f"{{src}} | {{TIME}} {tsae_bin} stream -m {model_path} --threads 1 > /dev/null"
        log("tsae stream start-up (header only)")
        results["cli"]["startup"] = _timed_shell(
            stream_cmd.format(src=f"head -n 1 {prep['series_csv']}", TIME="{TIME}"), 300
        )
        probe_n = min(CLI_PROBE_N // scale, series_n)
        log(f"tsae stream on {probe_n:,} rows")
        probe = _timed_shell(
            stream_cmd.format(src=f"head -n {probe_n + 1} {prep['series_csv']}", TIME="{TIME}"), args.case_timeout
        )
        probe.update(rows=probe_n, rows_per_s=round(probe_n / probe["wall_s"]) if "wall_s" in probe else None)
        results["cli"]["probe"] = probe
        log(f"    {probe.get('wall_s')} s, {probe.get('rows_per_s')} rows/s")
        if probe_n < series_n and "error" not in probe:
            projected = series_n / probe["rows_per_s"]
            results["cli"]["projected_full_s"] = round(projected)
            if projected <= args.cli_limit:
                log(f"tsae stream on {series_n:,} rows (projected {projected:.0f} s)")
                full = _timed_shell(
                    stream_cmd.format(src=f"cat {prep['series_csv']}", TIME="{TIME}"), args.case_timeout
                )
                full.update(rows=series_n, rows_per_s=round(series_n / full["wall_s"]) if "wall_s" in full else None)
                results["cli"]["full"] = full
            else:
                results["cli"]["skipped_full"] = (
                    f"the {probe_n:,}-row run took {probe['wall_s']:.0f} s, so "
                    f"{series_n:,} rows would take about {projected:.0f} s "
                    f"(> {args.cli_limit:.0f} s limit); rows/s measured on {probe_n:,} rows"
                )
        save()

        # `tsae score --threads 1` as a user runs it (on a short prefix: see the notes), then the
        # 1M-row series and the big file with OMP_NUM_THREADS=1 so that torch really runs on 1 thread
        omp = "OMP_NUM_THREADS=1 "
        score_cases = (
            (
                "asis",
                prep["probe_csv"],
                prep["probe_rows"],
                "",
                f"first {prep['probe_rows']:,} rows, `--threads 1` only",
            ),
            (
                "prefix",
                prep["series_csv"],
                series_n,
                omp,
                f"{series_n:,}-row series (= prefix of the big file), `OMP_NUM_THREADS=1`",
            ),
            (
                "big",
                prep["big_csv"],
                series_n * BIG_TILES,
                omp,
                f"big file ({BIG_TILES} tiles of the series), `OMP_NUM_THREADS=1`",
            ),
        )
        for key, src, rows, env, label in score_cases:
            scored = work / f"scored_{key}.csv"
            log(f"tsae score {key}: {rows:,} rows")
            r = _timed_shell(
                f"{env}{{TIME}} {tsae_bin} score {src} -m {model_path} -o {scored} --threads 1", args.case_timeout
            )
            r.update(rows=rows, label=label, file_mb=round(Path(src).stat().st_size / 2**20, 1))
            if "wall_s" in r:
                r["rows_per_s"] = round(rows / r["wall_s"])
            results["memory"][key] = r
            log(f"    {r.get('wall_s')} s, peak {r.get('peak_rss_mb')} MB")
            save()
            if "error" in r:
                continue
            case = {"kind": "verify", "model_path": model_path, "scored_csv": str(scored), "input_csv": src}
            if key == "asis":
                pass  # small: scored whole in the verify child
            elif key == "prefix":
                if "error" in results["throughput"]:
                    case["whole_npy"] = None
                else:
                    case["whole_npy"] = str(whole_npy)
            else:
                avail = _mem_available_mb() or 0
                need = rows * 60 / 2**20 + 1024  # whole-file scoring: frame, values, scaled, sums, output
                if args.no_verify_big:
                    r["verify_skipped"] = "not compared (--no-verify-big)"
                    continue
                if avail < need:
                    r["verify_skipped"] = (
                        f"not compared: {avail:,.0f} MB available, whole scoring needs ~{need:,.0f} MB"
                    )
                    continue
            log(f"verify {key}: chunked output vs Detector.score on the whole file")
            r["verify"] = _run_child(case, args.case_timeout)
            log(f"    {r['verify']}")
            save()
            scored.unlink(missing_ok=True)
    finally:
        if not args.keep_files:
            shutil.rmtree(work, ignore_errors=True)
            meta["files_deleted"] = True
        save()

    meta["git_end"] = _git_rev()
    save()
    md = _markdown(meta, results)
    (out_dir / "streaming.md").write_text(md)
    print(md)
    print(f"wrote {out_dir / 'streaming.md'} and {out_dir / 'streaming.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
