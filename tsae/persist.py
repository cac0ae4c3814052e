"""The tsae model file: one portable file with a readable JSON header and the weights.

A model file (conventionally ``model.tsae``) is a `safetensors
<https://github.com/huggingface/safetensors>`_ file:

* 8 bytes: little-endian unsigned length ``N`` of the JSON header;
* ``N`` bytes: the safetensors JSON header (tensor names, dtypes, shapes and
  offsets), whose ``__metadata__["tsae"]`` entry is the tsae header, itself JSON
  text;
* the raw tensor bytes.

Loading never executes code from the file (no pickle): the header is parsed with
:mod:`json` and the tensors are read with :func:`safetensors.torch.load`.

The tsae header is the caller's free-form JSON dict plus three fields added by
:func:`save_model_file`:

``format``
    Always ``"tsae-model"``.
``format_version``
    :data:`FORMAT_VERSION`.
``checksum``
    ``"sha256:<hex>"``: SHA-256 over a canonical serialisation of the header
    (without ``checksum``) and of every tensor, see :func:`compute_checksum`.
    Changing any header value or any weight byte makes verification fail.

:func:`read_header` needs neither torch nor safetensors (``tsae info`` starts fast):
they are imported by the functions that handle tensors.

The file can be inspected without tsae::

    import json, struct
    raw = open("model.tsae", "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(json.loads(raw[8:8 + n])["__metadata__"]["tsae"])
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tsae.atomic import ANY, ChangedError, atomic_file
from tsae.errors import ModelFileError, TsaeError

if TYPE_CHECKING:
    import torch

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "compute_checksum",
    "load_model_file",
    "read_header",
    "save_model_file",
]

#: Value of the ``format`` header field.
FORMAT = "tsae-model"
#: Version of the model file layout written (and the only one read) by this tsae.
FORMAT_VERSION = 1

_METADATA_KEY = "tsae"
_LENGTH_BYTES = 8
# Same limit as the safetensors library: a longer header is not a model file, and
# random bytes never make us allocate more than this.
_MAX_HEADER_BYTES = 100_000_000
_CHECKSUM_PREFIX = "sha256:"
_RESERVED_TENSOR_NAMES = frozenset({"__metadata__"})


# --------------------------------------------------------------------------- save


def save_model_file(
    path: str | os.PathLike, header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], expect=ANY
) -> None:
    """Write a model file atomically (:func:`tsae.atomic.atomic_file`).

    The file is written to a temporary file in the same directory, flushed to
    disk, then moved over ``path`` with :func:`os.replace`. If anything fails, no
    partial file is left behind and an existing file at ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, conventionally ``model.tsae``.
    header : mapping
        Free-form JSON-serialisable dict (model config, channel names, scaler,
        window, threshold, training summary...). It is not modified. The fields
        ``format``, ``format_version`` and ``checksum`` are added (and replace
        any caller value with those names).
    tensors : mapping of str to torch.Tensor
        The weights. Contiguous CPU copies are saved; the caller's tensors and
        mapping are not modified. May be empty.
    expect : FileIdentity, None or tsae.atomic.ANY
        Replace ``path`` only if it is still this file (None: only if there is
        none); the default replaces whatever is there.

    Raises
    ------
    TypeError
        If ``header`` is not JSON-serialisable or ``tensors`` holds a non-tensor
        or a non-string name.
    ValueError
        If a tensor name is reserved by safetensors (``__metadata__``).
    ModelFileError
        If the file cannot be written (for example, the directory is missing).
    tsae.atomic.ChangedError
        If ``expect`` is given and ``path`` changed meanwhile.
    """
    _write_atomically(os.fspath(path), model_bytes(header, tensors), expect)


def model_bytes(header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> bytes:
    """The bytes of a model file (what :func:`save_model_file` writes): header completed
    with format, version and checksum, then the weights. Same arguments and errors."""
    import safetensors.torch

    cpu_tensors = _cpu_copies(tensors)
    full_header = _complete_header(header, cpu_tensors)
    metadata = {_METADATA_KEY: json.dumps(full_header, ensure_ascii=False)}
    return safetensors.torch.save(cpu_tensors, metadata=metadata)


def _cpu_copies(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Validate ``tensors`` and return contiguous, detached CPU copies."""
    import torch

    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a dict of name -> torch.Tensor, not {type(tensors).__name__}")
    copies = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be strings, not {type(name).__name__} ({name!r})")
        if name in _RESERVED_TENSOR_NAMES:
            raise ValueError(f"tensor name {name!r} is reserved by the model file format")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensor {name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        copies[name] = tensor.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    return copies


def _complete_header(header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Return a JSON-normalised copy of ``header`` with format, version and checksum."""
    if not isinstance(header, Mapping):
        raise TypeError(f"header must be a dict, not {type(header).__name__}")
    try:
        # Round trip through JSON so the checksum covers exactly what a reader sees
        # (tuples become lists, int keys become strings) and the caller's dict is
        # never shared with the result.
        normalised = json.loads(json.dumps(dict(header)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"model header is not JSON-serialisable: {exc}") from exc
    for field in ("format", "format_version", "checksum"):
        normalised.pop(field, None)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **normalised}
    full["checksum"] = compute_checksum(full, tensors)
    return full


def _write_atomically(path: str, data: bytes, expect=ANY) -> None:
    """Write ``data`` to ``path`` through :func:`tsae.atomic.atomic_file`."""
    try:
        with atomic_file(path, "wb", expect=expect, what="model file") as handle:
            handle.write(data)
    except ChangedError:
        raise
    except TsaeError as exc:
        raise ModelFileError(str(exc)) from None


# ------------------------------------------------------------------------ checksum


def compute_checksum(header: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> str:
    """Checksum of a header and its tensors, as stored in the ``checksum`` field.

    SHA-256 over a sequence of length-prefixed fields (8-byte little-endian
    length, then the bytes): first the header without ``checksum`` as JSON with
    sorted keys, compact separators and ASCII escapes; then, for each tensor in
    name-sorted order, its name (UTF-8), dtype (e.g. ``float32``), shape (JSON
    list) and raw bytes (C order, native byte order, i.e. little-endian as stored
    by safetensors on every supported platform).

    Parameters
    ----------
    header : mapping
        The header; a ``checksum`` entry is ignored.
    tensors : mapping of str to torch.Tensor
        The tensors (any device or layout; they are read, not modified).

    Returns
    -------
    str
        ``"sha256:<64 hex digits>"``.
    """
    digest = hashlib.sha256()
    body = {key: value for key, value in header.items() if key != "checksum"}
    _hash_field(digest, _canonical_json(body).encode("ascii"))
    for name in sorted(tensors):
        tensor = tensors[name]
        _hash_field(digest, name.encode("utf-8"))
        _hash_field(digest, str(tensor.dtype).removeprefix("torch.").encode("ascii"))
        _hash_field(digest, _canonical_json(list(tensor.shape)).encode("ascii"))
        _hash_field(digest, _raw_bytes(tensor))
    return _CHECKSUM_PREFIX + digest.hexdigest()


def _canonical_json(value: Any) -> str:
    """The one JSON spelling of ``value`` used for checksums."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _hash_field(digest: Any, data: bytes | memoryview) -> None:
    """Feed one length-prefixed field to ``digest`` (so field boundaries are unambiguous)."""
    view = memoryview(data)
    digest.update(struct.pack("<Q", view.nbytes))
    digest.update(view)


def _raw_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's elements as bytes in C order (no copy if already contiguous on CPU)."""
    import torch

    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy()).cast("B")


# --------------------------------------------------------------------------- read


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """Read the tsae header of a model file without loading the weights.

    Only the length prefix and the JSON header are read, so this is fast even for
    large models (used by ``tsae info``). The ``format`` and ``format_version``
    fields are validated and the file size is checked against the tensor offsets,
    but the checksum is **not** verified: use :func:`load_model_file` for that.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    dict
        The header, including ``format``, ``format_version`` and ``checksum``.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, not a tsae model file, truncated or
        corrupt, or has an unsupported format version.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(_LENGTH_BYTES)
            length = _header_length(path, prefix, size)
            header_bytes = handle.read(min(length, size - _LENGTH_BYTES))
    except OSError as exc:
        raise _open_error(path, exc) from exc
    header = _parse_header(path, header_bytes, length, size)
    return header


def load_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Load a model file and verify its checksum.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    header : dict
        The header, including ``format``, ``format_version`` and ``checksum``.
    tensors : dict of str to torch.Tensor
        The weights, on the CPU.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, not a tsae model file, truncated or
        corrupt (including a checksum mismatch), or has an unsupported format
        version.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            _header_length(path, handle.read(_LENGTH_BYTES), size)  # not a model file: say so before reading it all
            handle.seek(0)
            data = handle.read()
    except OSError as exc:
        raise _open_error(path, exc) from exc
    return load_model_bytes(data, path)


def load_model_bytes(data: bytes, name: str = "model bytes") -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """:func:`load_model_file` on the bytes of a model (``name`` for messages): the
    header and the weights, checksum verified; ModelFileError (one line) otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ModelFileError(f"{name} must be bytes, not {type(data).__name__}")
    data = bytes(data)
    length = _header_length(name, data[:_LENGTH_BYTES], len(data))
    header = _parse_header(name, data[_LENGTH_BYTES : _LENGTH_BYTES + length], length, len(data))
    tensors = _load_tensors(name, data)
    if header.get("checksum") != compute_checksum(header, tensors):
        raise ModelFileError(f"{name} is corrupt: checksum mismatch")
    return header, tensors


def _open_error(path: str, exc: OSError) -> ModelFileError:
    """Translate an OS error while reading into a one-line ModelFileError."""
    if isinstance(exc, FileNotFoundError):
        return ModelFileError(f"model file not found: {path}")
    if isinstance(exc, IsADirectoryError):
        return ModelFileError(f"{path} is a directory, not a tsae model file")
    return ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}")


