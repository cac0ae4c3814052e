"""Tuning tsae's defaults: training settings x ways of turning window errors into point scores.

Used to choose ``Detector()``'s defaults for issue 6 (see ``results/variants.md``). For
each series and each training setting, one ``Detector`` is fitted on rows
``[0, train_end)``; one forward pass over every stride-1 window then gives the squared
error per window, position and channel, from which every score variant is derived:

- ``overlap``: the per-position error averaged over the windows covering a point
  (``score_mode="overlap"``).
- ``<err>-<place>``: a whole-window error ``err`` placed on points by ``place``.
  ``err``: ``raw`` (mean over positions and channels), ``norm`` (each channel's
  window error divided by its mean on the validation windows, then the mean over
  channels), ``normf`` (the same with each channel's divisor at least a tenth of the
  channels' mean error), ``nmax`` (the largest of ``normf``'s channel errors).
  ``place``: ``end`` (the window ending at the point: ``score_mode="causal"``),
  ``center`` (the window centred on it, TSB-AD's rule for window scores), ``mean`` or
  ``max`` over the windows covering the point.

Metrics as in ``accuracy.py`` (test rows only, VUS window = auto_window of the training
rows). Usage::

    python benchmarks/variants.py --collections nab,ucr --settings '{}' '{"epochs": 10}' --jobs 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import UCR_TOLERANCE, _load, _worker_init  # noqa: E402


def _window_errors(det, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled series (n, C) -> squared error per window, position and channel (one forward
    pass, tsae's own batching), summed two ways: per-point overlap sums (n,) and
    per-window per-channel means (k, C)."""
    import torch

    from tsae.scoring import MIN_BATCH, _squared_errors
    from tsae.windows import add_window_errors, sliding_windows

    w = det.window_
    windows = sliding_windows(scaled.astype(np.float32), w)  # (k, W, C)
    acc = np.zeros(len(scaled))
    per_channel = np.empty((len(windows), scaled.shape[1]))
    with torch.inference_mode():
        for i, err in _squared_errors(det.module_, windows, det.device_, 512, MIN_BATCH):
            err = err.double().cpu().numpy()  # (b, W, C)
            add_window_errors(acc[i : i + len(err) + w - 1], err.mean(axis=2))
            per_channel[i : i + len(err)] = err.mean(axis=1)  # (b, C)
    return acc, per_channel


