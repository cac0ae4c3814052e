"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

Layout (big-endian throughout)::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     ndim
    then        ndim uint32 sizes
    then        prod(sizes) values, C order

Files may be gzip-compressed; :func:`read_idx` detects that by the gzip magic bytes
(``1f 8b``), not by the file name. Every problem with a file raises
:class:`tsae.errors.DataError` with a one-line message naming the file.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from tsae.errors import DataError

__all__ = ["read_idx", "write_idx"]

# type code -> big-endian numpy dtype
_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _TYPES.items()}  # native dtype -> code
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    numpy.ndarray
        A writable array with the file's shape and dtype in native byte order
        (e.g. ``(10000, 28, 28)`` uint8 for MNIST images, ``(10000,)`` uint8 for labels).

    Raises
    ------
    DataError
        The file cannot be read, is corrupt gzip, has a bad magic number or an unsupported
        type code, or holds fewer (truncated) or more (trailing) bytes than its header says.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc.strerror or exc}") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return _parse(raw, path)


def _parse(raw: bytes, path: Path) -> np.ndarray:
    """The array in the IDX bytes ``raw`` (already decompressed) read from ``path``."""
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: bad magic number 0x{raw[:4].hex()}, not an IDX file")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise DataError(
            f"{path}: unsupported IDX type code 0x{code:02X} (supported: {', '.join(f'0x{c:02X}' for c in _TYPES)})"
        )
    if ndim == 0:
        raise DataError(f"{path}: IDX header has 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes, {ndim} dimensions need {start})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - start
    if found < expected:
        raise DataError(f"{path}: truncated data: shape {shape} needs {expected} bytes, found {found}")
    if found > expected:
        raise DataError(f"{path}: {found - expected} trailing bytes after the data of shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=start)
    return data.reshape(shape).astype(dtype.newbyteorder("="))  # copy: writable, native order


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends with ``.gz``.

    Parameters
    ----------
    path : str or Path
        The file to create (overwritten if it exists).
    array : array_like
        At least 1-D, of dtype uint8, int8, int16, int32, float32 or float64
        (no silent conversion: cast first, e.g. ``images.astype(np.uint8)``).

    Raises
    ------
    DataError
        Unsupported dtype, a 0-d array, too many dimensions or a size beyond uint32,
        or the file cannot be written. (DataError is a ValueError.)
    """
    path = Path(path)
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise DataError(
            f"cannot write {path}: dtype {arr.dtype} is not an IDX type (uint8, int8, int16, int32, float32, float64)"
        )
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise DataError(f"cannot write {path}: shape {arr.shape} does not fit an IDX header")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(arr, dtype=_TYPES[code]).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same array, same bytes
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise DataError(f"cannot write IDX file {path}: {exc.strerror or exc}") from exc
