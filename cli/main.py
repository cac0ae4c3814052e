"""The `tsae` command line: thin commands over the library.

Errors a user can cause (TsaeError) print one red line on stderr and exit 1; an
interrupted command (Ctrl-C, SIGTERM, SIGHUP) removes its temporary files and exits
128 + the signal number; anything else is a bug and keeps its traceback. Commands
import the library's heavy parts (torch, scipy, matplotlib) only when they run.
"""

from __future__ import annotations

import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from tsae.atomic import Terminated
from tsae.options import DETECTOR_DEFAULTS as DEFAULTS
from tsae.options import SCALINGS, SCORE_MODES, SERIES_MODELS

from .common import (
    ColumnsOpt,
    DeviceOpt,
    LabelOpt,
    LearningOpt,
    SepOpt,
    ThreadsOpt,
    err,
    fail,
    parse_sep,
    split_columns,
    user_errors,
    warn,
)
from .mnist import mnist_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find anomalies in time series with denoising autoencoders.",
)
app.add_typer(mnist_app, name="mnist")

ModelName = Enum("ModelName", {name: name for name in SERIES_MODELS}, type=str)
ScoreMode = Enum("ScoreMode", {name: name for name in SCORE_MODES}, type=str)
Scaling = Enum("Scaling", {name: name for name in SCALINGS}, type=str)

ModelOpt = Annotated[Path, typer.Option("--model", "-m", help="Model file.")]


class Engine(str, Enum):
    local = "local"
    spark = "spark"


