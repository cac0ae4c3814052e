"""PNG figures: the signal, its anomaly score and the cutoff."""

from __future__ import annotations

import numpy as np


def plot_scores(values: np.ndarray, channels: list[str], scores: np.ndarray, cutoff: float, path,
                labels: np.ndarray | None = None, x=None, title: str = "") -> None:
    """Save a two-panel PNG: channels on top (labelled anomalies shaded), score and
    cutoff below (flagged points marked). ``values`` (n, C), ``scores`` (n,)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(scores)) if x is None else np.asarray(x)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True, height_ratios=[3, 2])
    for c, name in enumerate(channels[:8]):
        top.plot(x, values[:, c], lw=0.6, label=name)
    if len(channels) > 8:
        top.set_title(f"first 8 of {len(channels)} channels", fontsize=9)
    for ax in (top, bottom):
        if labels is not None:
            ax.fill_between(x, 0, 1, where=np.asarray(labels) > 0, transform=ax.get_xaxis_transform(),
                            color="tab:red", alpha=0.15, lw=0, label="labelled anomaly" if ax is top else None)
    top.legend(loc="upper left", fontsize=7, ncol=min(len(channels) + 1, 5))
    bottom.plot(x, scores, lw=0.6, color="black", label="score")
    bottom.axhline(cutoff, color="tab:orange", ls="--", lw=1, label=f"cutoff {cutoff:.3g}")
    flagged = scores > cutoff
    bottom.scatter(x[flagged], scores[flagged], s=4, color="tab:red", label="flagged", zorder=3)
    bottom.set_yscale("log")
    bottom.legend(loc="upper left", fontsize=7)
    bottom.set_ylabel("score (log)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
