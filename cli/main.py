"""The `tsae` command line: thin commands over the library.

Errors a user can cause (TsaeError) print one red line on stderr and exit 1; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import inspect
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from tsae import Detector, list_models, load

from .common import DeviceOpt, ThreadsOpt, err, user_errors
from .mnist import mnist_app

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find anomalies in time series with denoising autoencoders.")
app.add_typer(mnist_app, name="mnist")

# `tsae fit`'s defaults are the Detector's: one place to change them.
DEFAULTS = {name: p.default for name, p in inspect.signature(Detector).parameters.items()}

ModelName = Enum("ModelName", {name: name for name in list_models()}, type=str)


class ScoreMode(str, Enum):
    window = "window"
    overlap = "overlap"
    causal = "causal"


class Scaling(str, Enum):
    standard = "standard"
    robust = "robust"
    minmax = "minmax"
    none = "none"


ModelOpt = Annotated[Path, typer.Option("--model", "-m", help="Model file.")]


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="Normal data: CSV or Parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write.")] = Path("model.tsae"),
    model: Annotated[ModelName, typer.Option("--arch", help="Autoencoder architecture.")] = "conv1d",
    window: Annotated[str, typer.Option(help="Window length, or 'auto' (dominant period).")] = "auto",
    noise: Annotated[str, typer.Option(help="Input corruption: gaussian:STD, mask:P or none.")] = DEFAULTS["noise"],
    threshold: Annotated[str, typer.Option(help="Cutoff rule, e.g. percentile:99.5.")] = "percentile:99.5",
    scaling: Annotated[Scaling, typer.Option(help="Per-channel scaling.")] = Scaling.standard,
    latent: Annotated[Optional[int], typer.Option(help="Bottleneck size (model default if unset).")] = None,
    width: Annotated[Optional[int], typer.Option(help="Width of the first layer (model default if unset).")] = None,
    depth: Annotated[Optional[int], typer.Option(help="Number of layers/stages (model default if unset).")] = None,
    score_mode: Annotated[ScoreMode, typer.Option(help="Point score: window, overlap or causal (see README).")] = ScoreMode(DEFAULTS["score_mode"]),
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = DEFAULTS["epochs"],
    batch_size: Annotated[int, typer.Option(help="Windows per step.")] = DEFAULTS["batch_size"],
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = DEFAULTS["lr"],
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = DEFAULTS["patience"],
    max_windows: Annotated[int, typer.Option(help="Training windows drawn per epoch.")] = DEFAULTS["max_windows"],
    val_fraction: Annotated[float, typer.Option(help="Trailing fraction held out for validation.")] = DEFAULTS["val_fraction"],
    columns: Annotated[Optional[str], typer.Option(help="Value columns, comma-separated (default: all numeric).")] = None,
    timestamp: Annotated[Optional[str], typer.Option(help="Timestamp column (default: detected).")] = None,
    rows: Annotated[Optional[int], typer.Option(help="Fit on the first ROWS rows only (e.g. a train_end).")] = None,
    max_gap: Annotated[int, typer.Option(help="Longest run of missing values to fill.")] = 5,
    merge_gap: Annotated[int, typer.Option(help="Event rule: merge events this many points apart.")] = 0,
    min_length: Annotated[int, typer.Option(help="Event rule: drop events shorter than this.")] = 1,
    cooldown: Annotated[int, typer.Option(help="Event rule: suppress new events this many points after one.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
):
    """Train a denoising autoencoder on normal data and write a model file."""
    from tsae.io import read_table

    with user_errors():
        frame = read_table(data)
        if rows is not None:
            frame = frame.iloc[:rows]
        params = {k: v for k, v in {"latent": latent, "width": width, "depth": depth}.items() if v is not None}
        det = Detector(
            model.value, window=int(window) if window.isdigit() else window, noise=noise, threshold=threshold,
            events={"merge_gap": merge_gap, "min_length": min_length, "cooldown": cooldown},
            scaling=scaling.value, model_params=params or None, score_mode=score_mode.value, epochs=epochs,
            batch_size=batch_size, lr=lr, patience=patience, max_windows=max_windows, val_fraction=val_fraction, max_gap=max_gap,
            columns=columns.split(",") if columns else None, timestamp=timestamp, seed=seed, device=device,
            threads=threads, progress=not quiet,
        ).fit(frame, source=str(data))
        det.save(out)
    if not quiet:
        t = det.training_
        err.print(f"fitted {det.model} on {t['rows']} rows x {det.n_features_in_} channel(s), window {det.window_}, "
                  f"{t['epochs_run']} epochs (best {t['best_epoch']}, val loss {t['best_val_loss']:.4g}) "
                  f"in {t['seconds']:.1f}s; cutoff {det.threshold_.cutoff_:.4g} -> {out}", soft_wrap=True)


@app.command()
def score(
    data: Annotated[Path, typer.Argument(help="Data to score: CSV or Parquet.")],
    model: ModelOpt = Path("model.tsae"),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (.csv/.parquet); default CSV on stdout.")] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read at a time (bounds memory).")] = 100_000,
    events: Annotated[bool, typer.Option("--events", help="One row per anomalous event: start, end, peak score.")] = False,
    fail_on_anomaly: Annotated[bool, typer.Option(help="Exit with status 3 when any row is flagged.")] = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
):
    """Score every row: writes [timestamp,] score, is_anomaly (or events with --events)."""
    from tsae.filescore import score_file

    with user_errors():
        det = load(model, device=device, threads=threads)
        summary = score_file(det, data, out, chunk_rows, events=events)
    if out is not None:
        found = f", {summary['events']} events" if summary["events"] is not None else ""
        err.print(f"scored {summary['rows']} rows, {summary['flagged']} flagged{found} "
                  f"(cutoff {summary['cutoff']:.4g}) -> {out}", soft_wrap=True)
    if fail_on_anomaly and summary["flagged"]:
        raise typer.Exit(3)


class StreamFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


class OnError(str, Enum):
    skip = "skip"
    stop = "stop"


@app.command()
def stream(
    model: ModelOpt = Path("model.tsae"),
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="CSV file to read (default: stdin).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep reading as the file grows (like tail -f).")] = False,
    fmt: Annotated[StreamFormat, typer.Option("--format", help="Output line format.")] = StreamFormat.jsonl,
    only_anomalies: Annotated[bool, typer.Option(help="Write flagged rows only.")] = False,
    on_error: Annotated[OnError, typer.Option(help="Bad row: report it on stderr and skip it, or stop (exit 1).")] = OnError.skip,
    threads: ThreadsOpt = None,
):
    """Score CSV rows as they arrive (stdin or a file); one JSON line per row, flushed."""
    import signal

    from tsae.streamrun import follow as follow_file, run_stream

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    with user_errors():
        scorer = load(model, threads=threads).streaming(threads=threads)
        if follow and input is None:
            raise typer.BadParameter("--follow needs --input FILE")
        if input is None:
            lines = sys.stdin
        elif follow:
            lines = follow_file(input)
        else:
            if not input.exists():
                from tsae.errors import DataError

                raise DataError(f"file not found: {input}")
            lines = open(input, newline="")
        status = run_stream(scorer, lines, sys.stdout, lambda msg: err.print(f"[yellow]warning:[/yellow] {msg}", soft_wrap=True),
                            fmt.value, only_anomalies, on_error.value)
    raise typer.Exit(status)


LabelOpt = Annotated[str, typer.Option(help="Name of the 0/1 label column.")]


@app.command()
def calibrate(
    data: Annotated[Path, typer.Argument(help="Labelled data (for pr) or representative data: CSV or Parquet.")],
    model: ModelOpt = Path("model.tsae"),
    method: Annotated[str, typer.Option(help="pr, percentile:Q, contamination:F or pot:RISK.")] = "pr",
    beta: Annotated[float, typer.Option(help="pr: maximise F-beta.")] = 1.0,
    target_precision: Annotated[Optional[float], typer.Option(help="pr: lowest cutoff reaching this precision.")] = None,
    target_recall: Annotated[Optional[float], typer.Option(help="pr: highest cutoff reaching this recall.")] = None,
    label_column: LabelOpt = "label",
    plot: Annotated[Optional[Path], typer.Option(help="PNG of the precision-recall curve with the chosen point.")] = None,
    threads: ThreadsOpt = None,
):
    """Choose the cutoff on data and rewrite it in the model file (atomically)."""
    from tsae.io import read_table
    from tsae.metrics import point_f1
    from tsae.thresholds import PrecisionRecall, parse_threshold

    with user_errors():
        det = load(model, threads=threads)
        frame = read_table(data)
        rule = PrecisionRecall(beta, target_precision, target_recall) if method == "pr" else parse_threshold(method)
        det.calibrate(frame, rule, label_column=label_column, source=str(data))
        scores = det.score(det.without_labels(frame, label_column), str(data)).to_numpy()
        line = f"{det.threshold_}: cutoff {det.threshold_.cutoff_:.6g}, flags {int(det.flags(scores).sum())} of {len(scores)} rows"
        if label_column in frame.columns:
            from tsae.frames import read_labels

            labels = read_labels(frame, label_column, str(data))
            if labels.any():  # precision/recall need an anomaly; a normal-only set is fine for other methods
                got = point_f1(labels, det.flags(scores))
                line += f"; precision {got['precision']:.3f}  recall {got['recall']:.3f}  F1 {got['f1']:.3f}"
                if plot is not None:
                    from tsae.plots import plot_pr_curve

                    plot_pr_curve(labels, scores, det.threshold_.cutoff_, plot)
        det.save(model)  # last: any error above leaves the model file unchanged
    typer.echo(line)
    err.print(f"threshold written to {model}", soft_wrap=True)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled data: CSV or Parquet with a 0/1 label column.")],
    model: ModelOpt = Path("model.tsae"),
    label_column: LabelOpt = "label",
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics as JSON.")] = None,
    threads: ThreadsOpt = None,
):
    """Accuracy of a model on labelled data: AUC-PR, AUC-ROC, VUS, F1 variants."""
    from rich.table import Table

    from tsae.io import read_table

    with user_errors():
        det = load(model, threads=threads)
        result = det.evaluate(read_table(data), label_column=label_column, source=str(data))
        if json_out is not None:
            _write_json(json_out, result)
    console = Console(width=100)
    console.print(f"{data.name}: {result['rows']} rows, {result['anomalous_rows']} labelled anomalous")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    at = result["at_threshold"]
    table.add_row("at cutoff: precision / recall / F1", f"{at['precision']:.3f} / {at['recall']:.3f} / {at['f1']:.3f}")
    table.add_row("at cutoff: flagged rows", str(at["flagged"]))
    console.print(table)


def _write_json(path: Path, payload: dict) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@app.command()
def info(
    model: Annotated[Path, typer.Argument(help="Model file.")] = Path("model.tsae"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole header as JSON.")] = False,
):
    """Print a model file's header (format, model, channels, window, scaler, threshold, training)."""
    from tsae.persist import read_header

    with user_errors():
        header = read_header(model)
    if as_json:
        typer.echo(json.dumps(header, indent=2))
        return
    training = header.get("training", {})
    brief = {k: v for k, v in header.items() if k not in ("training", "checksum")}
    brief["training"] = {k: v for k, v in training.items() if k != "history"}
    brief["checksum"] = header.get("checksum")
    typer.echo(json.dumps(brief, indent=2))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's files.")] = Path("out/demo"),
    n: Annotated[int, typer.Option(help="Points in the generated signal.")] = 20_000,
    channels: Annotated[int, typer.Option(help="Channels in the generated signal.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: ThreadsOpt = None,
):
    """Generate a multichannel signal with injected anomalies, fit, score and plot."""
    from tsae.demo import run_demo

    with user_errors():
        run_demo(out, n=n, channels=channels, seed=seed, threads=threads, echo=typer.echo)


if __name__ == "__main__":  # pragma: no cover
    app()
