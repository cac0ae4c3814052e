"""The variational autoencoders (tsae.models.vae): the KL term on hand-checkable codes,
shapes, generation, determinism and model files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tsae import ConfigError, Detector, load, loads
from tsae.models import build_image_model, build_model, squared_error
from tsae.models.vae import LOG_VAR_MAX, MAX_MC_SAMPLES, kl_divergence
from tsae_cli.main import app


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


# Monte-Carlo reconstruction probability (mc_samples): Donut's score


def test_monte_carlo_score_of_a_certain_code_is_the_error_of_the_mean_code():
    model, _ = build_model("vae", n_channels=2, window=16, params={"latent": 3, "mc_samples": 8})
    with torch.no_grad():  # the log-variance half of the code layer: -60 whatever the input
        model.to_latent.weight[3:] = 0.0
        model.to_latent.bias[3:] = -60.0
        x = torch.randn(4, 16, 2)
        assert torch.allclose(squared_error(model, x), (model(x) - x).square(), rtol=1e-5, atol=1e-7)


def test_monte_carlo_score_estimates_the_expected_error_under_the_code_distribution():
    """E over z ~ N(mean, var) of (x - decode(z))^2, estimated apart with 20,000 fresh draws."""
    torch.manual_seed(0)
    model, _ = build_model("vae", n_channels=1, window=16, params={"latent": 2, "mc_samples": MAX_MC_SAMPLES})
    x = torch.randn(3, 16, 1)
    with torch.no_grad():  # a wide code distribution and a decoder sensitive to it
        model.to_latent.bias[2:] = 2.0
        model.from_latent.weight *= 10
        mean, log_var = model.encode_dist(x)
        z = mean[:, None] + (0.5 * log_var).exp()[:, None] * torch.randn(
            3, 20_000, 2, generator=torch.Generator().manual_seed(1)
        )
        expected = (model.decode(z.reshape(-1, 2)).reshape(3, 20_000, 16, 1) - x[:, None]).square().mean(dim=(1, 2, 3))
        got = squared_error(model, x).mean(dim=(1, 2))
        plain = (model(x) - x).square().mean(dim=(1, 2))
    assert torch.allclose(got, expected, rtol=0.03)
    assert not torch.allclose(plain, expected, rtol=0.03)  # the mean code's error is another quantity


def test_monte_carlo_score_of_a_window_depends_on_that_window_only():
    model, _ = build_model("vae", n_channels=2, window=16, params={"mc_samples": 5})
    x = torch.randn(6, 16, 2)
    with torch.no_grad():
        together = squared_error(model, x)
        alone = torch.cat([squared_error(model, x[i : i + 1]) for i in range(6)])
        assert torch.allclose(together, alone, rtol=1e-5, atol=1e-7)
        assert torch.equal(squared_error(model, x), together)  # the same draws every call


def test_monte_carlo_score_stays_finite_far_outside_the_training_data():
    """A burst thousands of scales high (seen on NAB): the log-variance is bounded, so exp cannot overflow."""
    model, _ = build_model("vae", n_channels=1, window=16, params={"mc_samples": 4})
    with torch.no_grad():
        model.to_latent.bias[16:] = 500.0  # a log-variance whose exp is inf in float32
        x = torch.full((2, 16, 1), 4000.0)
        assert torch.isfinite(squared_error(model, x)).all()
        assert model.encode_dist(x)[1].max().item() == LOG_VAR_MAX


@pytest.mark.parametrize("name", ["vae-conv", "vae-linear"])
def test_image_vaes_score_by_monte_carlo_too(name):
    from tsae.course.imagefit import reconstruction_errors

    images = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    torch.manual_seed(0)
    mc, _ = build_image_model(name, {"mc_samples": 8})
    plain, _ = build_image_model(name)
    plain.load_state_dict(mc.state_dict())
    scores = reconstruction_errors(mc, images)
    assert scores.shape == (5,) and np.array_equal(reconstruction_errors(mc, images), scores)
    assert not np.allclose(scores, reconstruction_errors(plain, images))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "mc_samples must be a whole number >= 0"),
        (1.5, "mc_samples must be a whole number >= 0"),
        (True, "mc_samples must be a whole number >= 0"),
        (MAX_MC_SAMPLES + 1, f"mc_samples must be at most {MAX_MC_SAMPLES}"),
    ],
)
def test_mc_samples_is_checked(value, message):
    with pytest.raises(ConfigError, match=message):
        build_model("vae", 1, 32, {"mc_samples": value})


def test_only_variational_models_take_mc_samples():
    with pytest.raises(ConfigError, match="model 'conv1d' has no parameter mc_samples"):
        build_model("conv1d", 1, 32, {"mc_samples": 4})


@pytest.mark.filterwarnings("ignore:input. the cutoff")  # 300 validation scores at window 48: expected
@pytest.mark.parametrize("window", [24, 48])  # stride auto: 1 and 3
def test_monte_carlo_scores_are_deterministic_and_the_same_batch_chunked_streamed_and_loaded(frame, tmp_path, window):
    settings = dict(window=window, epochs=2, threads=1, model_params={"beta": 0.1, "mc_samples": 4})
    det = Detector("vae", **settings).fit(frame)
    assert det.stride_ == window // 16
    scores = det.score(frame).to_numpy()
    assert np.array_equal(Detector("vae", **settings).fit(frame).score(frame).to_numpy(), scores)
    scorer = det.streaming(threads=1)
    parts = [scorer.update_many(frame.iloc[i : i + 97]) for i in range(0, len(frame), 97)] + [scorer.flush()]
    assert np.array_equal(np.concatenate([p["score"].to_numpy() for p in parts]), scores)
    scorer = det.streaming(threads=1)
    rows = [scorer.update(r) for r in frame.iloc[:300].to_dict("records")]
    streamed = [e.score for e in rows if e.row is not None] + list(scorer.flush()["score"])
    # single unstrided windows skip the batch padding: float32 rounding (README: 1e-5 absolute, 1e-6 relative)
    np.testing.assert_allclose(streamed, det.score(frame.iloc[:300]).to_numpy(), rtol=1e-6, atol=1e-5)
    det.save(tmp_path / "mc.tsae")
    back = load(tmp_path / "mc.tsae", threads=1)
    assert back.model_params_["mc_samples"] == 4 and np.array_equal(back.score(frame).to_numpy(), scores)
    det.module_.mc_samples = 0  # the same weights scored by the mean code: other scores
    assert not np.allclose(det.score(frame).to_numpy(), scores)


def test_the_command_line_sets_mc_samples(frame, tmp_path):
    frame.to_csv(tmp_path / "train.csv", index=False)
    fit = ["fit", str(tmp_path / "train.csv"), "-o", str(tmp_path / "m.tsae"), "--window", "24", "--epochs", "1", "-q"]
    result = CliRunner().invoke(app, [*fit, "--arch", "vae", "--mc-samples", "4"])
    assert result.exit_code == 0, result.output
    assert loads((tmp_path / "m.tsae").read_bytes()).model_params_["mc_samples"] == 4
    result = CliRunner().invoke(app, [*fit, "--mc-samples", "4"])  # the default conv1d
    assert result.exit_code == 1 and "error: model 'conv1d' has no parameter mc_samples" in result.output
