"""28x28 grey-scale image sets (MNIST format) for the image experiments.

Sources, tried in this order by ``load_images("auto")``; nothing is ever downloaded:

``"mnist"``
    MNIST's 10,000-image test split in ``shared/datasets/mnist`` (found with
    :func:`tsae_datasets.shared.shared_root`), split 8,000 train / 2,000 test by a fixed
    permutation (``numpy.random.default_rng(SPLIT_SEED)``).
``"fashion-mnist"``
    Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` in
    ``/usr/share/datasets/fashion-mnist``: its own 60,000 train / 10,000 test split.
``"digits"``
    scikit-learn's bundled ``load_digits`` (1,797 images, 8x8, values 0..16), always
    available: scaled to [0, 1], resized to 20x20 (``scipy.ndimage.zoom``, order 1) and
    centred in a 28x28 frame (MNIST's convention: a 20x20 digit box, 4 pixels of border),
    split 1,438 train / 359 test by the same fixed permutation.

A directory path is also a source: the IDX files in it (``<split>-images-idx3-ubyte``
and ``<split>-labels-idx1-ubyte``, ``.gz`` or plain, ``.idx3-ubyte`` also accepted).
With ``train-*`` and ``t10k-*`` pairs those are train and test; with only ``t10k-*`` the
images are split 80/20 by the fixed permutation (8,000/2,000 for 10,000 images).

The seeded splits are plain permutations, not stratified: the first 80% of
``default_rng(SPLIT_SEED).permutation(n)`` is train, the rest test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsae.errors import ConfigError, DataError

from .idx import read_idx

__all__ = [
    "DIGIT_CLASSES",
    "FASHION_CLASSES",
    "FASHION_DIR",
    "SOURCES",
    "SPLIT_SEED",
    "ImageSet",
    "available_sources",
    "load_images",
]

SOURCES = ("mnist", "fashion-mnist", "digits")
SPLIT_SEED = 0
TEST_FRACTION = 0.2
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
DIGIT_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
SIZE = 28


@dataclass
class ImageSet:
    """A labelled image set split into train and test.

    Attributes
    ----------
    name : str
        The source ("mnist", "fashion-mnist", "digits") or the directory's name.
    train_x, test_x : numpy.ndarray
        ``(n, 28, 28)`` float32 in [0, 1].
    train_y, test_y : numpy.ndarray
        ``(n,)`` int64 class indices into ``classes``.
    classes : list of str
        Class names.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]

    def describe(self) -> str:
        """One line, e.g. ``"mnist: 8000 train / 2000 test, 28x28, 10 classes"``."""
        h, w = self.train_x.shape[1:]
        return f"{self.name}: {len(self.train_x)} train / {len(self.test_x)} test, {h}x{w}, {len(self.classes)} classes"


# -- IDX directories ---------------------------------------------------------------


