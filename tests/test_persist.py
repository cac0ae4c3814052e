"""Tests for tsae.persist: the model file (safetensors + JSON header + checksum)."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys

import pytest
import safetensors.torch
import torch

from tsae import persist
from tsae.errors import ModelFileError, TsaeError
from tsae.persist import FORMAT_VERSION, compute_checksum, load_model_file, read_header, save_model_file

HEADER = {
    "model": {"kind": "dense", "hidden": [32, 8], "dropout": 0.1},
    "channels": ["temperature", "pression (bar)", "débit"],
    "scaler": {"mean": [1.5, -2.25, 0.0], "std": [1.0, 0.5, 3.0]},
    "window": 64,
    "threshold": 0.0123456789,
    "training": {"epochs": 12, "best_loss": 0.004, "seconds": 3.2},
}


def make_tensors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "encoder.0.weight": torch.randn(8, 5, generator=gen),
        "encoder.0.bias": torch.randn(8, generator=gen, dtype=torch.float64),
        "steps": torch.tensor([3, -7, 2**40], dtype=torch.int64),
        "scalar": torch.tensor(2.5),
        "nothing": torch.zeros(0, 4),
        "mask": torch.tensor([True, False, True]),
    }


def split_file(path) -> tuple[dict, dict, bytes]:
    """(outer safetensors header, tsae header, weight bytes) of a model file, with plain json."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    outer = json.loads(raw[8 : 8 + length])
    return outer, json.loads(outer["__metadata__"]["tsae"]), raw[8 + length :]


def join_file(path, outer: dict, tsae_header: dict, weights: bytes) -> None:
    """Write a file with the given safetensors header (its tsae metadata replaced) and weights."""
    outer = dict(outer, __metadata__={"tsae": json.dumps(tsae_header)})
    text = json.dumps(outer).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + weights)


