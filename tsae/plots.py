"""PNG figures: the signal, its anomaly score and the cutoff."""

from __future__ import annotations

import numpy as np

from .atomic import save_figure
from .events import runs


def plot_scores(
    values: np.ndarray,
    channels: list[str],
    scores: np.ndarray,
    cutoff: float,
    path,
    labels: np.ndarray | None = None,
    x=None,
    title: str = "",
    flags: np.ndarray | None = None,
) -> None:
    """Save a two-panel PNG: channels on top (labelled anomalies shaded), score and
    cutoff below (flagged points marked: ``flags``, default ``scores > cutoff``; no cutoff
    line when ``cutoff`` is None). ``values`` (n, C), ``scores`` (n,)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(scores)) if x is None else np.asarray(x)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, height_ratios=[3, 2])
    shown = values[:, :8]
    spread = shown.std(0)
    shown = (shown - shown.mean(0)) / np.where(spread > 0, spread, 1)  # channels on one scale
    for c, name in enumerate(channels[:8]):
        top.plot(x, shown[:, c], lw=0.6, label=name)
    top.set_ylabel("value (z-score)")
    if len(channels) > 8:
        top.set_title(f"first 8 of {len(channels)} channels", fontsize=9)
    if labels is not None:
        for i, (start, end) in enumerate(runs(np.asarray(labels) > 0)):
            for ax in (top, bottom):  # at least a visible sliver for one-point anomalies
                ax.axvspan(
                    x[start],
                    x[min(end, len(x) - 1)],
                    color="tab:red",
                    alpha=0.2,
                    lw=1.5,
                    label="labelled anomaly" if ax is top and i == 0 else None,
                )
    top.legend(loc="upper left", fontsize=7, ncol=min(len(channels) + 1, 5))
    bottom.plot(x, scores, lw=0.6, color="black", label="score")
    if cutoff is not None:
        bottom.axhline(cutoff, color="tab:orange", ls="--", lw=1, label=f"cutoff {cutoff:.3g}")
    flagged = np.asarray(flags, dtype=bool) if flags is not None else scores > cutoff
    bottom.scatter(x[flagged], scores[flagged], s=4, color="tab:red", label="flagged", zorder=3)
    bottom.set_yscale("log")
    bottom.legend(loc="upper left", fontsize=7)
    bottom.set_ylabel("score (log)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)


def plot_file(detector, frame, path, labels: np.ndarray | None = None, title: str = "", most: int = 8) -> dict:
    """Score ``frame`` with a fitted ``detector`` (``Detector.assess``) and save the
    two-panel figure of :func:`plot_scores` to ``path``: a time axis when the frame has
    the model's timestamp column, the flags of the detector's own rule, ``labels``
    shaded. With more than ``most`` channels, those with the largest parts of the score
    (``Detector.explain``) over the flagged rows -- over the highest-scored 1 % when none
    is flagged -- are drawn (with continual learning, whose parts are not available: the
    channels that deviate most, as mean absolute scaled value). Returns what was drawn:
    rows, flagged rows, channels."""
    assessed = detector.assess(frame)
    values = frame[detector.channels_].to_numpy(dtype=np.float64)
    scores, flags = assessed["score"].to_numpy(), assessed["is_anomaly"].to_numpy()
    channels = list(detector.channels_)
    if len(channels) > most:
        rows = flags if flags.any() else np.nan_to_num(scores, nan=-np.inf) >= np.nanquantile(scores, 0.99)
        if detector.learning_ is None:
            weight = np.nansum(detector.explain(frame).to_numpy()[rows], axis=0)
        else:
            weight = np.nanmean(np.abs(detector.scaler_.transform(values[rows])), axis=0)
        keep = np.sort(np.argsort(-weight, kind="stable")[:most])
        values, channels = values[:, keep], [channels[i] for i in keep]
    ts = detector.timestamp_
    x = frame[ts].to_numpy() if ts is not None and ts in frame.columns else None
    on_probability = getattr(detector.threshold_, "on_probability", False)
    cutoff = None if on_probability else detector.threshold_.cutoff_
    plot_scores(values, channels, scores, cutoff, path, labels, x, title, flags=flags)
    return {"rows": len(frame), "flagged": int(flags.sum()), "channels": channels}


def plot_pr_curve(labels: np.ndarray, scores: np.ndarray, cutoff: float, path) -> None:
    """Save the precision-recall curve of ``scores`` with the point ``cutoff`` gives."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    from .metrics import point_f1

    precision, recall, _ = precision_recall_curve(labels, scores)
    chosen = point_f1(labels, scores > cutoff)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(recall, precision, lw=1.2)
    ax.scatter(
        [chosen["recall"]],
        [chosen["precision"]],
        color="tab:red",
        zorder=3,
        label=f"cutoff {cutoff:.4g}: P {chosen['precision']:.2f} R {chosen['recall']:.2f} F1 {chosen['f1']:.2f}",
    )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
