"""What every command shares: the error console, user-error handling, common options."""

from __future__ import annotations

import contextlib
from typing import Annotated, Optional

import typer
from rich.console import Console

from tsae.errors import TsaeError

err = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def user_errors():
    """TsaeError -> one red line on stderr and exit status 1."""
    try:
        yield
    except TsaeError as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


ThreadsOpt = Annotated[Optional[int], typer.Option(help="torch CPU threads (default: TSAE_THREADS or half the cores).")]
DeviceOpt = Annotated[str, typer.Option(help="auto (CUDA when available), cpu or cuda.")]