ByOpt = Annotated[
    Optional[str],
    typer.Option(
        "--by",
        help="Key column(s), comma-separated: one model per series (DATA: a file, a directory or a glob; the models table is Parquet).",
    ),
]
JobsOpt = Annotated[int, typer.Option(min=1, help="With --by: processes (local) or cores (spark).")]
EngineOpt = Annotated[Engine, typer.Option(help="With --by: local processes, or Apache Spark (tsae[spark]).")]


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="Normal data: CSV or Parquet (with --by: also a directory or a glob).")],
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Model file to write (default model.tsae; with --by models.parquet)."),
    ] = None,
    model: Annotated[ModelName, typer.Option("--arch", help="Autoencoder architecture.")] = DEFAULTS["model"],
    window: Annotated[str, typer.Option(help="Window length, or 'auto' (dominant period).")] = "auto",
    noise: Annotated[str, typer.Option(help="Input corruption: gaussian:STD, mask:P or none.")] = DEFAULTS["noise"],
    threshold: Annotated[
        str,
        typer.Option(
            help="Cutoff rule, e.g. percentile:99.5, pot:1e-4, or probability:0.999 (on the calibrated probability)."
        ),
    ] = DEFAULTS["threshold"],
    scaling: Annotated[Scaling, typer.Option(help="Per-channel scaling.")] = DEFAULTS["scaling"],
    latent: Annotated[Optional[int], typer.Option(help="Bottleneck size (model default if unset).")] = None,
    width: Annotated[Optional[int], typer.Option(help="Width of the first layer (model default if unset).")] = None,
    depth: Annotated[Optional[int], typer.Option(help="Number of layers/stages (model default if unset).")] = None,
    beta: Annotated[
        Optional[float], typer.Option(help="vae: weight of the KL term (model default 1 if unset).")
    ] = None,
    mc_samples: Annotated[
        Optional[int],
        typer.Option(
            help="vae: score by Monte-Carlo reconstruction probability over N sampled codes (Donut); 0 = the mean code."
        ),
    ] = None,
    score_mode: Annotated[
        ScoreMode, typer.Option(help="Point score: window, overlap or causal (see README).")
    ] = DEFAULTS["score_mode"],
    stride: Annotated[
        str, typer.Option(help="Score every STRIDE-th window, or 'auto' (window // 16; 1 in causal mode).")
    ] = DEFAULTS["stride"],
    regularizer: Annotated[
        str, typer.Option(help="Code regulariser: none, l1:LAMBDA, ksparse:K or contractive:LAMBDA.")
    ] = DEFAULTS["regularizer"],
    discord: Annotated[
        float,
        typer.Option(
            min=0.0, help="Weight of each window's distance to its nearest training window in its score (0 = off)."
        ),
    ] = DEFAULTS["discord"],
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = DEFAULTS["epochs"],
    batch_size: Annotated[int, typer.Option(help="Windows per step.")] = DEFAULTS["batch_size"],
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = DEFAULTS["lr"],
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = DEFAULTS["patience"],
    max_windows: Annotated[int, typer.Option(help="Training windows drawn per epoch.")] = DEFAULTS["max_windows"],
    val_fraction: Annotated[float, typer.Option(help="Trailing fraction held out for validation.")] = DEFAULTS[
        "val_fraction"
    ],
    columns: Annotated[
        Optional[str],
        typer.Option(
            help="Value columns, comma-separated (default: all numeric but the timestamp and label-like columns)."
        ),
    ] = None,
    timestamp: Annotated[Optional[str], typer.Option(help="Timestamp column (default: detected).")] = None,
    rows: Annotated[
        Optional[int], typer.Option(min=1, help="Fit on the first ROWS rows only (e.g. a train_end).")
    ] = None,
    max_gap: Annotated[int, typer.Option(help="Longest run of missing values to fill.")] = DEFAULTS["max_gap"],
    merge_gap: Annotated[int, typer.Option(help="Event rule: merge events this many points apart.")] = 0,
    min_length: Annotated[int, typer.Option(help="Event rule: drop events shorter than this.")] = 1,
    cooldown: Annotated[int, typer.Option(help="Event rule: suppress new events this many points after one.")] = 0,
    learning: LearningOpt = DEFAULTS["learning"],
    sep: SepOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = DEFAULTS["seed"],
    device: DeviceOpt = DEFAULTS["device"],
    threads: ThreadsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    by: ByOpt = None,
    jobs: JobsOpt = 1,
    engine: EngineOpt = Engine.local,
):
    """Train a denoising autoencoder on normal data and write a model file (with --by: one per series)."""
    out = out or Path("models.parquet" if by else "model.tsae")
    with user_errors():
        from tsae.atomic import check_output_path, file_identity, refuse_overwriting_inputs
        from tsae.io import read_table

        refuse_overwriting_inputs(out, data, what="model file")
        check_output_path(out, "model file")
        sizes = {"latent": latent, "width": width, "depth": depth, "beta": beta, "mc_samples": mc_samples}
        model_params = {k: v for k, v in sizes.items() if v is not None}
        options = dict(
            window=int(window) if window.isdigit() else window,
            noise=noise,
            threshold=threshold,
            events={"merge_gap": merge_gap, "min_length": min_length, "cooldown": cooldown},
            scaling=scaling.value,
            model_params=model_params or None,
            score_mode=score_mode.value,
            stride=int(stride) if stride.isdigit() else stride,
            regularizer=regularizer,
            discord=discord,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            patience=patience,
            max_windows=max_windows,
            val_fraction=val_fraction,
            max_gap=max_gap,
            columns=split_columns(columns),
            timestamp=timestamp,
            seed=seed,
            device=device,
            learning=learning,
        )
        if by is not None:
            _fit_by(
                data, by, {"model": model.value, **options, "threads": threads}, out, rows, jobs, engine, sep, quiet
            )
            return
        before = file_identity(out)  # a model written meanwhile by another process is not overwritten
        frame = read_table(data, sep=parse_sep(sep))
        if rows is not None:
            frame = frame.iloc[:rows]
        from tsae import Detector

        det = Detector(model.value, **options, threads=threads, progress=not quiet).fit(frame, source=str(data))
        det.save(out, expect=before)
    if not quiet:
        t = det.training_
        err.print(
            f"fitted {det.model} on {t['rows']} rows x {det.n_features_in_} channel(s), window {det.window_}, "
            f"{t['epochs_run']} epochs (best {t['best_epoch']}, val loss {t['best_val_loss']:.4g}) "
            f"in {t['seconds']:.1f}s; cutoff {det.threshold_.cutoff_:.4g} -> {out}",
            soft_wrap=True,
            markup=False,
        )


