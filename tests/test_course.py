"""The course's image models and experiments (tiny runs on scikit-learn's digits)."""

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tsae import ConfigError, Detector
from tsae.course import EXPERIMENTS, run_experiment
from tsae.course.imagefit import decode, encode, fit_image_model, reconstruction_errors
from tsae.metrics import auc_roc
from tsae.models import build_image_model, list_models
from tsae_cli.main import app
from tsae_datasets.idx import write_idx
from tsae_datasets.images import load_images

IMAGE_MODELS = ["conv2d", "linear", "mlp", "vae-conv", "vae-linear"]


@pytest.fixture(scope="module")
def digits():
    return load_images("digits")


def test_image_models_are_registered_apart_from_series_models():
    assert list_models("image") == IMAGE_MODELS
    assert not set(IMAGE_MODELS) & set(list_models())
    with pytest.raises(ConfigError, match="unknown model 'conv2d'"):
        Detector("conv2d").fit(np.random.default_rng(0).normal(size=(500, 1)))
    with pytest.raises(ConfigError, match="unknown image model 'conv1d'"):
        build_image_model("conv1d")


@pytest.mark.parametrize(
    "name,params,n_params",
    [
        ("linear", {}, 219_866),  # 784-128-64-12-2 and back
        ("linear", {"latent": 16}, 220_216),
        ("mlp", {"latent": 2}, 202_258),  # 784-128-2 and back
        ("mlp", {"latent": 8, "depth": 2}, 470_552),  # 784-256-128-8 and back
        ("conv2d", {}, 210_369),  # the course's 64-unit code
        ("conv2d", {"latent": 2}, 15_875),
    ],
)
def test_image_model_shapes_and_sizes(name, params, n_params):
    model, resolved = build_image_model(name, params)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        out = model(x)
        z = model.encode(x)
        assert torch.equal(model.decode(z), out)
    assert out.shape == (5, 1, 28, 28)
    assert float(out.min()) >= 0 and float(out.max()) <= 1  # sigmoid output
    assert z.shape == (5, resolved["latent"])
    assert sum(p.numel() for p in model.parameters()) == n_params


def test_layer_sizes_follow_the_course():
    linear, _ = build_image_model("linear")
    assert [m.out_features for m in linear.encoder if isinstance(m, torch.nn.Linear)] == [128, 64, 12, 2]
    mlp, _ = build_image_model("mlp", {"latent": 8, "depth": 2})
    assert [m.out_features for m in mlp.encoder if isinstance(m, torch.nn.Linear)] == [256, 128, 8]
    assert any(isinstance(m, torch.nn.Tanh) for m in mlp.encoder)
    conv, _ = build_image_model("conv2d")
    shapes = []
    h = torch.zeros(1, 1, 28, 28)
    for layer in conv.encoder:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes[0] == (16, 14, 14) and shapes[2] == (32, 7, 7) and shapes[-1] == (64, 1, 1)


def test_bad_image_model_parameters():
    with pytest.raises(ConfigError, match="depth must be 1 or 2"):
        build_image_model("mlp", {"depth": 3})
    with pytest.raises(ConfigError, match="has no parameter width"):
        build_image_model("conv2d", {"width": 8})
    with pytest.raises(ConfigError, match="positive integer"):
        build_image_model("linear", {"latent": 0})


