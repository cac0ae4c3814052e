#!/usr/bin/env python
"""One model per series for a fleet: a plain loop, the grouped layer and Spark, side by side.

One run fits and scores the same fleet (``--series`` synthetic series x ``--rows`` rows,
default 1,000 x 10,000) three ways, each timed separately for fit and for score:

* **loop**: in this process, ``for key, rows in df.groupby("series_id")``: the rows in time
  order, ``Detector(**PARAMS, threads=1).fit(rows)``, then ``det.assess(rows)`` (the same
  computation as ``det.score``, which returns its ``score`` column; ``assess`` also gives the
  probability and flag to compare);
* **grouped**: ``tsae.fleet.fit_fleet`` / ``score_fleet`` with ``jobs=--jobs`` (default 2)
  spawned processes; the pools' start (a torch import per worker) is in the times;
* **spark**: ``tsae.spark.session(2)`` (``local[2]``), ``tsae.spark.fit`` on
  ``spark.read.parquet`` of the data with the models table written to Parquet, then
  ``tsae.spark.score`` with the scores written to Parquet; both times include Spark's
  Parquet read and write. The session start is timed on its own.

Every engine uses the same Detector parameters (``--params``, default ``PARAMS``: a short
training on purpose: the benchmark measures the fleet machinery, not model quality) and
seed, so the models must be identical: their fingerprints (and cutoffs) are compared key by
key, and the scores (score, probability, is_anomaly) row by row (per key and timestamp).

Streaming: ``tsae.fleet.stream_series`` in this process (torch on 1 thread) over the first
``--stream-series`` series, ``--batch-rows`` rows per key per call, the keys taking turns
(the last batch with ``final=True``): rows/s, the state's size per key (the JSON text's
length in bytes) and the streamed scores against the batch scores. With spark, also a
Structured Streaming query (``tsae.spark.stream``, ``Trigger.AvailableNow``,
``flush_after=None``, an ``end`` column with one end-marker row per key) over the same
series, read from ``--spark-stream-files`` Parquet files one file per micro-batch: rows/s end
to end (query start to stop) and its scores against the batch scores.

Each phase records its CPU use from /proc: this benchmark's process tree and the rest of the
machine, in cores, so work by other processes shows; the run first waits (``--max-load``) for
a quiet machine.

The data are generated once (``make_signal`` per series with its own seed, sampling step,
amplitude, level and extra noise, up to 3 injected anomalies) and written to one Parquet file
in a temporary folder that every engine reads.

Usage::

    python benchmarks/fleet.py [--series 1000] [--rows 10000] [--engines loop,grouped,spark]
        [--jobs 2] [--stream-series 100] [--out benchmarks/results]
    python benchmarks/fleet.py --series 20 --rows 2000 --out /tmp/fleet   # smoke run
    python benchmarks/fleet.py --render benchmarks/results/fleet.json [--notes notes.md]

Writes ``<out>/fleet.md`` (tables and notes) and ``<out>/fleet.json`` (the raw numbers).
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy or torch load: the spawned workers of the grouped
# layer and Spark's Python workers inherit the environment.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "TSAE_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as _dt  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import _fmt_elapsed, _tsae_source  # noqa: E402
from machine import provenance, rerender  # noqa: E402
from speed import _machine, _source_hash  # noqa: E402

#: Detector parameters of every engine: a short training on purpose (the default is 20
#: epochs x 1,024 windows, hours for 1,000 series on 2 cores); the seed is the default 0.
PARAMS = {"epochs": 3, "max_windows": 512, "window": 32}
KEY, TIME, VALUE = "series_id", "timestamp", "value"
ENGINES = ("loop", "grouped", "spark")
FREQS = ("1min", "2min", "5min", "10min", "15min")  # daily period of 1440 .. 96 rows
STREAM_TOLERANCE = (1e-5, 1e-6)  # abs, rel


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _cpu_snapshot() -> tuple:
    """(wall clock, CPU seconds the whole machine was busy, CPU seconds of this process and
    its reaped children, {pid: own CPU seconds} of its live descendants (Spark's JVM and
    Python workers)), from /proc and ``os.times``."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait (guest is in user)
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(rest[1])
        cpu[int(entry)] = (int(rest[11]) + int(rest[12])) / tick  # utime + stime
    me, live = os.getpid(), {}
    for pid in parent:
        p, depth = parent[pid], 0
        while p > 1 and depth < 64:
            if p == me:
                live[pid] = cpu[pid]
                break
            p, depth = parent.get(p, 0), depth + 1
    return time.perf_counter(), busy, own, live


def _cpu_since(start: tuple) -> dict:
    """CPU use since ``start``: this benchmark's (this process, its reaped children, its live
    descendants' own time) and the other processes' (the rest of the machine's busy time), in
    cores: CPU seconds per wall second. A descendant that ended during the phase without being
    reaped by this process (a Spark Python worker) is missed: it counts as other."""
    end = _cpu_snapshot()
    wall = max(end[0] - start[0], 1e-9)
    busy, own = end[1] - start[1], end[2] - start[2]
    own += sum(t - start[3].get(pid, 0.0) for pid, t in end[3].items())
    return {
        "wall_s": wall,
        "machine_cpu_s": busy,
        "benchmark_cpu_s": own,
        "benchmark_cores": own / wall,
        "other_cores": max(0.0, busy - own) / wall,
    }


# ----------------------------------------------------------------------------- data


