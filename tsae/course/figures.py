"""PNG figures for the course experiments: image grids, the latent scatter, AUROC bars."""

from __future__ import annotations

import numpy as np

from ..atomic import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_rows(rows: list[np.ndarray], labels: list[str], path, title: str = "") -> None:
    """One row of images per entry of ``rows`` (each (k, 28, 28) in [0, 1]), the row's
    label on its left; saved as a small PNG."""
    plt = _pyplot()
    k = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), k, figsize=(0.9 * k + 1.2, 0.95 * len(rows) + 0.4), squeeze=False)
    for i, (row, label) in enumerate(zip(rows, labels)):
        for j in range(k):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(row):
                ax.imshow(row[j], cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()) if title else None)
    if title:
        fig.suptitle(title, fontsize=9)
    save_figure(fig, path, dpi=70)
    plt.close(fig)


def image_grid(images: np.ndarray, path, title: str = "", cols: int = 10) -> None:
    """``images`` (k, 28, 28) tiled ``cols`` to a row into one picture."""
    n = len(images)
    rows = -(-n // cols)
    tiles = np.zeros((rows * cols, 28, 28), dtype=np.float32)
    tiles[:n] = images
    mosaic = tiles.reshape(rows, cols, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(cols * 0.45 + 0.2, rows * 0.45 + 0.4))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.2)
    save_figure(fig, path, dpi=70)
    plt.close(fig)


def latent_scatter(codes: np.ndarray, labels: np.ndarray, classes: list[str], path, title: str = "") -> None:
    """2-D codes (n, 2) as points coloured by class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(classes):
        pick = labels == c
        ax.scatter(codes[pick, 0], codes[pick, 1], s=4, color=cmap(c % 10), label=name, alpha=0.7)
    ax.legend(markerscale=3, fontsize=7, loc="best", ncol=2)
    ax.set_xlabel("z1"), ax.set_ylabel("z2")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
    plt.close(fig)


def auroc_bars(methods: dict[str, dict], classes: list[str], path, title: str = "") -> None:
    """Grouped bars: AUROC per class (``methods[name]["per_class"][class]``) per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(methods)
    x = np.arange(len(classes))
    for i, (name, result) in enumerate(methods.items()):
        values = [result["per_class"][str(c)] for c in range(len(classes))]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=f"{name} (mean {result['mean_auroc']:.3f})")
    ax.set_xticks(x, classes, fontsize=7)
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("AUROC")
    ax.legend(fontsize=7, ncol=len(methods), loc="lower center")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
    plt.close(fig)