def _place(e: np.ndarray, n: int, w: int, how: str) -> np.ndarray:
    """Window errors e (k,) (window i covers rows i..i+w-1) -> per-point scores (n,)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    if how == "end":
        return np.concatenate([np.full(w - 1, e[0]), e])
    if how == "center":  # TSB-AD's rule: window i scores row i + ceil((w-1)/2), edges repeat
        return e[np.clip(np.arange(n) - (w // 2), 0, len(e) - 1)]
    # pad so every point sees the windows covering it: windows p-w+1..p (clipped)
    padded = np.concatenate([np.full(w - 1, np.nan), e, np.full(w - 1, np.nan)])
    if how == "max":
        filled = np.where(np.isnan(padded), -np.inf, padded)
        return maximum_filter1d(filled, w, origin=(w - 1) // 2)[w - 1 : w - 1 + n]
    valid = ~np.isnan(padded)
    sums = uniform_filter1d(np.where(valid, padded, 0.0), w, origin=(w - 1) // 2)
    counts = uniform_filter1d(valid.astype(float), w, origin=(w - 1) // 2)
    with np.errstate(invalid="ignore"):  # the padding rows, cut off below
        return (sums / counts)[w - 1 : w - 1 + n]


def run_task(task: dict) -> list[dict]:
    from tsae import Detector, metrics
    from tsae.windows import auto_window, coverage

    values, labels, meta, cols = _load(task["collection"], task["series"])
    n, te = len(values), int(meta["train_end"])
    frame = pd.DataFrame(values, columns=cols)
    det = Detector(seed=0, threads=1, **task["setting"])
    t = time.perf_counter()
    det.fit(frame.iloc[:te])
    fit_s = time.perf_counter() - t
    w = det.window_
    scaled = det.scaler_.transform(values)
    t = time.perf_counter()
    acc, per_channel = _window_errors(det, scaled)
    score_s = time.perf_counter() - t
    n_train = det.training_["train_rows"]
    val = per_channel[n_train : te - w + 1]  # windows inside the validation rows
    scale = val.mean(axis=0) + 1e-8
    floored = np.maximum(scale, 0.1 * scale.mean())
    errs = {
        "raw": per_channel.mean(axis=1),
        "norm": (per_channel / scale).mean(axis=1),
        "normf": (per_channel / floored).mean(axis=1),
        "nmax": (per_channel / floored).max(axis=1),
    }
    variants = {"overlap": acc / coverage(n, w)}
    for name, e in errs.items():
        for how in ("end", "center", "mean", "max"):
            variants[f"{name}-{how}"] = _place(e, n, w, how)
    y = labels[te:]
    vus_window = auto_window(values[:te])
    rows = []
    for name, s in variants.items():
        row = {
            "collection": task["collection"],
            "series": task["series"],
            "setting": json.dumps(task["setting"]),
            "variant": name,
            "window": w,
            "epochs_run": det.training_.get("epochs_run"),
            "fit_s": round(fit_s, 2),
            "score_s": round(score_s, 2),
        }
        st = s[te:]
        if y.any() and not y.all():
            row["vus_pr"] = metrics.vus_pr(y, st, sliding_window=vus_window)
            row["auc_pr"] = metrics.auc_pr(y, st)
        if task["collection"] == "ucr" and meta["anomaly_ranges"]:
            a, b = meta["anomaly_ranges"][0]
            row["top1"] = int(metrics.ucr_top1(s, a, b, te, tolerance=UCR_TOLERANCE))
        rows.append(row)
    return rows


def main(argv=None) -> None:
    from tsae_datasets.shared import list_series

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--collections", default="nab,ucr")
    p.add_argument("--settings", nargs="+", default=["{}"], help="Detector keyword arguments, JSON, one per setting")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="at most this many series per collection")
    p.add_argument("--out", default=str(HERE / "results" / "variants.csv"))
    p.add_argument("--render", action="store_true", help="only print the markdown tables of the --out CSV")
    args = p.parse_args(argv)
    if args.render:
        print(render(pd.read_csv(args.out, dtype={"setting": str})))
        return
    tasks = []
    for coll in args.collections.split(","):
        ids = list_series(coll)[: args.limit or None]
        for setting in args.settings:
            tasks += [{"collection": coll, "series": s, "setting": json.loads(setting)} for s in ids]
    started = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(args.jobs, initializer=_worker_init, initargs=(False,)) as pool:
        for i, result in enumerate(pool.map(run_task, tasks, chunksize=1)):
            rows += result
            print(f"\r{i + 1}/{len(tasks)} tasks, {time.perf_counter() - started:.0f} s", end="", file=sys.stderr)
    print(file=sys.stderr)
    df = pd.DataFrame(rows)
    out = Path(args.out)
    if out.exists():  # accumulate runs: one row per (series, setting, variant), newest wins
        df = pd.concat([pd.read_csv(out, dtype={"setting": str}), df]).drop_duplicates(
            ["collection", "series", "setting", "variant"], keep="last"
        )
    df.to_csv(out, index=False)
    print(summary(df[df.setting.isin([json.dumps(json.loads(s)) for s in args.settings])]))


def summary(df: pd.DataFrame) -> str:
    """Mean VUS-PR / AUC-PR per collection, setting and variant; UCR top-1 hits; fit seconds."""
    agg = (
        df.assign(top1=df.get("top1"))
        .groupby(["setting", "variant", "collection"])
        .agg(
            vus_pr=("vus_pr", "mean"),
            auc_pr=("auc_pr", "mean"),
            top1=("top1", "sum"),
            fit_s=("fit_s", "sum"),
            score_s=("score_s", "sum"),
        )
    )
    table = agg["vus_pr"].unstack("collection").round(3)
    if "ucr" in agg.index.get_level_values("collection"):
        table["ucr_top1"] = agg.xs("ucr", level="collection")["top1"]
    table["fit_s"] = agg["fit_s"].groupby(["setting", "variant"]).sum().round(0)
    return table.to_string()


def render(df: pd.DataFrame, shipped: str = "normf-mean", baseline: str = "{}") -> str:
    """Markdown: every score variant under the ``baseline`` setting, then every setting
    with the ``shipped`` score variant (and its fit seconds, summed over the series)."""

    def table(rows: pd.DataFrame, key: str, with_fit: bool) -> str:
        vus = rows.pivot_table("vus_pr", key, "collection", aggfunc="mean", sort=False)
        top1 = rows[rows.collection == "ucr"].groupby(key, sort=False)["top1"].sum()
        fit = rows.groupby(key, sort=False)["fit_s"].sum()
        head = f"| {key} | NAB VUS-PR | UCR VUS-PR | UCR top-1 | SMD VUS-PR |" + (
            " fit s (total) |" if with_fit else ""
        )
        lines = [head, "|---|---:|---:|---:|---:|" + ("---:|" if with_fit else "")]
        for name, r in vus.iterrows():
            line = f"| `{name}` | {r['nab']:.3f} | {r['ucr']:.3f} | {int(top1[name])}/40 | {r['smd']:.3f} |"
            lines.append(line + (f" {fit[name]:.0f} |" if with_fit else ""))
        return "\n".join(lines)

    return (
        f"### Score variants (training setting `{baseline}`)\n\n"
        f"{table(df[df.setting == baseline], 'variant', False)}\n\n"
        f"### Training settings (score variant `{shipped}`)\n\n"
        f"{table(df[df.variant == shipped], 'setting', True)}\n"
    )


if __name__ == "__main__":
    main()
