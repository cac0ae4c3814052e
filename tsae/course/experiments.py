"""The six course experiments. Each writes PNG figures into ``run.out`` and returns
its metrics; ``run_experiment`` adds the common fields and writes ``metrics.json``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..atomic import write_json
from ..corruption import Corruption
from ..errors import ConfigError
from ..metrics import auc_roc
from ..models import get_model_class
from ..runtime import resolve_device, torch_threads
from ..thresholds import Percentile
from . import figures
from .catalog import CATALOG
from .imagefit import decode, encode, fit_image_model, reconstruct, reconstruction_errors


@dataclass
class Run:
    """What every experiment gets: the data, where to write, and the user's choices
    (``None``: the experiment's default)."""

    data: Any  # the images: see run_experiment
    out: Path
    model: str | None  # None only for reconstruct: every image model
    latent: int | None
    epochs: int
    seed: int = 0
    device: torch.device = torch.device("cpu")
    progress: bool = False
    echo: Callable[[str], None] = print
    fits: list = field(default_factory=list)

    def fit(
        self,
        images: np.ndarray,
        model: str | None = None,
        latent: int | None = None,
        noise: str = "none",
        regularizer: str = "none",
    ):
        """Train ``model`` (default: the run's) with ``latent`` (default: the run's, else
        the model's own default) on ``images``; the summary is kept for metrics.json."""
        model = model or self.model
        latent = latent or self.latent
        params = {"latent": latent} if latent else {}
        module, summary = fit_image_model(
            model,
            images,
            params,
            noise=noise,
            epochs=self.epochs,
            batch_size=BATCH_SIZE,
            seed=self.seed,
            device=self.device,
            progress=self.progress,
            regularizer=regularizer,
        )
        self.fits.append(
            {
                k: summary[k]
                for k in (
                    "model",
                    "params",
                    "noise",
                    "regularizer",
                    "epochs_run",
                    "best_epoch",
                    "best_val_loss",
                    "seconds",
                    "train_images",
                )
            }
        )
        return module


# Images per optimiser step. The one-class models see only ~800 images: batches of
# 32 give them 4x the steps of 128 for the same compute (mean AUROC on MNIST 0.959 vs
# 0.913 at 30 epochs, measured), and the full-set models lose nothing by it.
BATCH_SIZE = 32


def reconstruct_experiment(run: Run) -> dict:
    """The ``reconstruct`` experiment: see ``catalog.CATALOG["reconstruct"].help``."""
    data = run.data
    models = [run.model] if run.model else ["linear", "mlp", "conv2d"]
    latents = [run.latent] if run.latent else [2, 16]
    shown = _one_per_class(data.test_y, data.classes)
    rows, labels, table = [data.test_x[shown]], ["original"], {}
    for model in models:
        table[model] = {}
        for latent in latents:
            module = run.fit(data.train_x, model, latent)
            table[model][str(latent)] = float(reconstruction_errors(module, data.test_x).mean())
            rows.append(reconstruct(module, data.test_x[shown]))
            labels.append(f"{model} {latent}")
    figures.image_rows(
        rows, labels, run.out / "reconstructions.png", f"{data.name}: test images (top) and their reconstructions"
    )
    run.echo(f"test MSE ({data.name}, {len(data.test_x)} test images)")
    run.echo("model     " + "".join(f"latent {lat:<6}" for lat in latents))
    for model, by_latent in table.items():
        run.echo(f"{model:<10}" + "".join(f"{mse:<13.4f}" for mse in by_latent.values()))
    return {"test_mse": table}


def latent_experiment(run: Run) -> dict:
    """The ``latent`` experiment: see ``catalog.CATALOG["latent"].help``."""
    data = run.data
    plain = _plain_layout(run.model)
    result = {}
    for name in [plain, VAE_OF[plain]] if plain in VAE_OF else [plain]:
        module = run.fit(data.train_x, name)
        result[name] = _latent_view(run, module, name, f"latent_{'vae' if name != plain else 'ae'}.png")
    return result


def _latent_view(run: Run, module, name: str, figure: str) -> dict:
    """Scatter of the test codes by class and how well the classes separate there."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    data = run.data
    codes = encode(module, data.test_x)  # (n, latent)
    shown = codes if codes.shape[1] == 2 else PCA(2, random_state=run.seed).fit_transform(codes)
    n_classes = len(np.unique(data.test_y))
    clusters = KMeans(n_clusters=n_classes, n_init=10, random_state=run.seed).fit_predict(codes)
    purity = sum(np.bincount(data.test_y[clusters == k]).max() for k in np.unique(clusters)) / len(codes)
    silhouette = float(silhouette_score(codes, data.test_y, sample_size=min(2000, len(codes)), random_state=run.seed))
    spread = np.abs(codes).max(0)  # how far the codes reach on each axis (a VAE's stay near N(0, I))
    figures.latent_scatter(
        shown,
        data.test_y,
        data.classes,
        run.out / figure,
        f"{data.name}: {name} codes of the test images (silhouette {silhouette:.3f}, k-means purity {purity:.3f})",
    )
    mse = float(reconstruction_errors(module, data.test_x).mean())
    run.echo(
        f"{name} latent {codes.shape[1]}: silhouette {silhouette:.3f}, k-means purity {purity:.3f}, "
        f"largest |code| {spread.max():.2f}, test MSE {mse:.4f}"
    )
    return {"silhouette": silhouette, "kmeans_purity": float(purity), "code_reach": spread.tolist(), "test_mse": mse}


def _plain_layout(model: str) -> str:
    """The plain layout of ``model`` (a VAE's, or the model itself)."""
    return {vae: ae for ae, vae in VAE_OF.items()}.get(model, model)


#: The variational model of each layout that has one (``generate`` compares the two).
VAE_OF = {"linear": "vae-linear", "conv2d": "vae-conv"}


def generate_experiment(run: Run, n: int = 100) -> dict:
    """The ``generate`` experiment: see ``catalog.CATALOG["generate"].help``."""
    from sklearn.linear_model import LogisticRegression

    data = run.data
    plain = _plain_layout(run.model)
    if plain not in VAE_OF:
        raise ConfigError(f"generate compares a layout with its VAE: --model linear or conv2d, got {run.model!r}")
    ae, vae = run.fit(data.train_x, plain), run.fit(data.train_x, VAE_OF[plain])
    flat = data.train_x.reshape(len(data.train_x), -1)
    judge = LogisticRegression(max_iter=300).fit(flat, data.train_y)  # the classifier that rates the samples
    judge_accuracy = float(judge.score(data.test_x.reshape(len(data.test_x), -1), data.test_y))
    rng = np.random.default_rng(run.seed)
    codes = encode(ae, data.train_x)  # (n_train, latent)
    prior = rng.standard_normal((n, codes.shape[1]))
    sources = {  # what is decoded: N(0, I) through both, and the AE's fair chance: a Gaussian fitted to its codes
        "vae_prior": (vae, prior),
        "ae_prior": (ae, prior),
        "ae_fitted": (ae, rng.multivariate_normal(codes.mean(0), np.atleast_2d(np.cov(codes, rowvar=False)), size=n)),
    }
    result = {"judge": "LogisticRegression on the training pixels", "judge_test_accuracy": judge_accuracy}
    titles = {
        "vae_prior": "VAE, N(0, I)",
        "ae_prior": "plain AE, N(0, I)",
        "ae_fitted": "plain AE, Gaussian fit to its codes",
    }
    run.echo(
        f"{plain} vs {VAE_OF[plain]}, latent {codes.shape[1]}, {n} samples each (judge's test accuracy {judge_accuracy:.3f})"
    )
    run.echo(f"{'samples':<38}{'score':>7}{'confidence':>11}{'classes':>9}{'nearest MSE':>13}")
    for kind, (module, z) in sources.items():
        images = decode(module, z.astype(np.float32))  # (n, 28, 28)
        probabilities = judge.predict_proba(images.reshape(n, -1))  # (n, classes)
        predicted = judge.classes_[probabilities.argmax(1)]
        result[kind] = {
            "inception_score": _inception_score(probabilities),  # digit-like and varied at once
            "confidence": float(probabilities.max(1).mean()),  # mean top-class probability: digit-like
            "classes_covered": int(len(np.unique(predicted))),  # variety
            "class_counts": np.bincount(predicted, minlength=len(data.classes)).tolist(),
            "nearest_mse": _nearest_mse(images, data.train_x),
        }
        r = result[kind]
        run.echo(
            f"{titles[kind]:<38}{r['inception_score']:>7.2f}{r['confidence']:>11.3f}{r['classes_covered']:>9}"
            f"{r['nearest_mse']:>13.4f}"
        )
        figures.image_grid(images, run.out / f"generate_{kind}.png", f"{data.name}: {titles[kind]}")
    return result


DENOISE_NOISE = "mask:0.5"


def denoise_experiment(run: Run) -> dict:
    """The ``denoise`` experiment: see ``catalog.CATALOG["denoise"].help``."""
    data = run.data
    plain = run.fit(data.train_x)
    denoiser = run.fit(data.train_x, noise=DENOISE_NOISE)
    gen = torch.Generator().manual_seed(run.seed)
    corrupted = Corruption.parse(DENOISE_NOISE)(torch.as_tensor(data.test_x), gen).numpy()  # (n, 28, 28)
    outputs = {"plain": reconstruct(plain, corrupted), "denoising": reconstruct(denoiser, corrupted)}
    result = {"noise": DENOISE_NOISE, "mse_corrupted_input": _mse(corrupted, data.test_x)}
    for name, images in outputs.items():
        result[f"mse_{name}"] = _mse(images, data.test_x)
    shown = _one_per_class(data.test_y, data.classes)
    figures.image_rows(
        [data.test_x[shown], corrupted[shown], outputs["plain"][shown], outputs["denoising"][shown]],
        ["clean", "masked", "plain AE", "denoising AE"],
        run.out / "denoise.png",
        f"{data.name}: {run.model} on test images with {DENOISE_NOISE}",
    )
    run.echo(
        f"MSE to the clean test images: masked input {result['mse_corrupted_input']:.4f}, "
        f"plain AE {result['mse_plain']:.4f}, denoising AE {result['mse_denoising']:.4f}"
    )
    return result


def interpolate_experiment(run: Run, steps: int = 10) -> dict:
    """The ``interpolate`` experiment: see ``catalog.CATALOG["interpolate"].help``."""
    data = run.data
    module = run.fit(data.train_x)
    first = {c: int(np.flatnonzero(data.test_y == c)[0]) for c in np.unique(data.test_y)}
    pairs = [(a, b) for a, b in ((0, 1), (4, 9), (3, 8)) if a in first and b in first] or [tuple(list(first)[:2])]
    t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]  # (steps, 1)
    rows, labels, latent_frames, pixel_frames = [], [], [], []
    for a, b in pairs:
        ends = data.test_x[[first[a], first[b]]]  # (2, 28, 28)
        za, zb = encode(module, ends)
        along_codes = decode(module, (1 - t) * za + t * zb)  # (steps, 28, 28)
        crossfade = (1 - t[:, :, None]) * ends[0] + t[:, :, None] * ends[1]  # (steps, 28, 28)
        rows += [along_codes, crossfade]
        labels += [f"{data.classes[a]}->{data.classes[b]} latent", "pixels"]
        latent_frames.append(along_codes), pixel_frames.append(crossfade)
    figures.image_rows(
        rows, labels, run.out / "interpolate.png", f"{data.name}: {run.model} latent path vs pixel crossfade"
    )
    result = {
        "pairs": [[data.classes[a], data.classes[b]] for a, b in pairs],
        "latent_path_error": float(reconstruction_errors(module, np.concatenate(latent_frames)).mean()),
        "crossfade_error": float(reconstruction_errors(module, np.concatenate(pixel_frames)).mean()),
    }
    run.echo(
        f"mean reconstruction error of the frames: latent path {result['latent_path_error']:.4f}, "
        f"pixel crossfade {result['crossfade_error']:.4f}"
    )
    return result


ANOMALY_PERCENTILE = 95.0


def anomaly_experiment(run: Run) -> dict:
    """The ``anomaly`` experiment: see ``catalog.CATALOG["anomaly"].help``."""
    data = run.data
    classes = [int(c) for c in np.unique(data.train_y)]
    methods = {run.model: {}, **{name: {} for name in BASELINES}}
    flags = {"recall": [], "false_alarm_rate": []}
    seconds = dict.fromkeys(methods, 0.0)
    test_flat = data.test_x.reshape(len(data.test_x), -1)  # (n_test, 784)
    examples = None
    for c in classes:
        normal = data.train_x[data.train_y == c]
        anomalous = data.test_y != c
        started = time.perf_counter()
        module = run.fit(normal)
        scores = reconstruction_errors(module, data.test_x)
        seconds[run.model] += time.perf_counter() - started
        methods[run.model][str(c)] = auc_roc(anomalous, scores)
        cut = Percentile(ANOMALY_PERCENTILE).fit(reconstruction_errors(module, normal))
        flagged = cut(scores)
        flags["recall"].append(float(flagged[anomalous].mean()))
        flags["false_alarm_rate"].append(float(flagged[~anomalous].mean()))
        if examples is None:
            order = np.argsort(scores)
            examples = (c, data.test_x[order[:10]], data.test_x[order[-10:][::-1]])
        for name, baseline in BASELINES.items():
            started = time.perf_counter()
            methods[name][str(c)] = auc_roc(anomalous, baseline(normal.reshape(len(normal), -1), test_flat, run.seed))
            seconds[name] += time.perf_counter() - started
    result = {
        "methods": {
            name: {
                "mean_auroc": float(np.mean(list(per.values()))),
                "per_class": per,
                "seconds": round(seconds[name], 2),
            }
            for name, per in methods.items()
        },
        "threshold": {
            "method": f"percentile:{ANOMALY_PERCENTILE:g} of the training class's errors",
            "mean_recall": float(np.mean(flags["recall"])),
            "mean_false_alarm_rate": float(np.mean(flags["false_alarm_rate"])),
        },
    }
    figures.auroc_bars(
        result["methods"],
        [data.classes[c] for c in classes],
        run.out / "anomaly_auroc.png",
        f"{data.name}: one-class AUROC per class (train on one class, score all test images)",
    )
    c, calm, odd = examples
    figures.image_rows(
        [calm, odd],
        ["most normal", "most anomalous"],
        run.out / "anomaly_examples.png",
        f"{data.name}: {run.model} trained on class {data.classes[c]}",
    )
    run.echo(f"one-class mean AUROC on {data.name} ({len(classes)} classes):")
    for name, res in result["methods"].items():
        run.echo(f"  {name:<18}{res['mean_auroc']:.4f}   ({res['seconds']:.1f} s)")
    run.echo(
        f"  {run.model} at the {ANOMALY_PERCENTILE:g}th-percentile cutoff: recall "
        f"{result['threshold']['mean_recall']:.3f}, false alarms {result['threshold']['mean_false_alarm_rate']:.3f}"
    )
    return result


def _isolation_forest(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    return -IsolationForest(random_state=seed).fit(train).score_samples(test)


def _pca_error(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=0.9, svd_solver="full", random_state=seed).fit(train)
    return ((pca.inverse_transform(pca.transform(test)) - test) ** 2).mean(1)


def _one_class_svm(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.svm import OneClassSVM

    return -OneClassSVM(nu=0.1, gamma="scale").fit(train).decision_function(test)


# Baselines: (training images (n, 784), test images (m, 784), seed) -> scores (m,), higher = more anomalous.
BASELINES = {"isolation_forest": _isolation_forest, "pca": _pca_error, "one_class_svm": _one_class_svm}


#: name -> the function that runs it (defaults and help in ``catalog.CATALOG``).
#: The penalties the ``sparse`` and ``contractive`` experiments compare with the plain model.
SPARSE_VARIANTS = {"plain": "none", "l1": "l1:0.01", "ksparse": "ksparse:4"}
CONTRACTIVE = "contractive:0.1"
#: A code unit counts as silent below this share of its largest value over the test images.
SILENT = 0.01


def sparse_experiment(run: Run) -> dict:
    """The ``sparse`` experiment: see ``catalog.CATALOG["sparse"].help``."""
    data = run.data
    result, atoms = {}, []
    for variant, spec in SPARSE_VARIANTS.items():
        module = run.fit(data.train_x, regularizer=spec)
        codes = encode(module, data.test_x)  # (n, latent)
        silent = np.abs(codes) < SILENT * np.abs(codes).max()
        result[variant] = {
            "regularizer": spec,
            "silent_share": float(silent.mean()),  # share of (image, unit) pairs near zero
            "active_units_per_image": float((~silent).sum(1).mean()),
            "test_mse": float(reconstruction_errors(module, data.test_x).mean()),
        }
        # what each unit draws on its own: decode its typical positive value, the others at 0
        reach = np.maximum(codes.max(0), 1e-6)  # (latent,)
        atoms.append(decode(module, np.diag(reach).astype(np.float32)))  # (latent, 28, 28)
        r = result[variant]
        run.echo(
            f"{variant:<8} ({spec}): silent share {r['silent_share']:.3f}, "
            f"{r['active_units_per_image']:.1f} active units per image, test MSE {r['test_mse']:.4f}"
        )
    figures.image_rows(
        atoms, list(SPARSE_VARIANTS), run.out / "sparse_units.png", f"{data.name}: each code unit decoded alone"
    )
    return result


def contractive_experiment(run: Run, sigma: float = 0.1) -> dict:
    """The ``contractive`` experiment: see ``catalog.CATALOG["contractive"].help``."""
    from ..regularizers import jacobian_norm

    data = run.data
    rng = np.random.default_rng(run.seed)
    noise = (sigma * rng.standard_normal(data.test_x.shape)).astype(np.float32)
    result, shown = {}, _one_per_class(data.test_y, data.classes)
    rows, labels = [data.test_x[shown], np.clip(data.test_x[shown] + noise[shown], 0, 1)], ["original", "perturbed"]
    for variant, spec in (("plain", "none"), ("contractive", CONTRACTIVE)):
        module = run.fit(data.train_x, regularizer=spec)
        codes, moved = encode(module, data.test_x), encode(module, data.test_x + noise)
        x = torch.as_tensor(data.test_x[:500, None], device=run.device).requires_grad_(True)
        jac = float(jacobian_norm(x, module.encode(x)).detach())
        result[variant] = {
            "regularizer": spec,
            "jacobian_frobenius2": jac,  # mean ||dz/dx||_F^2 over 500 test images
            "code_shift": float(np.linalg.norm(moved - codes, axis=1).mean()),  # for noise of std sigma
            "code_spread": float(np.linalg.norm(codes - codes.mean(0), axis=1).mean()),
            "test_mse": float(reconstruction_errors(module, data.test_x).mean()),
        }
        r = result[variant]
        r["relative_shift"] = r["code_shift"] / r["code_spread"]  # scale-free: a code can shrink to look stable
        rows.append(reconstruct(module, np.clip(data.test_x[shown] + noise[shown], 0, 1)))
        labels.append(f"{variant} of perturbed")
        run.echo(
            f"{variant:<12} ({spec}): ||J||_F^2 {jac:.3g}, code shift {r['code_shift']:.3f} "
            f"({r['relative_shift']:.3f} of the codes' spread), test MSE {r['test_mse']:.4f}"
        )
    figures.image_rows(
        rows, labels, run.out / "contractive.png", f"{data.name}: test images with Gaussian noise (std {sigma})"
    )
    return {"noise_std": sigma, **result}


EXPERIMENTS = {name: globals()[f"{name}_experiment"] for name in CATALOG}


def run_experiment(
    name: str,
    out,
    data,
    model: str | None = None,
    latent: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> dict:
    """Run course experiment ``name`` (one of ``EXPERIMENTS``) on the images ``data``,
    writing its PNG figures and ``metrics.json`` into ``out``. ``data`` is what
    ``tsae_datasets.images.load_images`` returns (an ``ImageSet``: ``train_x``,
    ``train_y``, ``test_x``, ``test_y`` (N, 28, 28) in [0, 1], ``classes``, ``name``,
    ``describe()``); the library itself reads no dataset, so it does not depend on
    ``tsae_datasets``. ``model``, ``latent`` and ``epochs`` default to the experiment's
    own choices. Returns the metrics (also written to ``out/metrics.json``)."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    spec = CATALOG[name]
    if model is not None:
        get_model_class(model, "image")
    for key, value in (("latent", latent), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    images = data
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(
        images,
        out,
        model or spec.model,
        latent if latent is not None else spec.latent,
        epochs or spec.epochs,
        seed,
        resolve_device(device),
        progress,
        echo,
    )
    echo(f"{name} on {images.describe()}")
    started = time.perf_counter()
    # numpy/scikit-learn BLAS on the same thread budget as torch: a BLAS thread that
    # finds its core busy stalls (PCA on 144 images: 0.28 s on 2 threads with the
    # other core loaded, 0.009 s on 1).
    with torch_threads(threads) as n_threads, threadpool_limits(n_threads):
        metrics = EXPERIMENTS[name](run)
    metrics = {
        "experiment": name,
        "data": images.name,
        "train_images": len(images.train_x),
        "test_images": len(images.test_x),
        "model": run.model,
        "latent": run.latent,
        "epochs": run.epochs,
        "seed": seed,
        "threads": n_threads,
        "seconds": round(time.perf_counter() - started, 1),
        **metrics,
        "fits": run.fits,
    }
    write_json(out / "metrics.json", metrics, "metrics file")
    echo(
        f"wrote {', '.join(sorted(p.name for p in out.glob('*.png')))} and metrics.json to {out} "
        f"({metrics['seconds']} s)"
    )
    return metrics


def _inception_score(probabilities: np.ndarray) -> float:
    """exp(mean KL(p(y|x) || p(y))) of the judge's class probabilities (k, classes):
    1 for samples that all look alike or like no class, up to the number of classes for
    confident and evenly varied ones (Salimans et al. 2016, with this judge)."""
    p = np.clip(probabilities, 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def _one_per_class(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    """Index of the first image of each class present (at most 10)."""
    return np.array([np.flatnonzero(labels == c)[0] for c in range(len(classes)) if (labels == c).any()][:10])


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a - b) ** 2).mean())


def _nearest_mse(images: np.ndarray, reference: np.ndarray) -> float:
    """Mean over ``images`` (k, 28, 28) of the squared distance per pixel to the nearest ``reference`` image."""
    a, b = images.reshape(len(images), -1).astype(np.float64), reference.reshape(len(reference), -1)
    d2 = (a**2).sum(1)[:, None] - 2 * a @ b.T + (b.astype(np.float64) ** 2).sum(1)[None]  # (k, n_ref)
    return float(np.maximum(d2.min(1), 0).mean() / a.shape[1])
