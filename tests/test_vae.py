"""The variational autoencoders (tsae.models.vae): the KL term on hand-checkable codes,
shapes, generation, determinism and model files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tsae import ConfigError, Detector, load
from tsae.models import build_image_model, build_model
from tsae.models.vae import kl_divergence


def test_kl_is_zero_at_the_prior_and_half_a_squared_mean_per_unit():
    zero = torch.zeros(2, 3)
    assert kl_divergence(zero, zero).tolist() == [0.0, 0.0]
    mean = torch.tensor([[1.0, 0.0, 2.0]])  # KL = (1 + 0 + 4) / 2 with unit variances
    assert kl_divergence(mean, torch.zeros(1, 3)).item() == pytest.approx(2.5)
    log_var = torch.full((1, 1), math.log(4.0))  # variance 4: (4 - 1 - log 4) / 2
    assert kl_divergence(torch.zeros(1, 1), log_var).item() == pytest.approx((4 - 1 - math.log(4)) / 2)


def test_shapes_of_the_series_vae():
    model, params = build_model("vae", n_channels=3, window=40, params={"latent": 5})
    x = torch.randn(7, 40, 3)
    mean, log_var = model.encode_dist(x)
    assert mean.shape == log_var.shape == (7, 5) and params["beta"] == 1.0
    assert model(x).shape == (7, 40, 3)
    assert torch.equal(model.encode(x), mean)  # scores use the mean code: deterministic
    assert model.sample(4, torch.Generator().manual_seed(0)).shape == (4, 40, 3)


@pytest.mark.parametrize("name", ["vae-conv", "vae-linear"])
def test_shapes_of_the_image_vaes(name):
    model, _ = build_image_model(name, {"latent": 2, "beta": 0.5})
    images = torch.rand(6, 1, 28, 28)
    assert model.encode(images).shape == (6, 2) and model(images).shape == (6, 1, 28, 28)
    samples = model.sample(3, torch.Generator().manual_seed(0))
    assert samples.shape == (3, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert model.beta == 0.5


@pytest.mark.parametrize("beta", [0, -1.0, "1", float("inf"), True])
def test_beta_must_be_a_positive_number(beta):
    with pytest.raises(ConfigError, match="model parameter beta must be a positive number"):
        build_model("vae", 1, 32, {"beta": beta})


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"v": np.sin(np.arange(1500) * 2 * np.pi / 24) + 0.1 * rng.normal(size=1500)})


def test_the_series_vae_learns_is_deterministic_and_round_trips(frame, tmp_path):
    det = Detector("vae", window=24, epochs=3, threads=1, model_params={"beta": 0.1}).fit(frame)
    again = Detector("vae", window=24, epochs=3, threads=1, model_params={"beta": 0.1}).fit(frame)
    scores = det.score(frame).to_numpy()
    assert np.array_equal(again.score(frame).to_numpy(), scores)
    assert det.training_["best_val_loss"] < 0.5  # far below predicting the mean (1.0)
    det.save(tmp_path / "m.tsae")
    back = load(tmp_path / "m.tsae", threads=1)
    assert back.model_params_["beta"] == 0.1 and np.array_equal(back.score(frame).to_numpy(), scores)
    # a larger beta pulls codes to the prior: a different model
    other = Detector("vae", window=24, epochs=3, threads=1, model_params={"beta": 10.0}).fit(frame)
    assert not np.array_equal(other.score(frame).to_numpy(), scores)