def make_fleet(n_series: int, rows: int):
    """The fleet: one synthetic series per key, each different; (frame, per-series info)."""
    import numpy as np
    import pandas as pd

    from tsae.errors import ConfigError
    from tsae_datasets.synthetic import make_signal

    frames, info = [], []
    for i in range(n_series):
        rng = np.random.default_rng([7, i])
        freq = FREQS[int(rng.integers(len(FREQS)))]
        for anomalies in (3, 2, 1, 0):  # as many as the rows after the training half hold
            try:
                sig = make_signal(n=rows, channels=1, anomalies=anomalies, seed=i, freq=freq)
                break
            except ConfigError:
                continue
        x = sig["ch0"].to_numpy()
        amp = float(rng.lognormal(0.0, 1.0))
        noise = float(rng.uniform(0.02, 0.4))
        level = float(rng.normal(0.0, 100.0))
        value = level + amp * ((x - x.mean()) / (x.std() or 1.0) + noise * rng.standard_normal(rows))
        frames.append(pd.DataFrame({KEY: f"s{i:05d}", TIME: sig["timestamp"].to_numpy(), VALUE: value}))
        info.append({"freq": freq, "anomalies": anomalies, "labelled_rows": int(sig["label"].sum())})
    return pd.concat(frames, ignore_index=True), info


# ----------------------------------------------------------------------------- engines


