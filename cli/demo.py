"""`tsae demo`: the whole job on a generated signal with known anomalies."""

from __future__ import annotations

import time
from pathlib import Path

from tsae.detector import Detector
from tsae.io import write_table
from tsae.metrics import auc_pr, auc_roc
from tsae.plots import plot_scores


def run_demo(out, n: int = 20_000, channels: int = 3, seed: int = 0, threads: int | None = None, echo=print) -> dict:
    """Generate a signal (``tsae_datasets.synthetic.make_signal``), fit on its clean
    prefix, score all of it, print a summary and write ``signal.csv``,
    ``model.tsae``, ``scores.csv`` and ``demo.png`` into ``out``. Returns the summary."""
    from tsae_datasets.synthetic import make_signal

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = make_signal(n=n, channels=channels, seed=seed)
    train_end, events = df.attrs["train_end"], df.attrs["anomalies"]
    write_table(df, out / "signal.csv")
    started = time.perf_counter()
    det = Detector(seed=seed, threads=threads, progress=True).fit(df.iloc[:train_end])
    fit_s = time.perf_counter() - started
    det.save(out / "model.tsae")
    scores = det.score(df)
    flags = det.threshold_(scores.to_numpy())
    write_table(df[["timestamp"]].assign(score=scores, is_anomaly=flags), out / "scores.csv")
    labels = df["label"].to_numpy()
    test = slice(train_end, None)
    found = sum(bool(flags[e["start"] : e["end"] + 1].any()) for e in events)
    summary = {
        "points": len(df),
        "channels": channels,
        "train_points": train_end,
        "window": det.window_,
        "fit_seconds": round(fit_s, 1),
        "cutoff": det.threshold_.cutoff_,
        "flagged_points": int(flags.sum()),
        "flagged_in_anomalies": int((flags & (labels > 0)).sum()),
        "anomalies_found": found,
        "anomalies": len(events),
        "auc_pr": auc_pr(labels[test], scores.to_numpy()[test]),
        "auc_roc": auc_roc(labels[test], scores.to_numpy()[test]),
    }
    plot_scores(
        df[det.channels_].to_numpy(),
        det.channels_,
        scores.to_numpy(),
        det.threshold_.cutoff_,
        out / "demo.png",
        labels=labels,
        x=df["timestamp"].to_numpy(),
        title=f"tsae demo: {det.model}, window {det.window_}, AUC-PR {summary['auc_pr']:.3f}",
    )
    echo(
        f"signal        {summary['points']} points x {channels} channels ({len(events)} injected anomalies, "
        f"{int(labels.sum())} labelled points); fitted on the first {train_end}"
    )
    echo(
        f"model         {det.model}, window {det.window_}, fitted in {summary['fit_seconds']} s, "
        f"cutoff {summary['cutoff']:.4g} ({det.threshold_} of validation scores)"
    )
    echo(
        f"flagged       {summary['flagged_points']} points, {summary['flagged_in_anomalies']} of them inside "
        f"labelled anomalies; {found} of {len(events)} anomalies hit"
    )
    echo(f"accuracy      AUC-PR {summary['auc_pr']:.3f}  AUC-ROC {summary['auc_roc']:.3f} (rows after training)")
    echo(f"files         {out}/signal.csv, model.tsae, scores.csv, demo.png")
    return summary
