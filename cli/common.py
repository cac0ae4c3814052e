"""What every command shares: the error console, user-error handling, common options.

This module and the command modules import no torch, scipy or matplotlib at import
time: ``tsae --help`` and argument errors answer at once; each command imports what
it needs when it runs.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from tsae.errors import TsaeError, TsaeWarning

err = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    """One yellow ``warning:`` line on stderr."""
    err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", soft_wrap=True)


def fail(message: str) -> None:
    """One red ``error:`` line on stderr."""
    err.print(f"[red]error:[/red] {escape(str(message))}", soft_wrap=True)


@contextlib.contextmanager
def user_errors():
    """TsaeError -> one red line on stderr and exit status 1; a TsaeWarning -> one
    yellow line (each distinct warning once)."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, TsaeWarning):
            warn(message)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("default", TsaeWarning)
        warnings.showwarning = show
        try:
            yield
        except TsaeError as exc:
            fail(exc)
            raise typer.Exit(1) from None


def split_columns(columns: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]`` (names stripped; None stays None)."""
    if columns is None:
        return None
    names = [c.strip() for c in columns.split(",")]
    if not all(names):
        raise TsaeError(f"--columns has an empty name: {columns!r} (use a,b,c)")
    return names


_SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


def parse_sep(sep: str | None) -> str | None:
    """The --sep value as one character: ``;``, ``,``, ``|``, or ``tab`` / ``\\t`` for a tab."""
    if sep is None:
        return None
    sep = _SEPARATORS.get(sep.lower(), sep)
    if len(sep) != 1 or sep in '"\r\n':
        raise TsaeError(f"--sep must be one character (or tab), got {sep!r}")
    return sep


ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(min=1, help="torch CPU threads (default: TSAE_THREADS, OMP_NUM_THREADS or half the cores)."),
]
DeviceOpt = Annotated[str, typer.Option(help="auto (CUDA when available), cpu or cuda.")]
SepOpt = Annotated[
    Optional[str],
    typer.Option("--sep", help="CSV field separator, e.g. ';' or '\\t' (default: detected among , ; tab |)."),
]
ColumnsOpt = Annotated[
    Optional[str], typer.Option(help="Value columns, comma-separated (default: the model's channels, found by name).")
]
LearningOpt = Annotated[
    str, typer.Option(help="Continual learning while scoring and streaming: off, on, or every=N,steps=S,buffer=R,lr=X.")
]
LabelOpt = Annotated[
    Optional[str],
    typer.Option(help="Name of the 0/1 label column (default: the first of label, labels, anomaly, is_anomaly, ...)."),
]