def assert_same_tensors(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype, name
        assert actual[name].shape == tensor.shape, name
        assert torch.equal(actual[name], tensor), name


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "model.tsae"
    save_model_file(path, HEADER, make_tensors())
    return path


# ------------------------------------------------------------------ round trip


def test_round_trip_header_and_tensors(model_path):
    header, tensors = load_model_file(model_path)
    assert_same_tensors(tensors, make_tensors())
    assert {k: v for k, v in header.items() if k not in ("format", "format_version", "checksum")} == HEADER
    assert header["format"] == "tsae-model"
    assert header["format_version"] == FORMAT_VERSION == 1
    assert header["checksum"].startswith("sha256:") and len(header["checksum"]) == len("sha256:") + 64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_round_trip_each_dtype(tmp_path, dtype):
    tensor = (torch.arange(24) - 11).reshape(2, 3, 4).to(dtype) / (1 if dtype == torch.int64 else 3)
    path = tmp_path / "m.tsae"
    save_model_file(path, {"x": 1}, {"w": tensor})
    _, tensors = load_model_file(path)
    assert_same_tensors(tensors, {"w": tensor})


def test_round_trip_without_tensors(tmp_path):
    path = tmp_path / "m.tsae"
    save_model_file(path, {"threshold": 1.5}, {})
    header, tensors = load_model_file(path)
    assert tensors == {}
    assert header["threshold"] == 1.5
    assert read_header(path) == header


def test_saves_contiguous_cpu_copies(tmp_path):
    base = torch.arange(12.0, requires_grad=True).reshape(3, 4)
    transposed = base.t()  # not contiguous, part of an autograd graph
    shared = {"t": transposed, "row": base[1]}  # views of the same storage
    path = tmp_path / "m.tsae"
    save_model_file(path, {}, shared)
    _, tensors = load_model_file(path)
    assert torch.equal(tensors["t"], transposed.detach())
    assert torch.equal(tensors["row"], base[1].detach())
    assert all(t.is_contiguous() and t.device.type == "cpu" for t in tensors.values())


def test_callers_header_and_tensors_not_mutated(tmp_path):
    header = json.loads(json.dumps(HEADER))
    tensors = make_tensors()
    before = {k: v.clone() for k, v in tensors.items()}
    save_model_file(tmp_path / "m.tsae", header, tensors)
    assert header == HEADER
    assert "checksum" not in header and "format" not in header
    assert_same_tensors(tensors, before)


def test_persist_owns_format_fields(tmp_path):
    path = tmp_path / "m.tsae"
    save_model_file(path, {"format": "other", "format_version": 42, "checksum": "sha256:00", "a": 1}, {})
    header, _ = load_model_file(path)
    assert header["format"] == "tsae-model"
    assert header["format_version"] == FORMAT_VERSION
    assert header["checksum"] != "sha256:00"


def test_header_is_json_normalised(tmp_path):
    path = tmp_path / "m.tsae"
    save_model_file(path, {"window": (1, 2), "by_id": {3: "x"}}, {})
    header, _ = load_model_file(path)
    assert header["window"] == [1, 2]
    assert header["by_id"] == {"3": "x"}


def test_unserialisable_header_is_rejected_before_writing(tmp_path):
    path = tmp_path / "m.tsae"
    with pytest.raises(TypeError, match="JSON"):
        save_model_file(path, {"bad": object()}, {})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- inspectable


def test_header_readable_with_plain_json(model_path):
    raw = model_path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    outer = json.loads(raw[8 : 8 + length].decode("utf-8"))
    inner = json.loads(outer["__metadata__"]["tsae"])
    assert inner["format"] == "tsae-model"
    assert inner["channels"] == HEADER["channels"]
    assert outer["encoder.0.weight"]["shape"] == [8, 5]


def test_read_header_matches_full_load(model_path):
    assert read_header(model_path) == load_model_file(model_path)[0]


def test_read_header_does_not_load_weights(model_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("read_header loaded the tensors")

    monkeypatch.setattr(safetensors.torch, "load", forbidden)
    monkeypatch.setattr(safetensors.torch, "load_file", forbidden)
    assert read_header(model_path)["window"] == 64


def test_read_header_needs_neither_torch_nor_safetensors(model_path):
    # `tsae info` starts fast: reading a header imports neither.
    code = (
        "import sys, tsae.persist as p; h = p.read_header(sys.argv[1]); "
        "print(h['window'], 'torch' in sys.modules, 'safetensors' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(model_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["64", "False", "False"]


def test_read_header_does_not_verify_checksum(model_path):
    # Documented: read_header is the fast path; load_model_file catches this.
    raw = bytearray(model_path.read_bytes())
    raw[-1] ^= 0xFF
    model_path.write_bytes(bytes(raw))
    assert read_header(model_path)["window"] == 64
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model_file(model_path)


# ------------------------------------------------------------------- checksum


@pytest.mark.parametrize("where", [0, 0.5, -1])
def test_flipped_weight_byte_fails_checksum(model_path, where):
    raw = bytearray(model_path.read_bytes())
    (length,) = struct.unpack("<Q", raw[:8])
    start = 8 + length
    position = {0: start, 0.5: (start + len(raw)) // 2, -1: len(raw) - 1}[where]
    raw[position] ^= 0x01
    model_path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum mismatch") as info:
        load_model_file(model_path)
    assert str(info.value) == f"{model_path} is corrupt: checksum mismatch"


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.update(threshold=h["threshold"] * 2),
        lambda h: h["channels"].reverse(),
        lambda h: h.update(extra=True),
        lambda h: h.pop("window"),
    ],
    ids=["threshold", "channels", "added", "removed"],
)
def test_edited_header_fails_checksum(model_path, edit):
    outer, header, weights = split_file(model_path)
    edit(header)  # keeps the old checksum
    join_file(model_path, outer, header, weights)
    assert read_header(model_path)["checksum"] == split_file(model_path)[1]["checksum"]
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model_file(model_path)


def test_renamed_tensor_fails_checksum(model_path):
    outer, header, weights = split_file(model_path)
    outer["decoder.0.bias"] = outer.pop("encoder.0.bias")
    join_file(model_path, outer, header, weights)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model_file(model_path)


def test_checksum_covers_names_dtypes_shapes_and_bytes():
    base = {"a": torch.arange(6, dtype=torch.float32)}
    reference = compute_checksum({"x": 1}, base)
    assert compute_checksum({"x": 1, "checksum": "ignored"}, base) == reference
    assert compute_checksum({"x": 1}, {"b": base["a"]}) != reference
    assert compute_checksum({"x": 1}, {"a": base["a"].to(torch.int32)}) != reference  # same bytes size
    assert compute_checksum({"x": 1}, {"a": base["a"].reshape(2, 3)}) != reference
    assert compute_checksum({"x": 1}, {"a": base["a"] + 1}) != reference
    assert compute_checksum({"x": 2}, base) != reference
    # Tensor boundaries are part of the checksum: moving a value between tensors changes it.
    split1 = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0])}
    split2 = {"a": torch.tensor([1.0]), "b": torch.tensor([2.0, 3.0])}
    assert compute_checksum({}, split1) != compute_checksum({}, split2)


