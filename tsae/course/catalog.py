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
        20,
        (
            "The test images' codes as a scatter coloured by class, for the plain autoencoder "
            "(``--model`` linear or conv2d; mlp has no VAE) and the VAE of the same layout, side by "
            "side: how well the classes separate (silhouette of the true classes, purity of a k-means "
            "clustering) and how far the codes reach (a VAE's stay near N(0, I)). Codes of more "
            "than 2 dimensions are drawn on their first two principal components."
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
    "sparse": ExperimentInfo(
        "linear",
        16,
        10,
        (
            "Sparse autoencoders: the same layout trained plain, with an L1 penalty on the code "
            "(``l1:0.01``) and k-sparse (``ksparse:4``: only the 4 largest units kept). How sparse "
            "each code is (the share of units near zero, active units per image) against what it "
            "costs in test MSE, and a picture of what each code unit draws on its own."
        ),
    ),
    "contractive": ExperimentInfo(
        "linear",
        16,
        10,
        (
            "The contractive autoencoder (``contractive:0.1``, the Frobenius norm of the encoder's "
            "Jacobian, exact for 16 units) against the plain one: the mean Jacobian norm on test "
            "images, and how far the codes move when Gaussian noise (std 0.1) is added to the "
            "images, also relative to the codes' spread; reconstructions of the noisy images."
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