def _find(folder: Path, split: str, kind: str) -> Path | None:
    """``<split>-<kind>`` IDX file in ``folder`` (kind "images" or "labels"), if any."""
    n = 3 if kind == "images" else 1
    for stem in (f"{split}-{kind}-idx{n}-ubyte", f"{split}-{kind}.idx{n}-ubyte"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def _layout(folder: Path) -> dict[str, tuple[Path, Path]]:
    """``{"train": (images, labels), "t10k": (...)}`` found in ``folder``.

    Needs a complete ``t10k`` pair; ``train`` is optional but, if either file is
    there, both must be. Raises DataError naming the folder and the missing files.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: no such directory")
    files = {(s, k): _find(folder, s, k) for s in ("train", "t10k") for k in ("images", "labels")}
    missing = [(s, k) for (s, k), p in files.items() if p is None]
    has_train = any(files[("train", k)] for k in ("images", "labels"))
    missing = [(s, k) for s, k in missing if s == "t10k" or has_train]
    if missing:
        names = ", ".join(f"{s}-{k}-idx{3 if k == 'images' else 1}-ubyte[.gz]" for s, k in missing)
        raise DataError(f"{folder}: missing IDX file(s) {names}")
    return {s: (files[(s, "images")], files[(s, "labels")]) for s in ("train", "t10k") if files[(s, "images")]}


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28)`` (file dtype) and labels ``(n,)`` int64, checked."""
    x = read_idx(images_path)
    if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE):
        raise DataError(f"{images_path}: images of shape {x.shape}, expected (n, {SIZE}, {SIZE})")
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise DataError(f"{images_path}: image type {x.dtype}, expected uint8 or float in [0, 1]")
    y = read_idx(labels_path)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels of shape {y.shape} and type {y.dtype}, expected (n,) integers")
    if len(y) != len(x):
        raise DataError(f"{labels_path}: {len(y)} labels for {len(x)} images in {images_path.name} (count mismatch)")
    if len(y) and y.min() < 0:
        raise DataError(f"{labels_path}: negative label {y.min()}")
    return x, y.astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed seeded 80/20 split: ``train_x, train_y, test_x, test_y``."""
    n = len(x)
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train = n - int(n * TEST_FRACTION)  # 10,000 -> 8,000 / 2,000
    tr, te = order[:n_train], order[n_train:]
    return x[tr], y[tr], x[te], y[te]


def _load_dir(folder: Path, name: str, classes: list[str] | None) -> tuple:
    """Raw ``(name, train_x, train_y, test_x, test_y, classes)`` from an IDX directory."""
    layout = _layout(folder)
    test_x, test_y = _read_pair(*layout["t10k"])
    if "train" in layout:
        train_x, train_y = _read_pair(*layout["train"])
    else:
        train_x, train_y, test_x, test_y = _split(test_x, test_y)
    if classes is None:
        top = max((int(a.max()) for a in (train_y, test_y) if len(a)), default=-1)
        classes = [str(i) for i in range(top + 1)]
    return name, train_x, train_y, test_x, test_y, classes


# -- named sources -----------------------------------------------------------------


def _mnist_dir() -> Path:
    from .shared import shared_root  # raises DataError when there is no shared folder

    return shared_root() / "mnist"


def _check(source: str) -> None:
    """Raise DataError saying why the named ``source`` cannot be loaded here."""
    if source == "mnist":
        _layout(_mnist_dir())
    elif source == "fashion-mnist":
        if "train" not in _layout(FASHION_DIR):
            raise DataError(f"{FASHION_DIR}: missing train-images/train-labels IDX files")


def available_sources() -> list[str]:
    """The named sources that can be loaded here, in ``"auto"`` order (always ends with "digits")."""
    found = []
    for source in SOURCES:
        try:
            _check(source)
        except DataError:
            continue
        found.append(source)
    return found


def _load_digits() -> tuple:
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()  # bundled with scikit-learn, no download
    x = d.images / 16.0  # (1797, 8, 8) in [0, 1]
    x = np.clip(zoom(x, (1, 2.5, 2.5), order=1), 0, 1)  # (1797, 20, 20)
    pad = (SIZE - 20) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))  # (1797, 28, 28), centred
    return ("digits", *_split(x.astype(np.float32), d.target.astype(np.int64)), DIGIT_CLASSES)


def _to_unit(x: np.ndarray, source: str) -> np.ndarray:
    """``(n, 28, 28)`` uint8 or float -> float32 in [0, 1]."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise DataError(f"{source}: float images must lie in [0, 1]")
    return x


def load_images(source: str = "auto", limit: int | None = None) -> ImageSet:
    """Load an image set (see the module docstring for the sources and splits).

    Parameters
    ----------
    source : str
        ``"auto"`` (the first of :func:`available_sources`), ``"mnist"``,
        ``"fashion-mnist"``, ``"digits"``, or a directory of IDX files (named sources
        win over a same-named folder; write ``./digits`` for the folder).
    limit : int, optional
        Keep at most this many train and at most this many test images (the first
        ones after the split), for quick runs.

    Returns
    -------
    ImageSet
        Images ``(n, 28, 28)`` float32 in [0, 1], labels ``(n,)`` int64.

    Raises
    ------
    DataError
        Unknown source, a named source not available here, or a bad file.
    ConfigError
        ``limit`` below 1.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    source = str(source)
    if source == "auto":
        source = available_sources()[0]
    if source in SOURCES:
        try:
            _check(source)
        except DataError as exc:
            raise DataError(
                f"image source {source!r} is not available ({exc}); available here: {', '.join(available_sources())}"
            ) from None
        if source == "mnist":
            raw = _load_dir(_mnist_dir(), "mnist", DIGIT_CLASSES)
        elif source == "fashion-mnist":
            raw = _load_dir(FASHION_DIR, "fashion-mnist", FASHION_CLASSES)
        else:
            raw = _load_digits()
    elif Path(source).expanduser().is_dir():
        folder = Path(source).expanduser()
        raw = _load_dir(folder, folder.resolve().name, None)
    else:
        raise DataError(
            f"unknown image source {source!r}: not one of auto, {', '.join(SOURCES)} and not a "
            f"directory; available here: {', '.join(available_sources())}"
        )
    name, train_x, train_y, test_x, test_y, classes = raw
    keep = slice(None, limit)
    return ImageSet(
        name=name,
        train_x=_to_unit(train_x[keep], name),
        train_y=train_y[keep],
        test_x=_to_unit(test_x[keep], name),
        test_y=test_y[keep],
        classes=list(classes),
    )