# ----------------------------------------------------------- damaged files


def truncation_points(path) -> dict[str, int]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return {
        "inside-length-prefix": 3,
        "after-length-prefix": 8,
        "inside-header-start": 9,
        "inside-header": 8 + length // 2,
        "end-of-header": 8 + length,
        "inside-weights": 8 + length + 10,
        "last-byte-missing": len(raw) - 1,
    }


CUTS = [
    "inside-length-prefix",
    "after-length-prefix",
    "inside-header-start",
    "inside-header",
    "end-of-header",
    "inside-weights",
    "last-byte-missing",
]


@pytest.mark.parametrize("reader", [read_header, load_model_file], ids=["read_header", "load_model_file"])
@pytest.mark.parametrize("cut", CUTS)
def test_truncated_file(model_path, reader, cut):
    raw = model_path.read_bytes()
    model_path.write_bytes(raw[: truncation_points(model_path)[cut]])
    with pytest.raises(ModelFileError, match="truncated or corrupt") as info:
        reader(model_path)
    assert str(info.value).startswith(f"{model_path} is truncated or corrupt (")


def test_trailing_garbage_is_corrupt(model_path):
    model_path.write_bytes(model_path.read_bytes() + b"junk")
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model_file(model_path)


def test_invalid_header_json_is_corrupt(model_path):
    raw = bytearray(model_path.read_bytes())
    raw[9] = ord("#")  # the header starts with {"__metadata__"...; break the JSON inside it
    model_path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model_file(model_path)


def tensor_only_safetensors() -> bytes:
    return safetensors.torch.save({"w": torch.ones(3)})


NOT_MODELS = {
    "random-bytes": lambda: os.urandom(4096),
    "empty": lambda: b"",
    "csv": lambda: b"time,temperature,pressure\n2024-01-01T00:00:00,21.5,1.01\n" * 20,
    "short-text": lambda: b"hello",
    "json": lambda: b'{"format": "tsae-model"}',
    "plain-safetensors": tensor_only_safetensors,
    "other-metadata": lambda: safetensors.torch.save({"w": torch.ones(3)}, metadata={"framework": "pt"}),
    "other-format": lambda: safetensors.torch.save({}, metadata={"tsae": json.dumps({"format": "x"})}),
    "metadata-not-object": lambda: safetensors.torch.save({}, metadata={"tsae": "[1, 2]"}),
    "pickle": lambda: pickle.dumps({"w": [1.0, 2.0]}),
    "torch-save": lambda: _torch_save_bytes(),
}


def _torch_save_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("reader", [read_header, load_model_file], ids=["read_header", "load_model_file"])
@pytest.mark.parametrize("kind", list(NOT_MODELS))
def test_not_a_model_file(tmp_path, reader, kind):
    path = tmp_path / f"input.{kind}"
    path.write_bytes(NOT_MODELS[kind]())
    with pytest.raises(ModelFileError) as info:
        reader(path)
    assert str(info.value) == f"{path} is not a tsae model file"