def run_loop(df, params: dict) -> dict:
    """The plain loop: fit, then score, key by key in this process (1 torch thread)."""
    import pandas as pd

    from tsae import Detector

    groups = df.groupby(KEY, sort=True)
    models, fitted, caught_n = {}, {}, 0
    load0, snap, t0, c0 = _load(), _cpu_snapshot(), time.perf_counter(), time.process_time()
    for i, (key, rows) in enumerate(groups):
        series = rows.drop(columns=[KEY]).sort_values(TIME, kind="stable").reset_index(drop=True)
        det = Detector(**params, threads=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            det.fit(series, source=f"series {key}")
        caught_n += len(caught)
        fitted[key] = det
        models[key] = {"fingerprint": det.fingerprint(), "cutoff": det.threshold_.cutoff_, "window": det.window_}
        if (i + 1) % 100 == 0:
            _log(f"loop fit {i + 1}/{groups.ngroups} ({time.perf_counter() - t0:.0f} s)")
    fit_s, fit_cpu, fit_use = time.perf_counter() - t0, time.process_time() - c0, _cpu_since(snap)
    load1 = _load()
    parts = []
    snap, t0, c0 = _cpu_snapshot(), time.perf_counter(), time.process_time()
    for key, rows in groups:
        series = rows.drop(columns=[KEY]).sort_values(TIME, kind="stable").reset_index(drop=True)
        scored = fitted[key].assess(series, source=f"series {key}")
        out = pd.DataFrame({KEY: key, TIME: series[TIME]})
        parts.append(pd.concat([out, scored], axis=1))
    scores = pd.concat(parts, ignore_index=True)
    score_s, score_cpu, score_use = time.perf_counter() - t0, time.process_time() - c0, _cpu_since(snap)
    model_bytes = {key: det.to_bytes() for key, det in fitted.items()}
    return {
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu,
        "score_s": score_s,
        "score_cpu_s": score_cpu,
        "fit_cpu": fit_use,
        "score_cpu": score_use,
        "load_fit_start": load0,
        "load_score_start": load1,
        "load_end": _load(),
        "fit_warnings": caught_n,
        "_models": models,
        "_model_bytes": model_bytes,
        "_scores": scores,
    }


def run_grouped(df, params: dict, jobs: int) -> dict:
    """tsae.fleet.fit_fleet / score_fleet with ``jobs`` processes."""
    from tsae.fleet import fit_fleet, score_fleet

    load0, snap, t0 = _load(), _cpu_snapshot(), time.perf_counter()
    table = fit_fleet(df, KEY, params=params, time_column=TIME, jobs=jobs)
    fit_s, fit_use, load1 = time.perf_counter() - t0, _cpu_since(snap), _load()
    snap, t0 = _cpu_snapshot(), time.perf_counter()
    scores = score_fleet(df, table, KEY, time_column=TIME, jobs=jobs)
    score_s, score_use = time.perf_counter() - t0, _cpu_since(snap)
    errors = table["error"].notna().sum()
    warned = table["warnings"].notna().sum()
    models = {
        r[KEY]: {"fingerprint": r["fingerprint"], "cutoff": r["cutoff"], "window": r["window"]}
        for r in table.to_dict("records")
    }
    return {
        "jobs": jobs,
        "fit_s": fit_s,
        "score_s": score_s,
        "fit_cpu": fit_use,
        "score_cpu": score_use,
        "load_fit_start": load0,
        "load_score_start": load1,
        "load_end": _load(),
        "fit_errors": int(errors),
        "series_with_fit_warnings": int(warned),
        "fit_seconds_in_tasks": float(table["seconds"].sum()),
        "_models": models,
        "_model_bytes": dict(zip(table[KEY], table["model"])),
        "_scores": scores,
    }


def spark_versions(spark) -> dict:
    import pyspark

    jvm = spark.sparkContext._jvm
    return {
        "pyspark": pyspark.__version__,
        "spark": spark.version,
        "java": str(jvm.System.getProperty("java.version")),
        "java_vm": str(jvm.System.getProperty("java.vm.name")),
    }


def run_spark(data_path: Path, work: Path, params: dict, cores: int) -> dict:
    """tsae.spark.fit (models written to Parquet), tsae.spark.score (scores written to Parquet)."""
    import pandas as pd

    from tsae import spark as tspark

    conf = {"spark_sql_session_timeZone": "UTC", "spark_driver_memory": "4g", "spark_ui_showConsoleProgress": "false"}
    out: dict = {"cores": cores, "extra_conf": {k.replace("_", "."): v for k, v in conf.items()}}
    snap, t0 = _cpu_snapshot(), time.perf_counter()
    spark = tspark.session(cores, **conf)
    spark.range(1).count()  # the JVM and a first job, so the session is really up
    out["session_s"], out["session_cpu"] = time.perf_counter() - t0, _cpu_since(snap)
    out["versions"] = spark_versions(spark)
    _log(f"spark session up in {out['session_s']:.1f} s: {out['versions']}")

    models_path, scores_path = str(work / "spark_models"), str(work / "spark_scores")
    out["load_fit_start"] = _load()
    snap, t0 = _cpu_snapshot(), time.perf_counter()
    sdf = spark.read.parquet(str(data_path))
    out["time_type"] = sdf.schema[TIME].dataType.simpleString()
    tspark.fit(sdf, KEY, params=params, time_column=TIME).write.mode("overwrite").parquet(models_path)
    out["fit_s"], out["fit_cpu"] = time.perf_counter() - t0, _cpu_since(snap)
    out["load_score_start"] = _load()
    _log(f"spark fit {out['fit_s']:.1f} s")
    snap, t0 = _cpu_snapshot(), time.perf_counter()
    sdf = spark.read.parquet(str(data_path))
    models = spark.read.parquet(models_path)
    tspark.score(sdf, models, KEY, TIME).write.mode("overwrite").parquet(scores_path)
    out["score_s"], out["score_cpu"] = time.perf_counter() - t0, _cpu_since(snap)
    out["load_end"] = _load()
    _log(f"spark score {out['score_s']:.1f} s")

    table = pd.read_parquet(models_path)
    out["fit_errors"] = int(table["error"].notna().sum())
    out["fit_seconds_in_tasks"] = float(table["seconds"].sum())
    out["_models"] = {
        r[KEY]: {"fingerprint": r["fingerprint"], "cutoff": r["cutoff"], "window": r["window"]}
        for r in table.to_dict("records")
    }
    out["_scores"] = pd.read_parquet(scores_path)
    out["_spark"] = spark
    out["_models_path"] = models_path
    return out


# ----------------------------------------------------------------------------- streaming


def run_stream(df, model_bytes: dict, keys: list, batch_rows: int) -> dict:
    """stream_series over ``keys`` in this process, ``batch_rows`` rows per key per call, the
    keys taking turns; the last call of a key is final."""
    import numpy as np
    import pandas as pd

    from tsae.fleet import stream_series

    series = {
        k: rows.sort_values(TIME, kind="stable").reset_index(drop=True)
        for k, rows in df[df[KEY].isin(keys)].groupby(KEY, sort=True)
    }
    n = min(len(s) for s in series.values())
    starts = list(range(0, n, batch_rows))
    states = dict.fromkeys(keys)
    sizes: dict = {k: [] for k in keys}
    parts: dict = {k: [] for k in keys}
    calls = 0
    load0, snap, t0, c0 = _load(), _cpu_snapshot(), time.perf_counter(), time.process_time()
    for j, start in enumerate(starts):
        final = j == len(starts) - 1
        for k in keys:
            rows = series[k].iloc[start : start + batch_rows]
            out, states[k] = stream_series(rows, model_bytes[k], states[k], KEY, TIME, final=final)
            calls += 1
            parts[k].append(out)
            if states[k] is not None:
                sizes[k].append(len(states[k].encode()))
    wall, cpu, use = time.perf_counter() - t0, time.process_time() - c0, _cpu_since(snap)
    streamed = pd.concat([p for k in keys for p in parts[k]], ignore_index=True)
    last = np.array([s[-1] for s in sizes.values() if s])
    peak = np.array([max(s) for s in sizes.values() if s])
    total_rows = sum(len(s) for s in series.values())
    return {
        "series": len(keys),
        "rows": total_rows,
        "batch_rows": batch_rows,
        "calls": calls,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu": use,
        "rows_per_s": total_rows / wall,
        "calls_per_s": calls / wall,
        "state_bytes_last": {"mean": float(last.mean()), "min": int(last.min()), "max": int(last.max())},
        "state_bytes_peak": {"mean": float(peak.mean()), "min": int(peak.min()), "max": int(peak.max())},
        "load_start": load0,
        "load_end": _load(),
        "_scores": streamed,
    }


def run_spark_stream(spark, df, models_path: str, keys: list, files: int, work: Path) -> dict:
    """tsae.spark.stream over ``keys``: the rows in ``files`` Parquet files (one per
    micro-batch, in time order, the last with an end marker per key), Trigger.AvailableNow."""
    import numpy as np
    import pandas as pd

    from tsae import spark as tspark

    src, sink, ckpt = work / "stream_in", work / "stream_out", work / "stream_ckpt"
    for p in (src, sink, ckpt):
        shutil.rmtree(p, ignore_errors=True)
    src.mkdir()
    part = df[df[KEY].isin(keys)].sort_values([KEY, TIME], kind="stable").copy()
    part["end"] = False
    part["row"] = part.groupby(KEY).cumcount()
    n = int(part.groupby(KEY).size().min())
    edges = np.linspace(0, n, files + 1).astype(int)
    base = time.time() - 10 * files
    for f in range(files):
        chunk = part[(part["row"] >= edges[f]) & (part["row"] < edges[f + 1])].drop(columns="row")
        if f == files - 1:
            last = part.groupby(KEY).tail(1)
            marker = pd.DataFrame(
                {KEY: last[KEY].to_numpy(), TIME: last[TIME].to_numpy() + np.timedelta64(1, "s"), VALUE: np.nan}
            )
            marker["end"] = True
            chunk = pd.concat([chunk, marker], ignore_index=True)
        path = src / f"part-{f:04d}.parquet"
        chunk.to_parquet(path, index=False)
        os.utime(path, (base + 10 * f, base + 10 * f))  # the file source takes the oldest first
    total_rows = int(len(part))
    schema = spark.read.parquet(str(src)).schema
    load0, snap, t0 = _load(), _cpu_snapshot(), time.perf_counter()
    stream_df = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).parquet(str(src))
    scored = tspark.stream(stream_df, str(models_path), KEY, TIME, flush_after=None, end_column="end")
    query = (
        scored.writeStream.format("parquet")
        .option("checkpointLocation", str(ckpt))
        .outputMode("append")
        .trigger(availableNow=True)
        .start(str(sink))
    )
    query.awaitTermination()
    wall, use = time.perf_counter() - t0, _cpu_since(snap)
    batches = len(query.recentProgress)
    exc = query.exception()
    if exc is not None:
        raise RuntimeError(f"the streaming query failed: {exc}")
    out = pd.read_parquet(sink)
    return {
        "series": len(keys),
        "rows": total_rows,
        "files": files,
        "micro_batches": batches,
        "api": "tws" if hasattr(stream_df.groupBy(KEY), "transformWithStateInPandas") else "v1",
        "wall_s": wall,
        "rows_per_s": total_rows / wall,
        "rows_out": int(len(out)),
        "cpu": use,
        "load_start": load0,
        "load_end": _load(),
        "_scores": out,
    }