def _not_a_model(path: str) -> ModelFileError:
    """The error for a file that is not a tsae model file at all."""
    return ModelFileError(f"{path} is not a tsae model file")


def _truncated(path: str, detail: str) -> ModelFileError:
    """The error for a model file that is cut short or damaged (``detail`` says how)."""
    return ModelFileError(f"{path} is truncated or corrupt ({detail})")


def _header_length(path: str, prefix: bytes, size: int) -> int:
    """Validate the 8-byte length prefix and return the JSON header length.

    Parameters
    ----------
    path : str
        File name, for messages.
    prefix : bytes
        The first (up to) 8 bytes of the file.
    size : int
        The file size in bytes.

    Returns
    -------
    int
        Length of the JSON header announced by the prefix: at least 1 and at most
        the safetensors limit (it may still exceed the file, see
        :func:`_parse_header`).

    Raises
    ------
    ModelFileError
        Not a model file (empty, or an implausible length) or truncated inside
        the prefix.
    """
    if size == 0 or not prefix:
        raise _not_a_model(path)
    if len(prefix) < _LENGTH_BYTES:
        # A cut inside the prefix of a real file leaves the low bytes of a small
        # length followed by zeros; anything else (a short text file) is not ours.
        if int.from_bytes(prefix, "little") <= _MAX_HEADER_BYTES:
            raise _truncated(path, f"file is only {size} bytes")
        raise _not_a_model(path)
    (length,) = struct.unpack("<Q", prefix)
    if length == 0 or length > _MAX_HEADER_BYTES:
        raise _not_a_model(path)
    return length