def _fit_by(data, by, params, out, rows, jobs, engine, sep, quiet) -> None:
    """`fit --by`: one model per key; the failures are listed, all failing is an error."""
    from tsae.errors import ConfigError, DataError
    from tsae.io import write_table

    from .fleet import fit_by

    if rows is not None:
        raise ConfigError("--rows cuts one series; with --by, cut the series before fitting")
    keys = split_columns(by)
    params = {k: v for k, v in params.items() if v is not None}
    models = fit_by(data, keys, params, out, jobs, engine.value, parse_sep(sep), params.get("timestamp"), quiet)
    failed = models[models["error"].notna()]
    for row in failed.head(10).itertuples():
        warn(f"not fitted: {row.error}")
    if len(failed) > 10:
        warn(f"... and {len(failed) - 10} more series not fitted (the models table has each error)")
    if len(failed) == len(models):
        raise DataError(f"no series could be fitted ({len(models)} tried); nothing written to {out}")
    write_table(models, out)
    if not quiet:
        err.print(
            f"fitted {len(models) - len(failed)} of {len(models)} series by {', '.join(keys)} "
            f"in {models['seconds'].sum():.1f}s of fitting ({jobs} {'cores' if engine.value == 'spark' else 'processes'}) -> {out}",
            soft_wrap=True,
            markup=False,
        )


@app.command()
def score(
    data: Annotated[
        Path, typer.Argument(help="Data to score: CSV or Parquet (with --by: also a directory or a glob).")
    ],
    model: Annotated[
        Optional[Path],
        typer.Option(
            "--model", "-m", help="Model file (default model.tsae; with --by the models table models.parquet)."
        ),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output file (.csv/.parquet); default CSV on stdout.")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows read at a time (bounds memory).")] = 100_000,
    events: Annotated[
        bool, typer.Option("--events", help="One row per anomalous event: start, end, peak score.")
    ] = False,
    explain: Annotated[
        int, typer.Option(min=0, help="Add top_channels: the N channels with the largest parts of each row's score.")
    ] = 0,
    fail_on_anomaly: Annotated[bool, typer.Option(help="Exit with status 3 when any row is flagged.")] = False,
    plot: Annotated[
        Optional[Path], typer.Option(help="Also draw the file as `tsae plot` does (.png, .pdf, .svg).")
    ] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    by: ByOpt = None,
    jobs: JobsOpt = 1,
    engine: EngineOpt = Engine.local,
):
    """Score every row: writes [timestamp,] score, probability, is_anomaly (or events with --events)."""
    model = model or Path("models.parquet" if by else "model.tsae")
    with user_errors():
        from tsae import load
        from tsae.atomic import check_output_path, refuse_overwriting_inputs
        from tsae.filescore import score_file

        refuse_overwriting_inputs(out, data, model)
        if out is not None and str(out) != "-":
            check_output_path(out)
        if by is not None:
            _score_by(data, by, model, out, jobs, engine, sep, columns, events, explain, plot, fail_on_anomaly)
            return
        if plot is not None:
            _check_plot_output(plot, data, model)
        det = load(model, device=device, threads=threads)
        summary = score_file(
            det,
            data,
            out,
            chunk_rows,
            events=events,
            columns=split_columns(columns),
            sep=parse_sep(sep),
            explain=explain,
        )
        drawn = _draw(det, data, plot, columns, sep) if plot is not None else None
    if drawn is not None:
        err.print(_drawn_line(drawn, plot), soft_wrap=True, markup=False)
    if out is not None:
        found = f", {summary['events']} events" if summary["events"] is not None else ""
        err.print(
            f"scored {summary['rows']} rows, {summary['flagged']} flagged{found} "
            f"(cutoff {summary['cutoff']:.4g}) -> {out}",
            soft_wrap=True,
            markup=False,
        )
    if fail_on_anomaly and summary["flagged"]:
        raise typer.Exit(3)


