"""Properties of the model loader (tsae.load, tsae.persist.load_model_file, read_header):
whatever the bytes of a model file -- random, cut short at any offset, a bit flipped
anywhere, a header or weights rewritten with a valid checksum -- loading gives a
correct, usable Detector or a one-line ModelFileError naming the file; never any
other exception."""

import copy
import json
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tsae
from tsae.errors import ModelFileError, TsaeError
from tsae.persist import compute_checksum, load_model_file, read_header, save_model_file

FORMAT_FIELDS = ("format", "format_version", "checksum")
# Deterministic (derandomized, no example database), no per-example deadline.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MANY = settings(PROPERTY, max_examples=400)
SERIES = np.sin(np.arange(120) / 5)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A real, small model file: (its bytes, its header without the format fields, its weights)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = tsae.Detector(
            "dense", window=8, epochs=1, max_windows=64, threads=1, model_params={"latent": 2, "width": 4, "depth": 1}
        ).fit(np.sin(np.arange(400) / 5))
    path = tmp_path_factory.mktemp("original") / "model.tsae"
    det.save(path)
    header, weights = load_model_file(path)
    return path.read_bytes(), {k: v for k, v in header.items() if k not in FORMAT_FIELDS}, weights


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """The path every example writes its file to."""
    return tmp_path_factory.mktemp("examples") / "model.tsae"


def refused(path, call) -> bool:
    """Run ``call(path)``: True if it raised a one-line ModelFileError naming the file,
    False if it returned; any other exception fails the test."""
    try:
        call(path)
    except ModelFileError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, message
        return True
    return False


def load_or_refuse(path) -> None:
    """The property of tsae.load: a one-line ModelFileError, or a Detector that flags a
    series with its channels (a well-formed but odd header, e.g. a timestamp column
    that is also a channel, may make that a TsaeError)."""
    if refused(path, tsae.load):
        return
    det = tsae.load(path, threads=1)
    try:
        flags = det.predict(pd.DataFrame({name: SERIES for name in det.channels_}))
    except TsaeError as exc:
        assert "\n" not in str(exc)
        return
    assert len(flags) == len(SERIES) and flags.dtype == bool


def every_reader(path) -> None:
    """read_header returns a dict or refuses; load_model_file and tsae.load as above."""
    if not refused(path, read_header):
        assert isinstance(read_header(path), dict)
    refused(path, load_model_file)
    load_or_refuse(path)


# ------------------------------------------------------------------- bytes
@PROPERTY
@given(data=st.binary(max_size=4096))
def test_random_bytes(scratch, data):
    scratch.write_bytes(data)
    assert refused(scratch, read_header) and refused(scratch, load_model_file) and refused(scratch, tsae.load)


@PROPERTY
@given(keep=st.integers(0, 64), tail=st.binary(max_size=512))
def test_a_real_prefix_then_random_bytes(original, scratch, keep, tail):
    raw = original[0]
    (length,) = struct.unpack("<Q", raw[:8])
    scratch.write_bytes(raw[: 8 + length - keep] + tail)  # the header, or most of it, then anything
    every_reader(scratch)


def test_truncation_at_every_offset(original, scratch):
    raw = original[0]
    for cut in range(len(raw)):
        scratch.write_bytes(raw[:cut])
        assert refused(scratch, read_header), cut  # the size must match the tensor offsets
        assert refused(scratch, load_model_file), cut
        assert refused(scratch, tsae.load), cut