def _parse_header(path: str, header_bytes: bytes, length: int, size: int) -> dict[str, Any]:
    """Parse and validate the safetensors JSON header and the tsae header inside it.

    Parameters
    ----------
    path : str
        File name, for messages.
    header_bytes : bytes
        The JSON header bytes read from the file (fewer than ``length`` if the
        file is cut inside the header).
    length : int
        Header length announced by the prefix.
    size : int
        File size in bytes.

    Returns
    -------
    dict
        The tsae header.

    Raises
    ------
    ModelFileError
        Not a model file, truncated or corrupt (including a file size that does
        not match the tensor offsets), or an unsupported format version.
    """
    if not header_bytes:
        raise _truncated(path, f"file is only {size} bytes")
    if not header_bytes.lstrip().startswith(b"{"):
        raise _not_a_model(path)
    if len(header_bytes) < length:
        raise _truncated(path, f"header of {length} bytes, file is {size} bytes")
    try:
        outer = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _truncated(path, "header is not valid JSON") from None
    if not isinstance(outer, dict):
        raise _not_a_model(path)
    header = _tsae_header(path, outer)
    data_size = _data_size(path, outer)
    expected = _LENGTH_BYTES + length + data_size
    if size < expected:
        raise _truncated(path, f"expected {expected} bytes, file is {size} bytes")
    if size > expected:
        raise _truncated(path, f"{size - expected} unexpected bytes after the weights")
    return header


def _tsae_header(path: str, outer: dict[str, Any]) -> dict[str, Any]:
    """Extract and validate the tsae header from the safetensors header."""
    metadata = outer.get("__metadata__")
    if not isinstance(metadata, dict) or not isinstance(metadata.get(_METADATA_KEY), str):
        raise _not_a_model(path)
    try:
        header = json.loads(metadata[_METADATA_KEY])
    except (ValueError, RecursionError):
        raise _truncated(path, "tsae header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _not_a_model(path)
    _check_version(path, header.get("format_version"))
    return header


def _check_version(path: str, version: Any) -> None:
    """Raise unless ``version`` is the format version this tsae reads."""
    if version == FORMAT_VERSION and type(version) is int:
        return
    if type(version) is not int:
        raise _truncated(path, f"invalid format_version {version!r}")
    hint = " (upgrade tsae)" if version > FORMAT_VERSION else ""
    raise ModelFileError(f"{path} has model format version {version}; this tsae reads version {FORMAT_VERSION}{hint}")


def _data_size(path: str, outer: dict[str, Any]) -> int:
    """Size of the tensor data region: the largest end offset of any tensor."""
    end = 0
    for name, entry in outer.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(x) is int and x >= 0 for x in offsets):
            raise _truncated(path, f"bad entry for tensor {name!r}")
        end = max(end, offsets[1])
    return end


def _load_tensors(path: str, data: bytes) -> dict[str, torch.Tensor]:
    """Decode the tensors with safetensors (no pickle), as a ModelFileError on failure."""
    import safetensors.torch

    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # noqa: BLE001 - any failure to decode untrusted bytes
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _truncated(path, detail) from None