def _score_by(data, by, models, out, jobs, engine, sep, columns, events, explain, plot, fail_on_anomaly) -> None:
    """`score --by`: every key with its model from the models table."""
    from tsae.errors import ConfigError

    from .fleet import score_by

    unsupported = [name for name, used in (("--events", events), ("--explain", explain), ("--plot", plot)) if used]
    if columns is not None:
        unsupported.append("--columns")
    if unsupported:
        raise ConfigError(f"{', '.join(unsupported)} score one series: not available with --by")
    keys = split_columns(by)
    scores = score_by(data, keys, models, out, jobs, engine.value, parse_sep(sep), None, quiet=out is None)
    flagged = int(scores["is_anomaly"].sum())
    if out is not None:
        series = len(scores.drop_duplicates(keys))
        err.print(
            f"scored {len(scores)} rows of {series} series, {flagged} flagged -> {out}", soft_wrap=True, markup=False
        )
    if fail_on_anomaly and flagged:
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
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep reading as the file grows (like tail -f).")
    ] = False,
    fmt: Annotated[StreamFormat, typer.Option("--format", help="Output line format.")] = StreamFormat.jsonl,
    only_anomalies: Annotated[bool, typer.Option(help="Write flagged rows only.")] = False,
    on_error: Annotated[
        OnError, typer.Option(help="Bad row: report it on stderr and skip it, or stop (exit 1).")
    ] = OnError.skip,
    columns: ColumnsOpt = None,
    sep: Annotated[
        Optional[str],
        typer.Option("--sep", help="CSV field separator (default: detected in the header line; tab: 'tab')."),
    ] = None,
    explain: Annotated[
        int,
        typer.Option(min=0, help="Add top_channels to each line: the N channels with the largest parts of the score."),
    ] = 0,
    learning: Annotated[
        Optional[str],
        typer.Option(
            help="Continual learning: on, off or every=N,steps=S,... (default: the model's setting; on for --warmup)."
        ),
    ] = None,
    warmup: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Cold start: if MODEL does not exist, fit it on the first WARMUP rows (monitoring settings: causal scores, learning, probability alerts), write it, then score.",
        ),
    ] = None,
    threads: ThreadsOpt = None,
):
    """Score CSV rows as they arrive (stdin or a file); one JSON line per row, flushed."""
    from .stream import open_lines, run_stream

    if follow and input is None:
        raise typer.BadParameter("--follow needs --input FILE")
    with user_errors():
        if warmup is not None and not model.exists():
            scorer = _cold_start(model, warmup, learning, threads, explain > 0)
        else:
            from tsae import load

            scorer = load(model, threads=threads).streaming(
                threads=threads, learning="model" if learning is None else learning, explain=explain > 0
            )
        status = run_stream(
            scorer,
            open_lines(input, follow),
            sys.stdout,
            warn,
            fmt.value,
            only_anomalies,
            on_error.value,
            sep=parse_sep(sep),
            columns=split_columns(columns),
            explain=explain,
        )
    raise typer.Exit(status)


def _cold_start(model: Path, warmup: int, learning, threads, explain: bool = False):
    """A stream that fits MODEL on its first ``warmup`` rows and writes it (refused if
    another process wrote MODEL meanwhile)."""
    from tsae import Detector
    from tsae.atomic import check_output_path
    from tsae.coldstart import MONITORING, ColdStartScorer

    check_output_path(model, "model file")
    template = Detector(
        **{**MONITORING, "learning": MONITORING["learning"] if learning is None else learning}, threads=threads
    )

    def save(detector) -> None:
        detector.save(model, expect=None)
        err.print(
            f"fitted on the first {warmup} rows (window {detector.window_}) -> {model}", soft_wrap=True, markup=False
        )

    return ColdStartScorer(template, warmup, on_error="raise", threads=threads, on_fit=save, explain=explain)


def _load_labelled(data: Path, model: Path, threads, columns, sep, label_column):
    """The model, the file restricted to ``--columns`` (if given), and its label column."""
    from tsae import load
    from tsae.filescore import select_columns
    from tsae.frames import find_label_column
    from tsae.io import read_table

    det = load(model, threads=threads)
    frame = read_table(data, sep=parse_sep(sep))
    label = find_label_column(frame, label_column, str(data))
    frame = select_columns(frame, det, split_columns(columns), keep=[label] if label else [], source=str(data))
    return det, frame, label