def test_huge_announced_header_is_not_allocated(tmp_path):
    # A length prefix of 2**63 must be rejected from the prefix alone.
    path = tmp_path / "big"
    path.write_bytes(struct.pack("<Q", 2**63) + b"{" + b" " * 100)
    with pytest.raises(ModelFileError, match="not a tsae model file"):
        load_model_file(path)


def write_with_version(path, version) -> None:
    save_model_file(path, HEADER, make_tensors())
    outer, header, weights = split_file(path)
    header["format_version"] = version
    header["checksum"] = compute_checksum(header, safetensors.torch.load(path.read_bytes()))
    join_file(path, outer, header, weights)


@pytest.mark.parametrize("reader", [read_header, load_model_file], ids=["read_header", "load_model_file"])
def test_newer_format_version_asks_for_upgrade(tmp_path, reader):
    path = tmp_path / "new.tsae"
    write_with_version(path, 99)
    with pytest.raises(ModelFileError) as info:
        reader(path)
    assert str(info.value) == f"{path} has model format version 99; this tsae reads version 1 (upgrade tsae)"


def test_older_format_version_is_rejected_without_upgrade_hint(tmp_path):
    path = tmp_path / "old.tsae"
    write_with_version(path, 0)
    with pytest.raises(ModelFileError, match="model format version 0; this tsae reads version 1") as info:
        load_model_file(path)
    assert "upgrade" not in str(info.value)


@pytest.mark.parametrize("version", ["1", 1.0, None, True])
def test_malformed_format_version_is_corrupt(tmp_path, version):
    path = tmp_path / "bad.tsae"
    write_with_version(path, version)
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        read_header(path)


@pytest.mark.parametrize("reader", [read_header, load_model_file], ids=["read_header", "load_model_file"])
def test_missing_file(tmp_path, reader):
    path = tmp_path / "nope.tsae"
    with pytest.raises(ModelFileError) as info:
        reader(path)
    assert str(info.value) == f"model file not found: {path}"
    assert isinstance(info.value, TsaeError)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="directory"):
        load_model_file(tmp_path)


def test_accepts_str_paths(tmp_path):
    path = str(tmp_path / "m.tsae")
    save_model_file(path, {"a": 1}, {"w": torch.ones(2)})
    assert read_header(path)["a"] == 1
    assert load_model_file(path)[1]["w"].tolist() == [1.0, 1.0]


# ------------------------------------------------------------- atomic write


def assert_untouched(directory, path, previous: bytes) -> None:
    assert path.read_bytes() == previous
    assert sorted(p.name for p in directory.iterdir()) == [path.name], "temporary file left behind"


def test_failed_replace_keeps_previous_file(model_path, monkeypatch):
    previous = model_path.read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persist.os, "replace", failing_replace)
    with pytest.raises(ModelFileError, match="cannot write model file"):
        save_model_file(model_path, {"new": True}, {"w": torch.zeros(3)})
    assert_untouched(model_path.parent, model_path, previous)


def test_failure_while_writing_keeps_previous_file(model_path, monkeypatch):
    previous = model_path.read_bytes()

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(persist.os, "fsync", failing_fsync)
    with pytest.raises(ModelFileError):
        save_model_file(model_path, {"new": True}, {"w": torch.zeros(3)})
    assert_untouched(model_path.parent, model_path, previous)


