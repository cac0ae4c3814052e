"""IDX reader/writer and the 28x28 image sources (tsae_datasets.idx, tsae_datasets.images)."""

import gzip
import struct

import numpy as np
import pytest

from tsae.errors import ConfigError, DataError
from tsae_datasets import images as images_mod
from tsae_datasets.idx import read_idx, write_idx
from tsae_datasets.images import (
    DIGIT_CLASSES,
    FASHION_CLASSES,
    FASHION_DIR,
    SOURCES,
    ImageSet,
    available_sources,
    load_images,
)
from tsae_datasets.shared import available as shared_available

RNG = np.random.default_rng(42)


# -- IDX round trip ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize(
    "array",
    [
        RNG.integers(0, 256, size=(5, 28, 28)).astype(np.uint8),
        RNG.integers(-(2**31), 2**31 - 1, size=7).astype(np.int32),
        RNG.standard_normal(6).astype(np.float32),
        RNG.integers(-128, 128, size=(2, 3)).astype(np.int8),
        RNG.integers(-(2**15), 2**15 - 1, size=(4,)).astype(np.int16),
        RNG.standard_normal((2, 2, 2, 2)),
    ],
    ids=["uint8-3d", "int32-1d", "float32-1d", "int8-2d", "int16-1d", "float64-4d"],
)
def test_idx_round_trip(tmp_path, array, suffix):
    path = tmp_path / f"a-idx{suffix}"
    write_idx(path, array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # writable


def test_idx_header_is_big_endian_mnist_layout(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.array([1, 2, 3], dtype=np.int32))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x0c\x01"
    assert struct.unpack(">I", raw[4:8]) == (3,)
    assert raw[8:] == struct.pack(">3i", 1, 2, 3)


def test_gzip_detected_by_magic_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    plain = tmp_path / "x.gz"  # plain data, .gz name
    write_idx(tmp_path / "x", array)
    plain.write_bytes((tmp_path / "x").read_bytes())
    np.testing.assert_array_equal(read_idx(plain), array)
    packed = tmp_path / "y-ubyte"  # gzip data, no .gz name
    packed.write_bytes(gzip.compress((tmp_path / "x").read_bytes()))
    np.testing.assert_array_equal(read_idx(packed), array)


def test_write_rejects_unsupported_dtype(tmp_path):
    for bad in (np.arange(3, dtype=np.int64), np.array([True]), np.uint16([1])):
        with pytest.raises(DataError, match="not an IDX type"):
            write_idx(tmp_path / "bad", bad)
    with pytest.raises(ValueError, match="does not fit"):
        write_idx(tmp_path / "bad", np.uint8(3))


# -- corrupt files -----------------------------------------------------------------


def _good_bytes():
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 28, 28)
    return header + bytes(2 * 28 * 28)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x12\x34" + _good_bytes()[2:], "bad magic"),
        (_good_bytes()[:-5], "truncated data"),
        (_good_bytes()[:10], "truncated header"),
        (b"\x00\x00", "too short"),
        (_good_bytes() + b"\x00\x00\x00", "3 trailing bytes"),
        (b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\x00", "unsupported IDX type code 0x0A"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
    ],
    ids=["magic", "truncated", "short-header", "tiny", "trailing", "type-code", "ndim0"],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_corrupt_idx_names_file(tmp_path, data, message, compress):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_corrupt_gzip_and_missing_file(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(_good_bytes())[:-12])
    with pytest.raises(DataError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "absent")


# -- digits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_images("digits")


def test_digits_shapes_range_split(digits):
    assert isinstance(digits, ImageSet)
    assert digits.name == "digits" and digits.classes == DIGIT_CLASSES
    assert digits.train_x.shape == (1438, 28, 28) and digits.test_x.shape == (359, 28, 28)
    assert digits.train_y.shape == (1438,) and digits.test_y.shape == (359,)
    for x in (digits.train_x, digits.test_x):
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
        assert x.max() == 1.0
        # 20x20 box centred: the 4-pixel border is empty, the centre is not
        assert not x[:, :4].any() and not x[:, -4:].any() and not x[:, :, :4].any() and not x[:, :, -4:].any()
    assert digits.train_y.dtype == np.int64
    assert set(digits.train_y) == set(range(10)) and set(digits.test_y) == set(range(10))
    assert digits.describe() == "digits: 1438 train / 359 test, 28x28, 10 classes"


def test_digits_deterministic_and_limit(digits):
    again = load_images("digits")
    np.testing.assert_array_equal(again.train_x, digits.train_x)
    np.testing.assert_array_equal(again.test_y, digits.test_y)
    small = load_images("digits", limit=50)
    assert len(small.train_x) == len(small.train_y) == 50 == len(small.test_x)
    np.testing.assert_array_equal(small.train_x, digits.train_x[:50])
    np.testing.assert_array_equal(small.test_y, digits.test_y[:50])
    # train and test are disjoint images
    train = {x.tobytes() for x in digits.train_x}
    assert sum(x.tobytes() in train for x in digits.test_x) < 5  # load_digits has a few duplicates


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_bad_limit(limit):
    with pytest.raises(ConfigError, match="limit"):
        load_images("digits", limit=limit)


# -- directories of IDX files ------------------------------------------------------