def test_image_training_is_deterministic_and_learns(digits):
    first, summary = fit_image_model("mlp", digits.train_x[:400], {"latent": 8}, epochs=3, seed=1)
    second, _ = fit_image_model("mlp", digits.train_x[:400], {"latent": 8}, epochs=3, seed=1)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    history = summary["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert summary["train_images"] == 360 and summary["val_images"] == 40
    assert encode(first, digits.test_x[:7]).shape == (7, 8)
    assert decode(first, np.zeros((3, 8), np.float32)).shape == (3, 28, 28)


def test_one_class_conv2d_beats_chance_on_digits(digits):
    """Train on one digit; other digits must score higher (AUROC well above 0.5)."""
    aurocs = []
    for digit in (0, 1):
        model, _ = fit_image_model("conv2d", digits.train_x[digits.train_y == digit], epochs=30, batch_size=32)
        scores = reconstruction_errors(model, digits.test_x)
        aurocs.append(auc_roc(digits.test_y != digit, scores))
    assert min(aurocs) > 0.8, aurocs


EXPECTED_FILES = {
    "reconstruct": ["reconstructions.png"],
    "latent": ["latent_ae.png", "latent_vae.png"],
    "generate": ["generate_vae_prior.png", "generate_ae_prior.png", "generate_ae_fitted.png"],
    "sparse": ["sparse_units.png"],
    "contractive": ["contractive.png"],
    "denoise": ["denoise.png"],
    "interpolate": ["interpolate.png"],
    "anomaly": ["anomaly_auroc.png", "anomaly_examples.png"],
}


def _finite_numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _finite_numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _finite_numbers(v)
    elif isinstance(obj, float):
        yield obj


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_writes_figures_and_finite_metrics(name, tmp_path):
    lines = []
    metrics = run_experiment(
        name, tmp_path, data=load_images("digits", limit=300), epochs=1, threads=1, echo=lines.append
    )
    for file in EXPECTED_FILES[name] + ["metrics.json"]:
        assert (tmp_path / file).stat().st_size > 0, file
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    numbers = list(_finite_numbers(metrics))
    assert numbers and all(math.isfinite(v) for v in numbers)
    assert metrics["experiment"] == name and metrics["data"] == "digits" and metrics["train_images"] == 300
    assert lines[0].startswith(f"{name} on digits") and "metrics.json" in lines[-1]


def test_metrics_layout_of_reconstruct_and_anomaly(tmp_path):
    rec = run_experiment(
        "reconstruct",
        tmp_path / "r",
        data=load_images("digits", limit=200),
        model="mlp",
        epochs=1,
        threads=1,
        echo=lambda _: None,
    )
    assert set(rec["test_mse"]) == {"mlp"} and set(rec["test_mse"]["mlp"]) == {"2", "16"}
    anomaly = run_experiment(
        "anomaly", tmp_path / "a", data=load_images("digits", limit=200), epochs=1, threads=1, echo=lambda _: None
    )
    assert set(anomaly["methods"]) == {"conv2d", "isolation_forest", "pca", "one_class_svm"}
    for result in anomaly["methods"].values():
        assert set(result["per_class"]) == {str(c) for c in range(10)}
        assert result["mean_auroc"] == pytest.approx(np.mean(list(result["per_class"].values())))


def test_experiments_are_deterministic(tmp_path):
    runs = [
        run_experiment(
            "latent", tmp_path / str(i), data=load_images("digits", limit=300), epochs=2, threads=1, echo=lambda _: None
        )
        for i in range(2)
    ]
    for model in ("linear", "vae-linear"):  # the plain model and its VAE, side by side
        for key in ("silhouette", "kmeans_purity", "test_mse"):
            assert runs[0][model][key] == runs[1][model][key]


def test_cli_runs_an_experiment_on_an_idx_folder(tmp_path, digits):
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", (digits.train_x[:250] * 255).astype(np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", digits.train_y[:250].astype(np.uint8))
    result = CliRunner().invoke(
        app,
        [
            "mnist",
            "reconstruct",
            "--data",
            str(folder),
            "--model",
            "linear",
            "--latent",
            "4",
            "--epochs",
            "1",
            "-q",
            "--threads",
            "1",
            "-o",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "reconstruct on idx: 200 train / 50 test" in result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert list(metrics["test_mse"]) == ["linear"] and list(metrics["test_mse"]["linear"]) == ["4"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--data", "nowhere"], "unknown image source 'nowhere'"),
        (["--latent", "0"], "latent must be a positive integer"),
        (["--epochs", "0"], "epochs must be a positive integer"),
    ],
)
def test_cli_errors_are_one_line(args, message, tmp_path):
    result = CliRunner().invoke(app, ["mnist", "latent", "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_sparse_codes_are_sparser_and_contractive_codes_move_less(tmp_path):
    """What the two experiments are for, on the digits (few epochs: the direction shows)."""
    data = load_images("digits", limit=600)
    quiet = dict(data=data, epochs=5, threads=1, echo=lambda _: None)
    sparse = run_experiment("sparse", tmp_path / "s", **quiet)
    assert sparse["ksparse"]["active_units_per_image"] <= 4
    assert sparse["ksparse"]["silent_share"] > sparse["plain"]["silent_share"]
    contractive = run_experiment("contractive", tmp_path / "c", **quiet)
    assert contractive["contractive"]["jacobian_frobenius2"] < contractive["plain"]["jacobian_frobenius2"]