# ----------------------------------------------------------------------------- checks


def _naive(ts):
    import pandas as pd

    ts = pd.to_datetime(ts)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.astype("datetime64[us]")


def compare_scores(a, b, on: list[str]) -> dict:
    """Row-by-row comparison of two score frames joined on ``on``."""
    import numpy as np

    cols = [*on, "score", "probability", "is_anomaly"]
    a, b = a[cols].copy(), b[cols].copy()
    for f in (a, b):
        if TIME in on:
            f[TIME] = _naive(f[TIME])
        f[KEY] = f[KEY].astype(str)
    m = a.merge(b, on=on, how="outer", suffixes=("_a", "_b"), indicator=True)
    both = m[m["_merge"] == "both"]
    sa, sb = both["score_a"].to_numpy(float), both["score_b"].to_numpy(float)
    pa, pb = both["probability_a"].to_numpy(float), both["probability_b"].to_numpy(float)
    diff = np.abs(sa - sb)
    nan_mismatch = int((np.isnan(sa) != np.isnan(sb)).sum())
    rel = diff / np.maximum(np.abs(sa), 1e-300)
    return {
        "rows_a": int(len(a)),
        "rows_b": int(len(b)),
        "rows_matched": int(len(both)),
        "only_a": int((m["_merge"] == "left_only").sum()),
        "only_b": int((m["_merge"] == "right_only").sum()),
        "score_identical_rows": int(np.sum((sa == sb) | (np.isnan(sa) & np.isnan(sb)))),
        "score_max_abs_diff": float(np.nanmax(diff)) if len(diff) and not np.isnan(diff).all() else 0.0,
        "score_max_rel_diff": float(np.nanmax(rel)) if len(rel) and not np.isnan(rel).all() else 0.0,
        "score_nan_mismatch": nan_mismatch,
        "probability_max_abs_diff": float(np.nanmax(np.abs(pa - pb))) if len(pa) else 0.0,
        "is_anomaly_mismatch": int((both["is_anomaly_a"].astype(bool) != both["is_anomaly_b"].astype(bool)).sum()),
        "flags_a": int(a["is_anomaly"].astype(bool).sum()),
    }


def compare_models(a: dict, b: dict) -> dict:
    keys = sorted(set(a) | set(b))
    same_fp = sum(1 for k in keys if k in a and k in b and a[k]["fingerprint"] == b[k]["fingerprint"])
    same_cut = sum(1 for k in keys if k in a and k in b and a[k]["cutoff"] == b[k]["cutoff"])
    differ = [k for k in keys if not (k in a and k in b and a[k]["fingerprint"] == b[k]["fingerprint"])]
    return {"keys": len(keys), "fingerprints_equal": same_fp, "cutoffs_equal": same_cut, "differ_first": differ[:10]}


def _within(cmp: dict) -> bool:
    abs_tol, rel_tol = STREAM_TOLERANCE
    return (
        cmp["only_a"] == 0
        and cmp["only_b"] == 0
        and cmp["score_nan_mismatch"] == 0
        and (cmp["score_max_abs_diff"] <= abs_tol or cmp["score_max_rel_diff"] <= rel_tol)
    )


# ----------------------------------------------------------------------------- output


def _f(x, nd=1) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def _cores(use: dict | None) -> str:
    return "–" if not use else f"{use['benchmark_cores']:.2f} / {use['other_cores']:.2f}"


def _g(x) -> str:
    return "–" if x is None else ("0" if x == 0 else f"{x:.3g}")