def _write_set(folder, split, n, gz=True, label_offset=0):
    x = RNG.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    y = ((np.arange(n) + label_offset) % 3).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(folder / f"{split}-images-idx3-ubyte{ext}", x)
    write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", y)
    return x, y


def test_directory_train_and_t10k(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    tx, ty = _write_set(folder, "train", 12, gz=True)
    sx, sy = _write_set(folder, "t10k", 5, gz=False, label_offset=1)
    s = load_images(str(folder))
    assert s.name == "tiny" and s.classes == ["0", "1", "2"]
    np.testing.assert_array_equal(s.train_x, tx.astype(np.float32) / 255)
    np.testing.assert_array_equal(s.test_y, sy)
    assert s.train_y.dtype == np.int64 and s.test_x.dtype == np.float32
    assert s.describe() == "tiny: 12 train / 5 test, 28x28, 3 classes"
    assert len(load_images(folder, limit=3).train_x) == 3


def test_directory_t10k_only_is_split_80_20(tmp_path):
    folder = tmp_path / "only-test"
    folder.mkdir()
    x, y = _write_set(folder, "t10k", 50)
    s = load_images(str(folder))
    assert (len(s.train_x), len(s.test_x)) == (40, 10)
    # a permutation of the file's images, the same each time
    got = np.concatenate([s.train_x, s.test_x])
    assert sorted(im.tobytes() for im in got) == sorted(im.tobytes() for im in x.astype(np.float32) / 255)
    assert not np.array_equal(got, x.astype(np.float32) / 255)
    np.testing.assert_array_equal(load_images(str(folder)).test_x, s.test_x)
    labels = {im.tobytes(): lab for im, lab in zip(x, y)}  # labels follow their images
    assert all(labels[(im * 255).round().astype(np.uint8).tobytes()] == lab for im, lab in zip(s.train_x, s.train_y))


def test_directory_errors(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(DataError, match="missing IDX file.*t10k-images"):
        load_images(str(folder))
    _write_set(folder, "t10k", 4)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="missing IDX file.*train-labels"):
        load_images(str(folder))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="count mismatch") as info:
        load_images(str(folder))
    assert "train-labels-idx1-ubyte.gz" in str(info.value)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: images of shape \(3, 8, 8\)"):
        load_images(str(folder))
    write_idx(folder / "train-images-idx3-ubyte.gz", np.full((3, 28, 28), 2.0, np.float32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load_images(str(folder))


# -- named sources -----------------------------------------------------------------


def test_unknown_source():
    with pytest.raises(DataError, match="unknown image source 'cifar'.*mnist, fashion-mnist, digits"):
        load_images("cifar")


def test_available_and_auto(monkeypatch, tmp_path):
    found = available_sources()
    assert found[-1] == "digits" and set(found) <= set(SOURCES)
    assert [s for s in SOURCES if s in found] == found  # in "auto" order
    # with neither MNIST nor Fashion-MNIST, "auto" falls back to digits and asking
    # for a missing one explicitly says what is available
    monkeypatch.setenv("TSAE_SHARED_DATASETS", str(tmp_path))
    monkeypatch.setattr(images_mod, "FASHION_DIR", tmp_path / "no-fashion")
    assert available_sources() == ["digits"]
    assert load_images("auto", limit=3).name == "digits"
    with pytest.raises(DataError, match="'fashion-mnist' is not available.*available here: digits"):
        load_images("fashion-mnist")
    with pytest.raises(DataError, match="'mnist' is not available.*mnist: no such directory"):
        load_images("mnist")
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="'mnist' is not available.*missing IDX file.*t10k-images"):
        load_images("mnist")
    monkeypatch.setenv("TSAE_SHARED_DATASETS", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="'mnist' is not available.*TSAE_SHARED_DATASETS"):
        load_images("mnist")


@pytest.mark.skipif(not shared_available(), reason="shared/datasets not found (set TSAE_SHARED_DATASETS)")
def test_mnist_shared_split():
    s = load_images("mnist")
    assert s.name == "mnist" and s.classes == DIGIT_CLASSES
    assert s.describe() == "mnist: 8000 train / 2000 test, 28x28, 10 classes"
    assert s.train_x.dtype == np.float32 and 0 <= s.train_x.min() and s.train_x.max() == 1
    assert set(s.test_y) == set(range(10))
    again = load_images("mnist", limit=100)
    np.testing.assert_array_equal(again.train_x, s.train_x[:100])
    np.testing.assert_array_equal(again.test_y, s.test_y[:100])
    assert load_images("auto", limit=1).name == "mnist"


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"{FASHION_DIR} absent (Debian package dataset-fashion-mnist)")
def test_fashion_mnist():
    s = load_images("fashion-mnist", limit=200)
    assert s.name == "fashion-mnist" and s.classes == FASHION_CLASSES
    assert s.train_x.shape == (200, 28, 28) and s.test_y.shape == (200,)
    assert s.train_x.dtype == np.float32 and s.train_x.max() <= 1 and s.train_x.max() > 0.9
    assert set(s.train_y) <= set(range(10)) and len(set(s.train_y)) == 10
    # its own split is used as is: the first training labels of Fashion-MNIST
    assert list(s.train_y[:5]) == [9, 0, 0, 3, 0]