def test_interrupt_while_writing_keeps_previous_file(model_path, monkeypatch):
    previous = model_path.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(persist.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model_file(model_path, {"new": True}, {})
    assert_untouched(model_path.parent, model_path, previous)


@pytest.mark.parametrize(
    "tensors",
    [{"w": [1.0, 2.0]}, {1: torch.ones(1)}, {"__metadata__": torch.ones(1)}],
    ids=["not-a-tensor", "non-string-name", "reserved-name"],
)
def test_unsaveable_tensor_keeps_previous_file(model_path, tensors):
    previous = model_path.read_bytes()
    with pytest.raises((TypeError, ValueError)):
        save_model_file(model_path, {"new": True}, tensors)
    assert_untouched(model_path.parent, model_path, previous)


def test_save_into_missing_directory(tmp_path):
    path = tmp_path / "no" / "such" / "model.tsae"
    with pytest.raises(ModelFileError, match=f"cannot write model file {path}"):
        save_model_file(path, {}, {})


def test_overwrite_replaces_content(model_path):
    save_model_file(model_path, {"second": True}, {"w": torch.ones(1)})
    header, tensors = load_model_file(model_path)
    assert header["second"] is True and list(tensors) == ["w"]
    assert sorted(p.name for p in model_path.parent.iterdir()) == [model_path.name]


def test_saved_file_has_normal_permissions(model_path):
    umask = os.umask(0o022)
    os.umask(umask)
    assert model_path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------ no pickle


def test_loading_never_unpickles(model_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("model loading must not unpickle")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    header, tensors = load_model_file(model_path)
    assert read_header(model_path) == header
    assert_same_tensors(tensors, make_tensors())


def test_errors_are_one_line_and_name_the_file(tmp_path):
    path = tmp_path / "m.tsae"
    path.write_bytes(os.urandom(64))
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_non_finite_header_values_round_trip(tmp_path):
    # Python's json writes NaN/Infinity tokens; a diverged training loss must not make saving fail.
    path = tmp_path / "m.tsae"
    save_model_file(path, {"training": {"best_loss": float("nan")}, "threshold": float("inf")}, {})
    header, _ = load_model_file(path)
    assert header["threshold"] == float("inf")
    assert header["training"]["best_loss"] != header["training"]["best_loss"]


def test_a_model_as_bytes_round_trips_and_equals_the_file(tmp_path):
    import warnings

    import numpy as np

    import tsae
    from tsae_datasets.synthetic import make_signal

    frame = make_signal(n=4000, channels=2, seed=0).drop(columns="label")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = tsae.Detector("dense", window=16, epochs=1, max_windows=64, threads=1).fit(frame.iloc[:2000])
    data = det.to_bytes()
    det.save(tmp_path / "m.tsae")
    assert (tmp_path / "m.tsae").read_bytes() == data  # save writes exactly these bytes
    again = tsae.loads(data, threads=1)
    np.testing.assert_array_equal(again.score(frame).to_numpy(), det.score(frame).to_numpy())
    assert again.get_params(deep=False)["epochs"] == 1


@pytest.mark.parametrize(
    "data, message",
    [
        (b"short", "not a tsae model"),
        ("text", "must be bytes"),
        (None, "must be bytes"),
    ],
)
def test_bad_model_bytes_are_one_line_errors(data, message):
    import tsae

    with pytest.raises(tsae.ModelFileError, match=message) as info:
        tsae.loads(data)
    assert str(info.value).startswith("model bytes") and "\n" not in str(info.value)


def test_damaged_model_bytes_fail_the_checksum(tmp_path):
    import warnings

    import tsae
    from tsae_datasets.synthetic import make_signal

    frame = make_signal(n=4000, channels=1, seed=0).drop(columns="label")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = bytearray(tsae.Detector("dense", window=16, epochs=1, max_windows=64, threads=1).fit(frame).to_bytes())
    data[-5] ^= 0xFF
    with pytest.raises(tsae.ModelFileError, match="model bytes is corrupt: checksum mismatch"):
        tsae.loads(bytes(data))


def test_the_fingerprint_survives_bytes_and_changes_with_the_weights():
    import warnings

    import tsae
    from tsae_datasets.synthetic import make_signal

    frame = make_signal(n=4000, channels=1, seed=0).drop(columns="label")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = tsae.Detector("dense", window=16, epochs=1, max_windows=64, threads=1).fit(frame)
        other = tsae.Detector("dense", window=16, epochs=1, max_windows=64, threads=1, seed=1).fit(frame)
    assert tsae.loads(det.to_bytes()).fingerprint() == det.fingerprint() != other.fingerprint()
    assert det.fingerprint() == det.streaming(threads=1).state_dict()["model"]