@PROPERTY
@given(bit=st.integers(min_value=0))
def test_a_single_bit_flip_anywhere(original, scratch, bit):
    raw = bytearray(original[0])
    bit %= 8 * len(raw)
    raw[bit // 8] ^= 1 << (bit % 8)
    scratch.write_bytes(bytes(raw))
    every_reader(scratch)


def test_a_bit_flip_in_every_byte_is_caught(original, scratch):
    """Exhaustive over positions (one bit per byte, rotating): a flip is refused, unless
    it only respells the same JSON value (``1e-05`` as ``1E-05``)."""
    raw = original[0]
    scratch.write_bytes(raw)
    header = read_header(scratch)
    for position in range(len(raw)):
        flipped = bytearray(raw)
        flipped[position] ^= 1 << (position % 8)
        scratch.write_bytes(bytes(flipped))
        assert refused(scratch, tsae.load) or read_header(scratch) == header, position


# ------------------------------------------ rewritten with a valid checksum
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def paths(value, prefix=()):
    """Every path (tuple of keys / indices) to a value inside ``value``."""
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += paths(child, prefix + (key,))
    return found


def near(value):
    """Values close to ``value`` that a careless check would let through."""
    if value is None:
        return st.sampled_from(["x0", "time", 0, "", [], {}])
    if isinstance(value, bool):
        return st.sampled_from([not value, int(value), str(value).lower(), None])
    if isinstance(value, int):
        return st.sampled_from([value + 1, value - 1, -value, 0, -1, float(value), str(value), 2**63, 10**400])
    if isinstance(value, float):
        return st.sampled_from(
            [0.0, -value, 2 * value, value / 1e30, float("nan"), float("inf"), -1e308, repr(value), int(value)]
        )
    if isinstance(value, str):
        return st.sampled_from(["", value.upper(), value + " ", value[:-1], "none", "99", None])
    if isinstance(value, list):
        return st.sampled_from([value[:-1], value + value[-1:], value[::-1], [], [value], value * 3])
    return st.sampled_from([{}, None, [value], {**value, "x": 1}, dict(list(value.items())[:-1])])


def apply(header, path, operation, value):
    """``header`` with the value at ``path`` replaced (or deleted, or a key added beside it)."""
    header = copy.deepcopy(header)
    parent = header
    for key in path[:-1]:
        parent = parent[key]
    if operation == "delete":
        del parent[path[-1]]
    elif operation == "add" and isinstance(parent, dict):
        parent["extra"] = value
    else:
        parent[path[-1]] = value
    return header


@MANY
@given(st.data())
def test_header_mutations_with_a_valid_checksum(original, scratch, data):
    header, weights = original[1], original[2]
    path = data.draw(st.sampled_from(paths(header)), label="path")
    operation = data.draw(st.sampled_from(["near", "near", "replace", "delete", "add"]), label="operation")
    target = header
    for key in path:
        target = target[key]
    value = data.draw(near(target) if operation == "near" else JSON_VALUES, label="value")
    save_model_file(scratch, apply(header, path, operation, value), weights)
    load_or_refuse(scratch)


@PROPERTY
@given(st.data())
def test_weight_mutations_with_a_valid_checksum(original, scratch, data):
    header, weights = original[1], dict(original[2])
    name = data.draw(st.sampled_from(sorted(weights)), label="name")
    change = data.draw(st.sampled_from(["shape", "dtype", "values", "delete", "add", "rename"]), label="change")
    if change == "shape":
        shape = data.draw(st.lists(st.integers(0, 9), max_size=3), label="shape")
        weights[name] = torch.zeros(shape)
    elif change == "dtype":
        dtype = data.draw(st.sampled_from([torch.float64, torch.float16, torch.int64, torch.bool]), label="dtype")
        weights[name] = weights[name].to(dtype)
    elif change == "values":
        fill = data.draw(st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e30, 0.0]), label="fill")
        weights[name] = weights[name].clone().view(-1).index_fill(0, torch.tensor([0]), fill).view(weights[name].shape)
    elif change == "delete":
        del weights[name]
    elif change == "add":
        weights["extra." + name] = weights[name]
    else:
        weights[name + "_renamed"] = weights.pop(name)
    save_model_file(scratch, header, weights)
    load_or_refuse(scratch)


def test_the_unchanged_file_loads(original, scratch):
    """The properties are not vacuous: the original, rewritten, loads and scores."""
    save_model_file(scratch, original[1], original[2])
    header = read_header(scratch)
    assert header["checksum"] == compute_checksum(header, original[2])
    assert json.loads(json.dumps(original[1]["channels"])) == ["x0"]
    assert not refused(scratch, tsae.load)
    assert len(tsae.load(scratch, threads=1).score(SERIES)) == len(SERIES)