@app.command()
def calibrate(
    data: Annotated[Path, typer.Argument(help="Labelled data (for pr) or representative data: CSV or Parquet.")],
    model: ModelOpt = Path("model.tsae"),
    method: Annotated[
        str, typer.Option(help="pr, percentile:Q, contamination:F, pot:RISK or probability:LEVEL.")
    ] = "pr",
    beta: Annotated[float, typer.Option(help="pr: maximise F-beta.")] = 1.0,
    target_precision: Annotated[
        Optional[float], typer.Option(help="pr: lowest cutoff reaching this precision.")
    ] = None,
    target_recall: Annotated[Optional[float], typer.Option(help="pr: highest cutoff reaching this recall.")] = None,
    label_column: LabelOpt = None,
    plot: Annotated[
        Optional[Path], typer.Option(help="Precision-recall curve with the chosen point (.png, .pdf, .svg).")
    ] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    threads: ThreadsOpt = None,
):
    """Choose the cutoff on data and rewrite it in the model file (atomically; refused
    if the model file changed meanwhile)."""
    with user_errors():
        from tsae.atomic import check_output_path, file_identity, refuse_overwriting_inputs
        from tsae.errors import ModelFileError

        refuse_overwriting_inputs(model, data, what="model file")
        if plot is not None:
            _check_plot_output(plot, data, model)
        check_output_path(model, "model file")
        before = file_identity(model)
        det, frame, label = _load_labelled(data, model, threads, columns, sep, label_column)
        if file_identity(model) != before:
            raise ModelFileError(f"{model} changed while it was read (another process wrote it): run again")
        line = _calibrate(det, frame, label, method, beta, target_precision, target_recall, plot, str(data))
        det.save(model, expect=before)  # last, and only if nobody rewrote the model since it was read
    typer.echo(line)
    err.print(f"threshold written to {model}", soft_wrap=True, markup=False)


def _calibrate(det, frame, label, method, beta, target_precision, target_recall, plot, source) -> str:
    """Refit the detector's threshold on ``frame``; the one-line summary to print."""
    from tsae.frames import read_labels
    from tsae.metrics import point_f1
    from tsae.thresholds import PrecisionRecall, parse_threshold

    rule = PrecisionRecall(beta, target_precision, target_recall) if method == "pr" else parse_threshold(method)
    det.calibrate(frame, rule, label_column=label, source=source)
    assessed = det.assess(det._without_labels(frame, label), source)
    scores, flags = assessed["score"].to_numpy(), assessed["is_anomaly"].to_numpy()
    line = f"{det.threshold_}: cutoff {det.threshold_.cutoff_:.6g}, flags {int(flags.sum())} of {len(scores)} rows"
    labels = read_labels(frame, label, source) if label is not None else None
    if labels is not None and labels.any():  # precision/recall need an anomaly; a normal-only set is fine
        got = point_f1(labels, flags)
        line += f"; precision {got['precision']:.3f}  recall {got['recall']:.3f}  F1 {got['f1']:.3f}"
        if plot is not None:
            from tsae.plots import plot_pr_curve

            plot_pr_curve(labels, scores, det.threshold_.cutoff_, plot)
    elif plot is not None:
        warn(f"no plot written: {source} has no labelled anomaly to draw a precision-recall curve")
    return line


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled data: CSV or Parquet with a 0/1 label column.")],
    model: ModelOpt = Path("model.tsae"),
    label_column: LabelOpt = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics as JSON.")] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    threads: ThreadsOpt = None,
):
    """Accuracy of a model on labelled data: AUC-PR, AUC-ROC, VUS, F1 variants."""
    with user_errors():
        from tsae.atomic import check_output_path, refuse_overwriting_inputs, write_json

        if json_out is not None:
            refuse_overwriting_inputs(json_out, data, model)
            check_output_path(json_out, "JSON file")
        det, frame, label = _load_labelled(data, model, threads, columns, sep, label_column)
        result = det.evaluate(frame, label_column=label, source=str(data))
        if json_out is not None:
            write_json(json_out, result)
    _print_metrics(data.name, result)


def _print_metrics(name: str, result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=100)
    console.print(f"{name}: {result['rows']} rows, {result['anomalous_rows']} labelled anomalous", markup=False)
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