def _check_stream(run: dict, batch_scores, keys, label: str, problems: list) -> None:
    """Compare a stream's scores with the batch scores of ``keys`` row by row (series, row
    number): ``run["check"]``, ``run["within_tolerance"]``, and a problem if they differ."""
    batch = batch_scores[batch_scores[KEY].isin(keys)].sort_values([KEY, TIME], kind="stable").copy()
    batch["row"] = batch.groupby(KEY).cumcount()
    run["check"] = compare_scores(batch, run["_scores"], [KEY, "row"])
    run["within_tolerance"] = _within(run["check"])
    if not run["within_tolerance"] or run["check"]["is_anomaly_mismatch"]:
        problems.append(f"{label}: streamed scores differ from the batch scores: {run['check']}")


def render_md(data: dict) -> str:
    meta, eng = data["meta"], data["engines"]
    n_series, n_rows = meta["series"], meta["rows_per_series"]
    total = n_series * n_rows
    L = ["# Fleet: one model per series with a plain loop, the grouped layer and Spark", ""]
    L.append(provenance(meta, "fleet.py"))
    L.append("")
    v = meta["versions"]
    sv = (eng.get("spark") or {}).get("versions") or {}
    L.append(
        f"- Machine: {meta['cpu_model']}, {meta['nproc']} cores ({meta['cpus_usable']} usable), "
        f"{meta['mem_total_gb']} GB RAM; python {meta['python']}, torch {meta['torch']}, numpy {v['numpy']}, "
        f"pandas {v['pandas']}, pyarrow {v['pyarrow']}, pyspark {v.get('pyspark')}"
        + (f" (Spark {sv['spark']}, Java {sv['java']}, {sv['java_vm']})" if sv else "")
        + f", tsae {meta['tsae']}."
    )
    L.append(
        f"- Data: {n_series:,} series x {n_rows:,} rows = {total:,} rows (`series_id` string, `timestamp`, "
        f"`value`), each a `make_signal(n={n_rows}, channels=1, seed=i)` with its own sampling step "
        f"({', '.join(FREQS)}; daily period 1,440 .. 96 rows), level, amplitude and extra noise, and "
        f"{meta['data']['anomalies_total']:,} injected anomalies in all ({meta['data']['labelled_rows']:,} "
        f"labelled rows) after each series' first half; written once to one Parquet file "
        f"({meta['data']['parquet_mb']:.0f} MB) that every engine reads. Generation {meta['data']['generate_s']:.1f} s, "
        f"Parquet write {meta['data']['write_s']:.1f} s, pandas read {meta['data']['read_s']:.1f} s."
    )
    L.append(
        f"- Training, the same for every engine: `Detector(**{json.dumps(meta['params'])})`, seed 0, other "
        "settings at their defaults. **Shortened on purpose** (the default is 20 epochs x 1,024 windows): "
        "the benchmark measures the fleet machinery, not model quality."
    )
    L.append(
        "- Threads: torch on 1 thread per series everywhere (`threads=1` in the loop, `TSAE_THREADS=1` for the "
        "grouped layer's workers and Spark's Python workers; `OMP_NUM_THREADS=1` etc. set before any import); "
        "the parallelism is across series: "
        f"{(eng.get('grouped') or {}).get('jobs', '–')} processes for the grouped layer, "
        f"`local[{(eng.get('spark') or {}).get('cores', '–')}]` for Spark."
    )
    L.append(
        f"- Total wall time {_fmt_elapsed(meta['wall_s'])}; load average (1, 5, 15 min) at start "
        f"{meta['load_avg_start']}, at end {meta['load_avg_end']}"
        + (
            f"; 1-minute load checks before starting (wanted < {meta['max_load']}): "
            + ", ".join(f"{c['load1']} ({c['time'][11:19]})" for c in meta["load_checks"])
            if meta.get("load_checks")
            else ""
        )
        + "."
    )
    L.append("")

    L.append("## Fit and score")
    L.append("")
    L.append(
        "| engine | fit s | fit rows/s | fit series/s | fit vs loop | score s | score rows/s | score series/s | "
        "score vs loop | fit + score s | CPU cores fit: tsae / other | CPU cores score: tsae / other | "
        "load at fit start / score start / end |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    base = eng.get("loop")
    for name in ENGINES:
        e = eng.get(name)
        if not e:
            continue
        if e.get("error"):
            L.append(f"| {name} | failed: {e['error']} |||||||||||")
            continue
        label = {"loop": "plain loop (1 process)", "grouped": f"grouped layer, {e.get('jobs')} processes"}.get(
            name, f"Spark local[{e.get('cores')}]"
        )
        fit_x = f"{base['fit_s'] / e['fit_s']:.2f}x" if base and not base.get("error") else "–"
        score_x = f"{base['score_s'] / e['score_s']:.2f}x" if base and not base.get("error") else "–"
        L.append(
            f"| {label} | {e['fit_s']:.1f} | {total / e['fit_s']:,.0f} | {n_series / e['fit_s']:.2f} | {fit_x} | "
            f"{e['score_s']:.1f} | {total / e['score_s']:,.0f} | {n_series / e['score_s']:.2f} | {score_x} | "
            f"{e['fit_s'] + e['score_s']:.1f} | {_cores(e.get('fit_cpu'))} | {_cores(e.get('score_cpu'))} | "
            f"{e['load_fit_start'][0]} / {e['load_score_start'][0]} / "
            f"{e['load_end'][0]} |"
        )
    sp = eng.get("spark")
    if sp and not sp.get("error"):
        L.append("")
        L.append(
            f"Spark session start (JVM, `local[{sp['cores']}]`, a first one-row job): {sp['session_s']:.1f} s "
            f"(CPU cores tsae / other {_cores(sp.get('session_cpu'))}), not in the fit time. Spark read the Parquet timestamp as "
            f"`{sp.get('time_type')}`. Settings added to `tsae.spark.session`'s: "
            + ", ".join(f"`{k}={v}`" for k, v in (sp.get("extra_conf") or {}).items())
            + "."
        )
    L.append("")
    extra = []
    if base and not base.get("error"):
        extra.append(f"loop CPU time of this process: fit {base['fit_cpu_s']:.1f} s, score {base['score_cpu_s']:.1f} s")
    for name in ("grouped", "spark"):
        e = eng.get(name)
        if e and not e.get("error") and e.get("fit_seconds_in_tasks") is not None:
            extra.append(f"{name}: sum of the per-series fit seconds in the tasks {e['fit_seconds_in_tasks']:.1f} s")
    if extra:
        L.append("For comparison: " + "; ".join(extra) + ".")
        L.append("")

    eq = data.get("equality") or {}
    if eq:
        L.append("## Equality across engines")
        L.append("")
        L.append(
            "Models: fingerprints (`Detector.fingerprint`: weights, scaler, window ...) and cutoffs compared key by "
            "key. Scores: every row joined on (series_id, timestamp); max abs/rel difference of `score`, max abs "
            "difference of `probability`, rows whose `is_anomaly` differs."
        )
        L.append("")
        L.append(
            "| pair | keys | fingerprints equal | cutoffs equal | rows joined | rows only in one | score identical rows | "
            "score max abs diff | score max rel diff | probability max abs diff | is_anomaly differs | flagged rows |"
        )
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for pair, c in eq.items():
            mo, sc = c.get("models") or {}, c.get("scores") or {}
            L.append(
                f"| {pair} | {mo.get('keys', '–')} | {mo.get('fingerprints_equal', '–')} | "
                f"{mo.get('cutoffs_equal', '–')} | {sc.get('rows_matched', 0):,} | "
                f"{sc.get('only_a', 0) + sc.get('only_b', 0):,} | {sc.get('score_identical_rows', 0):,} | "
                f"{_g(sc.get('score_max_abs_diff'))} | {_g(sc.get('score_max_rel_diff'))} | "
                f"{_g(sc.get('probability_max_abs_diff'))} | {sc.get('is_anomaly_mismatch', '–')} | "
                f"{sc.get('flags_a', '–'):,} |"
            )
        L.append("")

    st, ss = data.get("stream"), data.get("spark_stream")
    if st or ss:
        L.append("## Streaming")
        L.append("")
        abs_tol, rel_tol = STREAM_TOLERANCE
        L.append(
            "Streamed scores compared with the batch scores of the same models (grouped layer) row by row "
            f"(series, row number); tolerance {abs_tol:g} abs or {rel_tol:g} rel."
        )
        L.append("")
        L.append(
            "| path | series | rows | batches | wall s | rows/s | state bytes per key (mean / min / max) | "
            "rows joined | score max abs diff | max rel diff | is_anomaly differs | within tolerance |"
        )
        L.append("|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---|")
        if st:
            if st.get("error"):
                L.append(f"| `stream_series` | failed: {st['error']} |||||||||||")
            else:
                c = st.get("check") or {}
                sb = st["state_bytes_last"]
                L.append(
                    f"| `tsae.fleet.stream_series`, 1 process, 1 thread | {st['series']} | {st['rows']:,} | "
                    f"{st['batch_rows']} rows per key per call, keys in turn ({st['calls']:,} calls) | "
                    f"{st['wall_s']:.1f} | {st['rows_per_s']:,.0f} | {sb['mean']:,.0f} / {sb['min']:,} / {sb['max']:,} | "
                    f"{c.get('rows_matched', 0):,} | {_g(c.get('score_max_abs_diff'))} | "
                    f"{_g(c.get('score_max_rel_diff'))} | {c.get('is_anomaly_mismatch', '–')} | "
                    f"{'yes' if st.get('within_tolerance') else '**no**'} |"
                )
        if ss:
            if ss.get("error"):
                L.append(f"| Spark `tsae.spark.stream` | failed: `{ss['error']}` |||||||||||")
            else:
                c = ss.get("check") or {}
                L.append(
                    f"| Spark `tsae.spark.stream` ({ss['api']}), AvailableNow, local[{(sp or {}).get('cores')}] | "
                    f"{ss['series']} | {ss['rows']:,} | {ss['files']} files, 1 per trigger "
                    f"({ss['micro_batches']} micro-batches) | {ss['wall_s']:.1f} | {ss['rows_per_s']:,.0f} | "
                    f"(Spark state store) | {c.get('rows_matched', 0):,} | {_g(c.get('score_max_abs_diff'))} | "
                    f"{_g(c.get('score_max_rel_diff'))} | {c.get('is_anomaly_mismatch', '–')} | "
                    f"{'yes' if ss.get('within_tolerance') else '**no**'} |"
                )
        L.append("")
        if st and not st.get("error"):
            pk = st["state_bytes_peak"]
            L.append(
                f"State bytes: `len` of the JSON state text (UTF-8) after a key's last non-final call; the largest "
                f"seen during the stream: mean {pk['mean']:,.0f}, max {pk['max']:,} bytes. The stream's CPU time "
                f"{st['cpu_s']:.1f} s of {st['wall_s']:.1f} s wall; {st['calls_per_s']:,.0f} calls/s; CPU cores "
                f"tsae / other {_cores(st.get('cpu'))}; load {st['load_start']} at start, {st['load_end']} at end."
            )
            L.append("")
        if ss and not ss.get("error"):
            L.append(
                f"Spark stream wall time from `readStream` to the end of `awaitTermination` (query start, "
                f"{ss['micro_batches']} micro-batches, RocksDB state store commits); rows out "
                f"{ss['rows_out']:,}; CPU cores tsae / other {_cores(ss.get('cpu'))}; load {ss['load_start']} at "
                f"start, {ss['load_end']} at end."
            )
            L.append("")

    problems = data.get("problems") or []
    L.append("## Problems found in the run")
    L.append("")
    L += [f"- {p}" for p in problems] if problems else ["- None: every check passed."]
    L.append("")
    L.append("## Notes")
    L.append("")
    L.append(
        "- What the times hold. **loop**: the pandas `groupby` over the frame in memory, sorting each key by time, "
        "`fit` (or `assess`) and building the output frame; the Parquet read is not in it (it is listed above, once "
        "for loop and grouped). **grouped**: `fit_fleet` / `score_fleet` on the same frame in memory: starting a "
        "pool of spawned processes (each imports torch), pickling every key's rows to a worker and the results "
        "back, the same per-series work; each call starts its own pool. **spark**: reading the Parquet file, the "
        "shuffle by key, Arrow to pandas and back, the per-series work in Spark's Python workers, and writing "
        "the models / scores to Parquet."
    )
    L.append(
        "- rows/s = all rows of the fleet / wall seconds of the phase; series/s likewise; `vs loop` = loop time "
        "/ engine time (above 1: faster than the loop). The machine has 2 cores, so 2x is the most that "
        "processes can give over the loop; other work on the machine takes from that. CPU cores = CPU seconds "
        "per wall second of the phase (from /proc): **tsae** = this benchmark's process tree (the loop, the pool "
        "workers, Spark's JVM and Python workers), **other** = every other process on the machine (up to "
        "2 - tsae); the load averages are the machine's, over 1 minute, at the phase boundaries."
    )
    L.append(
        "- The loop calls `det.assess` rather than `det.score`: `score` is `assess(...)['score']`, the same work, "
        "and `assess` gives the probability and flag compared above."
    )
    if meta.get("notes"):
        L.append("")
        L.append(meta["notes"].strip())
    L.append("")
    return "\n".join(L)


def _public(d: dict) -> dict:
    """Without the keys starting with ``_`` (frames, models, the Spark session)."""
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("numpy", "pandas", "pyarrow", "pyspark", "torch", "tsae"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--series", type=int, default=1000, help="series in the fleet (default 1000)")
    p.add_argument("--rows", type=int, default=10_000, help="rows per series (default 10000)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma list of loop, grouped, spark (default all)")
    p.add_argument("--params", default=json.dumps(PARAMS), help=f"Detector parameters, JSON (default {PARAMS})")
    p.add_argument("--jobs", type=int, default=2, help="grouped layer processes (default 2)")
    p.add_argument("--cores", type=int, default=2, help="Spark local[N] (default 2)")
    p.add_argument("--stream-series", type=int, default=100, help="series streamed (default 100; 0 = none)")
    p.add_argument("--batch-rows", type=int, default=100, help="rows per key per stream_series call (default 100)")
    p.add_argument(
        "--spark-stream-files", type=int, default=10, help="Spark stream: files = micro-batches (default 10; 0 = off)"
    )
    p.add_argument("--max-load", type=float, default=1.0, help="start when the 1-minute load is below this")
    p.add_argument("--load-wait", type=float, default=60, help="seconds between load checks (default 60)")
    p.add_argument("--load-retries", type=int, default=5, help="load re-checks before starting anyway (default 5)")
    p.add_argument("--workdir", help="folder for the Parquet files (default a new temporary folder)")
    p.add_argument("--keep-files", action="store_true", help="keep the work folder")
    p.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results)")
    p.add_argument("--render", metavar="JSON", help="only rewrite fleet.md in --out from a saved fleet.json")
    p.add_argument("--notes", metavar="MD", help="with --render: store this file's text in the json as notes")
    args = p.parse_args(argv)
    out = Path(args.out)

    if args.render:
        rerender(args.render, args.notes, out, "fleet", render_md)
        return 0

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or set(engines) - set(ENGINES):
        p.error(f"--engines: a comma list of {', '.join(ENGINES)}")
    params = json.loads(args.params)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tsae-fleet-"))
    work.mkdir(parents=True, exist_ok=True)

    import pandas as pd

    meta = _machine()
    meta.update(
        date=_now(),
        command=" ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        versions=_versions(),
        tsae_source=_tsae_source(),
        series=args.series,
        rows_per_series=args.rows,
        params=params,
        engines=engines,
        workdir=str(work),
    )
    checks = []
    for attempt in range(args.load_retries + 1):
        checks.append({"time": _now(), "load1": _load()[0]})
        if checks[-1]["load1"] < args.max_load or attempt == args.load_retries:
            break
        _log(f"load1 {checks[-1]['load1']} >= {args.max_load}: waiting {args.load_wait:.0f} s")
        time.sleep(args.load_wait)
    meta.update(max_load=args.max_load, load_checks=checks, load_avg_start=_load())
    started = time.perf_counter()
    data: dict = {"meta": meta, "engines": {}, "equality": {}}
    problems: list[str] = []

    _log(f"generating {args.series} x {args.rows} rows in {work}")
    t0 = time.perf_counter()
    df, info = make_fleet(args.series, args.rows)
    gen_s = time.perf_counter() - t0
    data_path = work / "fleet.parquet"
    t0 = time.perf_counter()
    df.to_parquet(data_path, index=False)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = pd.read_parquet(data_path)
    read_s = time.perf_counter() - t0
    meta["data"] = {
        "generate_s": gen_s,
        "write_s": write_s,
        "read_s": read_s,
        "parquet_mb": data_path.stat().st_size / 1e6,
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "freqs": {f: sum(i["freq"] == f for i in info) for f in FREQS},
        "anomalies_total": sum(i["anomalies"] for i in info),
        "labelled_rows": sum(i["labelled_rows"] for i in info),
    }
    _log(f"data: {len(df):,} rows, {meta['data']['parquet_mb']:.0f} MB, dtypes {meta['data']['dtypes']}")

    runs: dict = {}
    for name in engines:
        _log(f"engine {name}: start (load {_load()})")
        try:
            if name == "loop":
                runs[name] = run_loop(df, params)
            elif name == "grouped":
                runs[name] = run_grouped(df, params, args.jobs)
            else:
                runs[name] = run_spark(data_path, work, params, args.cores)
        except Exception as exc:  # noqa: BLE001 - reported in the results
            runs[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            problems.append(f"engine {name} failed: `{type(exc).__name__}: {str(exc)[:2000]}`")
            _log(runs[name]["traceback"])
        r = runs[name]
        data["engines"][name] = _public(r)
        if not r.get("error"):
            _log(f"engine {name}: fit {r['fit_s']:.1f} s, score {r['score_s']:.1f} s")
            for what in ("fit_errors",):
                if r.get(what):
                    problems.append(f"engine {name}: {r[what]} series failed to fit")

    ok = [n for n in engines if not runs[n].get("error")]
    ref = ok[0] if ok else None
    for other in ok[1:]:
        pair = f"{ref} vs {other}"
        _log(f"comparing {pair}")
        mo = compare_models(runs[ref]["_models"], runs[other]["_models"])
        sc = compare_scores(runs[ref]["_scores"], runs[other]["_scores"], [KEY, TIME])
        data["equality"][pair] = {"models": mo, "scores": sc}
        if mo["fingerprints_equal"] != mo["keys"]:
            problems.append(
                f"{pair}: fingerprints differ for {mo['keys'] - mo['fingerprints_equal']} keys "
                f"(first: {', '.join(mo['differ_first'])})"
            )
        if mo["cutoffs_equal"] != mo["keys"]:
            problems.append(f"{pair}: cutoffs differ for {mo['keys'] - mo['cutoffs_equal']} keys")
        if sc["only_a"] or sc["only_b"] or sc["score_max_abs_diff"] or sc["is_anomaly_mismatch"]:
            problems.append(
                f"{pair}: scores differ: {sc['only_a']} rows only in {ref}, {sc['only_b']} only in {other}, "
                f"score max abs diff {sc['score_max_abs_diff']:.3g}, is_anomaly differs on {sc['is_anomaly_mismatch']} rows"
            )

    source = "grouped" if "grouped" in ok else ref
    if args.stream_series > 0 and source:
        keys = sorted(runs[source]["_model_bytes"])[: args.stream_series]
        _log(f"stream_series: {len(keys)} series, {args.batch_rows} rows per call (load {_load()})")
        try:
            st = run_stream(df, runs[source]["_model_bytes"], keys, args.batch_rows)
            _check_stream(st, runs[source]["_scores"], keys, "stream_series", problems)
            st["check"]["reference"] = source
            _log(f"stream_series: {st['rows_per_s']:,.0f} rows/s, state {st['state_bytes_last']}")
        except Exception as exc:  # noqa: BLE001
            st = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            problems.append(f"stream_series failed: `{type(exc).__name__}: {str(exc)[:2000]}`")
            _log(st["traceback"])
        data["stream"] = _public(st)

    spark_run = runs.get("spark") or {}
    if args.spark_stream_files > 0 and args.stream_series > 0 and spark_run.get("_spark") is not None:
        keys = sorted(spark_run["_models"])[: args.stream_series]
        _log(f"spark stream: {len(keys)} series in {args.spark_stream_files} files (load {_load()})")
        try:
            ss = run_spark_stream(
                spark_run["_spark"], df, spark_run["_models_path"], keys, args.spark_stream_files, work
            )
            _check_stream(
                ss, runs[source]["_scores"] if source else spark_run["_scores"], keys, "Spark stream", problems
            )
            _log(f"spark stream: {ss['rows_per_s']:,.0f} rows/s in {ss['wall_s']:.1f} s")
        except Exception as exc:  # noqa: BLE001
            ss = {"error": f"{type(exc).__name__}: {str(exc)[:3000]}", "traceback": traceback.format_exc()}
            problems.append(f"Spark stream failed: `{type(exc).__name__}: {str(exc)[:2000]}`")
            _log(ss["traceback"])
        data["spark_stream"] = _public(ss)
    if spark_run.get("_spark") is not None:
        spark_run["_spark"].stop()

    data["problems"] = problems
    meta["wall_s"] = round(time.perf_counter() - started, 1)
    meta["source_hash_end"] = _source_hash()
    meta["load_avg_end"] = _load()
    meta["date_end"] = _now()
    (out / "fleet.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    md = render_md(data)
    (out / "fleet.md").write_text(md)
    print(md)
    if not args.keep_files:
        shutil.rmtree(work, ignore_errors=True)
    _log(f"done in {_fmt_elapsed(meta['wall_s'])}; wrote {out / 'fleet.md'} and {out / 'fleet.json'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
