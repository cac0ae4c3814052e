"""`tsae mnist <experiment>`: the autoencoder course's image experiments."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from tsae.course.catalog import CATALOG
from tsae.options import IMAGE_MODELS

from .common import DeviceOpt, ThreadsOpt, user_errors

mnist_app = typer.Typer(
    no_args_is_help=True, help=("The autoencoder course's MNIST experiments: figures (PNG) and metrics.json in --out.")
)

ImageModel = Enum("ImageModel", {name: name for name in IMAGE_MODELS}, type=str)


def _add(name: str) -> None:
    spec = CATALOG[name]

    def command(
        out: Annotated[
            Optional[Path],
            typer.Option("--out", "-o", help="Folder for figures and metrics.json (default: out/mnist/EXPERIMENT)."),
        ] = None,
        data: Annotated[
            str, typer.Option(help="auto, mnist, fashion-mnist, digits, or a folder of IDX files.")
        ] = "auto",
        model: Annotated[
            Optional[ImageModel], typer.Option(help=f"Image model (default: {spec.model or 'linear, mlp and conv2d'}).")
        ] = None,
        latent: Annotated[Optional[int], typer.Option(help="Latent size (default: the experiment's).")] = None,
        epochs: Annotated[Optional[int], typer.Option(help=f"Training epochs (default: {spec.epochs}).")] = None,
        limit: Annotated[Optional[int], typer.Option(help="Use at most this many training and test images.")] = None,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        threads: ThreadsOpt = None,
        device: DeviceOpt = "auto",
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    ):
        from tsae.course import run_experiment
        from tsae_datasets.images import load_images

        with user_errors():
            run_experiment(
                name,
                out or Path("out/mnist") / name,
                data=load_images(data, limit=limit),
                model=model and model.value,
                latent=latent,
                epochs=epochs,
                seed=seed,
                device=device,
                threads=threads,
                progress=not quiet,
                echo=typer.echo,
            )

    doc = " ".join(spec.help.replace("``", "").split())
    mnist_app.command(name, help=doc, short_help=doc.split(": ")[0].split(". ")[0] + ".")(command)


for _name in CATALOG:
    _add(_name)