@app.command()
def info(
    model: Annotated[Path, typer.Argument(help="Model file.")] = Path("model.tsae"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole header as JSON.")] = False,
):
    """Print a model file's header (format, model, channels, window, scaler, threshold, training)."""
    import json

    from tsae.persist import read_header

    with user_errors():
        header = read_header(model)
    if as_json:
        typer.echo(json.dumps(header, indent=2))
        return
    training = header.get("training", {})
    brief = {k: v for k, v in header.items() if k not in ("training", "checksum")}
    brief["training"] = (
        {k: v for k, v in training.items() if k != "history"} if isinstance(training, dict) else training
    )
    brief["checksum"] = header.get("checksum")
    typer.echo(json.dumps(brief, indent=2))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's files.")] = Path("out/demo"),
    n: Annotated[int, typer.Option(min=1, help="Points in the generated signal.")] = 20_000,
    channels: Annotated[int, typer.Option(min=1, help="Channels in the generated signal.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: ThreadsOpt = None,
):
    """Generate a multichannel signal with injected anomalies, fit, score and plot."""
    with user_errors():
        from .demo import run_demo

        run_demo(out, n=n, channels=channels, seed=seed, threads=threads, echo=typer.echo)


@app.command()
def plot(
    data: Annotated[Path, typer.Argument(help="Data to draw: CSV or Parquet (a label column is shaded).")],
    model: ModelOpt = Path("model.tsae"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file: .png, .pdf or .svg.")] = Path("plot.png"),
    label_column: LabelOpt = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    threads: ThreadsOpt = None,
):
    """Draw a file: its signal, the score with the cutoff, flagged and labelled rows."""
    with user_errors():
        from tsae import load

        _check_plot_output(out, data, model)
        drawn = _draw(load(model, threads=threads), data, out, columns, sep, label_column)
    err.print(_drawn_line(drawn, out), soft_wrap=True, markup=False)


def _check_plot_output(plot: Path, *inputs: Path) -> None:
    """Before any work: the plot is not one of the inputs, its suffix is an image type,
    and its folder takes a file (TsaeError naming the problem otherwise)."""
    from tsae.atomic import check_output_path, figure_format, refuse_overwriting_inputs

    refuse_overwriting_inputs(plot, *inputs, what="plot")
    figure_format(plot)
    check_output_path(plot, "plot")


def _draw(det, data: Path, out: Path, columns, sep, label_column=None) -> dict:
    """``tsae plot``'s figure of ``data`` (its label column shaded) written to ``out``."""
    from tsae.filescore import select_columns
    from tsae.frames import find_label_column, read_labels
    from tsae.io import read_table
    from tsae.plots import plot_file

    frame = read_table(data, sep=parse_sep(sep))
    label = find_label_column(frame, label_column, str(data))
    frame = select_columns(frame, det, split_columns(columns), keep=[label] if label else [], source=str(data))
    labels = read_labels(frame, label, str(data)) if label is not None else None
    return plot_file(det, det._without_labels(frame, label), out, labels, title=f"{data.name}: {det.model}")


def _drawn_line(drawn: dict, out: Path) -> str:
    channels = ", ".join(map(str, drawn["channels"]))
    return f"drew {drawn['rows']} rows, {drawn['flagged']} flagged, channels {channels} -> {out}"


def _terminate(signum, frame):
    raise Terminated(signum)


def main() -> None:
    """Entry point of the ``tsae`` command: runs the app with SIGTERM, SIGINT and SIGHUP
    turned into a clean stop (temporary files removed, exit 128 + signal number),
    and a failing standard output (disk full, closed pipe) reported in one line."""
    for signum in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if signum is not None:
            signal.signal(signum, _terminate)
    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    except Terminated as exc:
        err.print(f"interrupted by {signal.Signals(exc.signum).name}", markup=False)
        code = 128 + exc.signum
    except OSError as exc:  # writing standard output or reading standard input failed
        fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        code = 1
    try:
        sys.stdout.flush()
    except OSError as exc:
        fail(f"cannot write standard output: {exc.strerror or exc}")
        code = code or 1
    finally:  # nothing left for Python to flush (and fail on) at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if isinstance(code, int) and code > 128:
        # stopped by a signal, temporary files already removed: a worker thread of a
        # native library (pyarrow's reader) may still be running, and tearing the
        # interpreter down under it aborts the process (SIGABRT) instead of exiting
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
