"""The course experiments' names, defaults and help texts (no torch: `tsae --help` reads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExperimentInfo:
    """What the command line shows and defaults to for one experiment."""

    model: str | None  # default model (None: linear, mlp and conv2d)
    latent: int | None  # default latent size (None: the model's own default)
    epochs: int  # default epochs (each experiment finishes in under 2 minutes on MNIST, 1 thread)
    help: str  # what it draws and measures


#: name -> defaults and help, in the order the course teaches them.
CATALOG = {
    "reconstruct": ExperimentInfo(
        None,
        None,
        10,
        (
            "Originals above reconstructions, and the course's table: test MSE for each model "
            "(``--model``, default linear, mlp and conv2d) at latent 2 and 16 (``--latent``)."
        ),
    ),
    "latent": ExperimentInfo(
        "linear",
        2,
        30,
        (
            "The test images' codes as a scatter coloured by class, and how well the classes separate "
            "in the latent space: silhouette of the true classes, and the purity of a k-means "
            "clustering (codes of more than 2 dimensions are drawn on their first two principal "
            "components)."
        ),
    ),
    "generate": ExperimentInfo(
        "linear",
        2,
        20,
        (
            "Generation from the latent space: a plain autoencoder (``--model`` linear or conv2d) "
            "and the VAE of the same layout decode the same ``n`` codes drawn from N(0, I), and the "
            "plain one also codes drawn from a Gaussian fitted to its training codes: three grids. "
            "How digit-like and varied each set is, as rated by a logistic regression trained on the "
            "training images: the inception score (exp of the mean KL divergence between each "
            "sample's class probabilities and their mean: high when samples are confidently "
            "classified and spread over the classes), the mean top-class probability and the "
            "classes covered; and the mean squared distance from each sample to its nearest "
            "training image."
        ),
    ),
    "denoise": ExperimentInfo(
        "conv2d",
        None,
        10,
        (
            "The course's dropout-mask denoiser: the same model trained with random masking of input "
            "pixels (``mask:0.5``, half the pixels set to 0) and without; both rebuild masked test "
            "images, scored by MSE to the clean images."
        ),
    ),
    "interpolate": ExperimentInfo(
        "conv2d",
        16,
        15,
        (
            "Decode a straight line between two test images' codes, next to the pixel-space crossfade "
            "of the same two images. How far each path strays from what the model knows: the mean "
            "reconstruction error of its frames (lower = closer to the data)."
        ),
    ),
    "anomaly": ExperimentInfo(
        "conv2d",
        None,
        30,
        (
            "One-class detection: for each class, train on that class's training images only and score "
            "every test image by reconstruction error (anomaly = any other class). AUROC per class and "
            "mean, side by side with scikit-learn baselines fitted on the same images: IsolationForest "
            "(-score_samples), PCA keeping 90% of the variance (reconstruction error) and OneClassSVM "
            "(RBF, nu 0.1, -decision_function). Also the cutoff a deployment would use: the 95th "
            "percentile of the training images' errors."
        ),
    ),
}
