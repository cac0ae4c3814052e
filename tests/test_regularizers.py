"""The code regularisers (tsae.regularizers): values on hand-checkable cases, and every
model trained, saved and loaded with them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tsae import ConfigError, Detector, list_models, load, loads
from tsae.persist import load_model_file, save_model_file
from tsae.regularizers import EXACT_UNITS, KSparse, Regularizer, jacobian_norm
from tsae_cli.main import app


@pytest.mark.parametrize("spec", ["none", "l1:0.001", "ksparse:4", "contractive:0.01"])
def test_a_spec_reads_back_as_written(spec):
    assert Regularizer.parse(str(Regularizer.parse(spec))) == Regularizer.parse(spec)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("l2:1", "none, l1:LAMBDA, ksparse:K or contractive:LAMBDA"),
        ("l1", "none, l1:LAMBDA"),
        ("l1:x", "needs a number"),
        ("l1:-1", "finite LAMBDA >= 0"),
        ("contractive:nan", "finite LAMBDA >= 0"),
        ("ksparse:2.5", "whole number of units"),
        ("ksparse:0", "whole number of units"),
        (3, "must be a string"),
    ],
)
def test_a_bad_spec_is_refused_in_one_line(spec, words):
    with pytest.raises(ConfigError, match=words):
        Regularizer.parse(spec)


def test_l1_is_lambda_times_the_mean_absolute_code_sum():
    z = torch.tensor([[1.0, -2.0], [0.0, 3.0]])  # sums of |z|: 3 and 3
    assert Regularizer.parse("l1:0.5").penalty(None, None, z).item() == pytest.approx(1.5)


def test_k_sparse_keeps_the_k_largest_units():
    z = torch.tensor([[1.0, 5.0, 3.0, 2.0], [-1.0, -5.0, 0.5, 4.0]])
    assert KSparse(2)(z).tolist() == [[0.0, 5.0, 3.0, 0.0], [0.0, 0.0, 0.5, 4.0]]


@pytest.mark.parametrize("units", [3, EXACT_UNITS])
def test_the_contractive_penalty_of_a_linear_encoder_is_its_squared_frobenius_norm(units):
    """Exact up to EXACT_UNITS code units: J = W for every input."""
    torch.manual_seed(0)
    encoder = torch.nn.Linear(5, units)
    x = torch.randn(7, 5, requires_grad=True)
    got = jacobian_norm(x, encoder(x))
    assert got.item() == pytest.approx(encoder.weight.square().sum().item(), rel=1e-6)
    got.backward()  # differentiable (double backward)
    assert encoder.weight.grad is not None


def test_beyond_exact_units_the_estimate_is_unbiased():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(5, EXACT_UNITS + 4)
    x = torch.randn(1, 5).repeat(20000, 1).requires_grad_(True)  # one probe per copy: the mean converges
    got = jacobian_norm(x, encoder(x), torch.Generator().manual_seed(1))
    assert got.item() == pytest.approx(encoder.weight.square().sum().item(), rel=0.03)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"v": np.sin(np.arange(1200) * 2 * np.pi / 16) + 0.1 * rng.normal(size=1200)})


@pytest.mark.parametrize("spec", ["l1:0.001", "ksparse:4", "contractive:0.01"])
@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_saves_and_loads_with_each_regularizer(name, spec, frame, tmp_path):
    det = Detector(name, window=16, epochs=1, max_windows=64, threads=1, regularizer=spec).fit(frame)
    again = Detector(name, window=16, epochs=1, max_windows=64, threads=1, regularizer=spec).fit(frame)
    scores = det.score(frame).to_numpy()
    assert np.array_equal(again.score(frame).to_numpy(), scores)  # same seed, same model
    det.save(tmp_path / "m.tsae")
    back = load(tmp_path / "m.tsae", threads=1)
    assert back.regularizer == spec and np.array_equal(back.score(frame).to_numpy(), scores)
    assert isinstance(back.module_.code_filter, KSparse) == spec.startswith("ksparse")
    plain = Detector(name, window=16, epochs=1, max_windows=64, threads=1).fit(frame)
    assert not np.array_equal(plain.score(frame).to_numpy(), scores)  # the regulariser changed the training


def test_k_sparse_must_leave_out_some_units(frame):
    with pytest.raises(ConfigError, match="ksparse:8 keeps every unit of a 8-unit code"):
        Detector("dense", window=16, epochs=1, threads=1, regularizer="ksparse:8").fit(frame)


def test_a_file_written_before_strides_and_regularizers_still_loads(frame, tmp_path):
    det = Detector("dense", window=16, epochs=1, max_windows=64, threads=1).fit(frame)
    det.save(tmp_path / "m.tsae")
    header, weights = load_model_file(tmp_path / "m.tsae")
    for key in ("stride", "regularizer"):
        del header["params"][key]
    save_model_file(
        tmp_path / "old.tsae",
        {k: v for k, v in header.items() if k not in ("format", "format_version", "checksum")},
        weights,
    )
    old = load(tmp_path / "old.tsae", threads=1)
    assert old.regularizer == "none"
    assert np.array_equal(old.score(frame).to_numpy(), det.score(frame).to_numpy())


def test_the_command_line_trains_with_a_regularizer(frame, tmp_path):
    frame.to_csv(tmp_path / "train.csv", index=False)
    fit = ["fit", str(tmp_path / "train.csv"), "-o", str(tmp_path / "m.tsae"), "--window", "16", "--epochs", "1", "-q"]
    result = CliRunner().invoke(app, [*fit, "--regularizer", "l1:1e-3"])
    assert result.exit_code == 0, result.output
    assert loads((tmp_path / "m.tsae").read_bytes()).regularizer == "l1:1e-3"
    result = CliRunner().invoke(app, [*fit, "--regularizer", "l2:1"])
    assert result.exit_code == 1 and "error: regularizer must be none, l1:LAMBDA" in result.output
    info = CliRunner().invoke(app, ["info", str(tmp_path / "m.tsae"), "--json"])
    assert json.loads(info.output)["params"]["regularizer"] == "l1:1e-3"
