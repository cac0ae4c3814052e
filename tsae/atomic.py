"""Writing files so that nothing half-written ever carries a final name.

Every file tsae writes (model files, score tables, JSON, PNG) goes through
:func:`atomic_file`: the bytes go to a temporary file in the target's directory,
named ``.NAME.tsae-tmp-PID-XXXXXXXX``, which is flushed, synced and renamed over the
target only when the whole content was written. On an exception — including the
``KeyboardInterrupt`` of Ctrl-C and the :class:`Terminated` that the command line
raises on SIGTERM/SIGHUP — the temporary file is removed and the target is untouched.

A process killed with SIGKILL cannot clean up: its temporary file stays. The name
says which process wrote it, so the next write to the same target removes the
temporary files of processes that no longer run (:func:`remove_stale_temps`).

Two processes that rewrite one file (``tsae calibrate`` while a ``tsae fit`` writes
the same model) are kept from losing each other's work by a compare-and-replace:
the writer passes the :func:`file_identity` it saw when it read the file, and the
replace happens under an exclusive lock on the directory only if the file is still
that one (:class:`ChangedError` otherwise).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from typing import IO, NamedTuple

from .errors import TsaeError

__all__ = [
    "Terminated",
    "ChangedError",
    "FileIdentity",
    "ANY",
    "atomic_file",
    "file_identity",
    "remove_stale_temps",
    "check_output_path",
    "refuse_overwriting_inputs",
]

_TEMP = re.compile(r"\.(?P<name>.+)\.tsae-tmp-(?P<pid>\d+)-[0-9a-f]{8}\Z")


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP, so that
    ``finally`` blocks (temporary files) run as they do for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class ChangedError(TsaeError):
    """The target file changed since it was read: another process wrote it."""


class FileIdentity(NamedTuple):
    """What tells two versions of a file apart (an atomic replace gives a new inode)."""

    device: int
    inode: int
    size: int
    mtime_ns: int


#: ``expect`` value of :func:`atomic_file` that replaces whatever is there (last writer wins).
ANY = object()


def file_identity(path: str | os.PathLike) -> FileIdentity | None:
    """The identity of the file at ``path`` now, or None if there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _temp_path(path: str) -> str:
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.tsae-tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files left next to ``path`` by writers that no longer run
    (killed with SIGKILL, or a machine that lost power). Returns the removed paths."""
    directory, name = os.path.split(os.path.abspath(path))
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        found = _TEMP.match(entry)
        if found and found["name"] == name and not _alive(int(found["pid"])):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, entry))
                removed.append(os.path.join(directory, entry))
    return removed


def _new_file_mode(target: str) -> int:
    """The target's permissions if it exists, else a new file's under the umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def _directory_lock(directory: str) -> Iterator[None]:
    """Exclusive advisory lock on ``directory`` among tsae writers (no-op where flock is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", expect=ANY, what: str = "file") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block ends without error.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    mode : str, default "wb"
        ``"wb"`` or ``"w"`` (text, UTF-8).
    expect : FileIdentity, None or ANY
        Replace only if the target is still this file (None: only if it does not
        exist yet); :data:`ANY` replaces whatever is there.
    what : str
        What the file is, for messages ("model file", "output"...).

    Raises
    ------
    ChangedError
        If ``expect`` is given and the target changed; the new content is discarded.
    TsaeError
        One line naming the file when the OS refuses (missing directory, read-only,
        disk full); no temporary file is left and the target is untouched.
    """
    target = os.fspath(path)
    remove_stale_temps(target)
    tmp = _temp_path(target)
    try:
        handle = open(tmp, "xb" if mode == "wb" else "x", **({} if mode == "wb" else {"encoding": "utf-8"}))
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _new_file_mode(target))
        directory = os.path.dirname(os.path.abspath(target))
        with _directory_lock(directory):
            if expect is not ANY and file_identity(target) != expect:
                raise ChangedError(
                    f"{target} changed since it was read (another process wrote it); "
                    f"this {what} was not written: run the command again"
                )
            os.replace(tmp, target)
        _fsync_directory(directory)
    except OSError as exc:
        raise TsaeError(f"cannot write {what} {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def _fsync_directory(directory: str) -> None:
    """Persist the rename (best effort: not every platform can sync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output_path(path: str | os.PathLike, what: str = "output", probe: bool = True) -> None:
    """Fail early, with one line, if ``path`` cannot be written: a missing directory,
    a directory in its place, or (``probe``: a file is created and removed) a directory
    that refuses new files (read-only, no permission). Run before any long work, so a
    fit does not train for nothing."""
    target = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise TsaeError(f"cannot write {what} {path}: it is a directory")
    if not os.path.isdir(directory):
        raise TsaeError(f"cannot write {what} {path}: directory {directory} does not exist")
    if not probe:
        return
    probe_file = _temp_path(target)
    try:
        open(probe_file, "xb").close()
    except OSError as exc:
        raise TsaeError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    finally:  # also when a signal arrives right here
        with contextlib.suppress(OSError):
            os.remove(probe_file)


def refuse_overwriting_inputs(
    output: str | os.PathLike | None, *inputs: str | os.PathLike | None, what: str = "output"
) -> None:
    """TsaeError if ``output`` is the same file as one of ``inputs`` (same path, a
    link to it, or the same inode): writing it would destroy the input."""
    if output is None or str(output) == "-":
        return
    out = os.path.realpath(output)
    for item in inputs:
        if item is None or str(item) == "-":
            continue
        same = os.path.realpath(item) == out
        if not same and os.path.exists(out) and os.path.exists(item):
            with contextlib.suppress(OSError):
                same = os.path.samefile(item, out)
        if same:
            raise TsaeError(f"{what} {output} is the same file as the input {item}: choose another -o")


def write_json(path: str | os.PathLike, payload, what: str = "JSON file") -> None:
    """Write ``payload`` as indented JSON, atomically."""
    import json

    with atomic_file(path, "w", what=what) as fh:
        json.dump(payload, fh, indent=2)
        fh.write("\n")


def figure_format(path: str | os.PathLike) -> str:
    """The image format named by ``path``'s suffix (png, pdf, svg...), or TsaeError
    listing the ones matplotlib writes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if suffix not in supported:
        shown = f"'.{suffix}'" if suffix else "(no suffix)"
        raise TsaeError(
            f"cannot write plot {path}: unsupported image type {shown}; "
            f"use one of {', '.join('.' + s for s in sorted(supported))}"
        )
    return suffix


def save_figure(fig, path: str | os.PathLike, **savefig_kw) -> None:
    """Save a matplotlib figure atomically, in the format its suffix names."""
    fmt = figure_format(path)
    with atomic_file(path, "wb", what="plot") as fh:
        fig.savefig(fh, format=fmt, **savefig_kw)
