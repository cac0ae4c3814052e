"""The distance to the nearest training window (tsae.neighbors) and its place in scores:
features, the distance against a brute-force one, the reference's bounds, the level,
model files (tampered and old ones) and the stream."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from tsae import Detector, ModelFileError, load, loads
from tsae import neighbors as nb
from tsae.neighbors import NearestWindows, block_factor, features
from tsae.persist import load_model_file, save_model_file
from tsae_cli.main import app


def test_features_are_block_means_z_normalised_per_channel():
    x = torch.randn(3, 70, 2)  # factor 70 // 16 = 4: 17 blocks, the last 2 rows left out
    f = features(x, 4)
    assert f.shape == (3, 17, 2)
    blocks = x[:, :68].reshape(3, 17, 4, 2).mean(dim=2)
    expected = (blocks - blocks.mean(dim=1, keepdim=True)) / blocks.std(dim=1, keepdim=True)
    assert torch.allclose(f, expected, atol=1e-5)
    assert torch.allclose(features(3 * x + 5, 4), f, atol=1e-4)  # the shape, not the level or scale


@pytest.mark.parametrize("chunk", [nb.REFERENCE_CHUNK, 50], ids=["one-chunk", "chunked"])
def test_distance_is_the_nearest_reference_window_brute_force(monkeypatch, chunk):
    monkeypatch.setattr(nb, "REFERENCE_CHUNK", chunk)  # 185 reference windows: 1 or 4 chunks
    rng = np.random.default_rng(0)
    train = rng.normal(size=(600, 2)).astype(np.float32)
    near = NearestWindows.fit(train, train[:100], 48, weight=1.0, device=torch.device("cpu"))
    near.level = 1.0  # raw distances
    factor = block_factor(48)
    assert near.factor == factor == 3 and len(near.reference) == (600 - 48) // 3 + 1
    queries = rng.normal(size=(5, 48, 2)).astype(np.float32)
    queries[0] = train[30:78]  # a training window starting at a multiple of the factor: distance 0
    got = near.distances(torch.from_numpy(queries))
    ref = near.reference.numpy().reshape(len(near.reference), -1)
    for q, d in zip(queries, got.numpy()):
        fq = features(torch.from_numpy(q[None]), factor).numpy().reshape(-1)
        assert d == pytest.approx(np.sqrt(((ref - fq) ** 2).sum(axis=1)).min(), rel=1e-3, abs=2e-3)
    assert got[0] == 0 and (got[1:] > 1).all()


def test_the_reference_is_bounded(monkeypatch):
    monkeypatch.setattr(nb, "MAX_REFERENCE", 50)
    train = np.random.default_rng(1).normal(size=(5000, 1)).astype(np.float32)
    near = NearestWindows.fit(train, train[:100], 32, weight=1.0, device=torch.device("cpu"))
    assert 40 <= len(near.reference) <= 50  # a larger step, the same features
    monkeypatch.setattr(nb, "MAX_VALUES", 16 * 3 * 20)  # 16 blocks x 3 channels: 20 windows
    wide = np.repeat(train, 3, axis=1)
    near = NearestWindows.fit(wide, wide[:100], 32, weight=1.0, device=torch.device("cpu"))
    assert len(near.reference) <= 20


def test_the_level_is_the_mean_distance_of_training_windows_to_ones_apart_brute_force():
    rng = np.random.default_rng(2)
    series = (np.sin(np.arange(3000) * 2 * np.pi / 40)[:, None] + 0.2 * rng.normal(size=(3000, 1))).astype(np.float32)
    window, train = 40, series[:2000]
    near = NearestWindows.fit(train, series[2000:], window, weight=1.0, device=torch.device("cpu"))
    factor = block_factor(window)
    windows = np.lib.stride_tricks.sliding_window_view(train, window, axis=0).transpose(0, 2, 1)  # (1961, 40, 1)
    feats = features(torch.from_numpy(np.ascontiguousarray(windows)), factor).numpy().reshape(len(windows), -1)
    ref_starts = np.arange(0, len(windows), factor)  # 1,961 windows: every one a query (<= 2,048)
    assert np.allclose(near.reference.numpy().reshape(len(ref_starts), -1), feats[ref_starts], atol=1e-6)
    nearest = [
        np.sqrt(((feats[ref_starts] - f) ** 2).sum(axis=1))[np.abs(ref_starts - s) >= window].min()
        for s, f in enumerate(feats)
    ]
    assert near.level == pytest.approx(np.mean(nearest), rel=1e-4)
    near.level = 1.0
    assert near.distances(torch.from_numpy(np.ascontiguousarray(windows[::factor]))).max() < 1e-3  # own copies


def test_the_level_falls_back_on_validation_windows_when_training_windows_all_overlap():
    rng = np.random.default_rng(3)
    series = rng.normal(size=(300, 1)).astype(np.float32)
    window = 64  # training part of 100 rows: every pair of its windows overlaps
    near = NearestWindows.fit(series[:100], series[100:], window, weight=1.0, device=torch.device("cpu"))
    windows = np.lib.stride_tricks.sliding_window_view(series[100:], window, axis=0).transpose(0, 2, 1)
    distances = near.distances(torch.from_numpy(np.ascontiguousarray(windows)))
    assert distances.mean().item() == pytest.approx(1.0, rel=1e-4)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    v = np.sin(np.arange(3000) * 2 * np.pi / 50) + 0.1 * rng.normal(size=3000)
    v[2500:2550] = np.sin(np.arange(50) * 2 * np.pi / 25)  # a shape never seen in training
    return pd.DataFrame({"v": v})


@pytest.fixture(scope="module")
def fitted(frame):
    """{discord weight: Detector} trained alike (the weight changes scoring only)."""
    return {d: Detector(window=50, discord=d, epochs=3, threads=1).fit(frame.iloc[:2000]) for d in (0.0, 2.0)}


def test_the_weight_mixes_the_distance_into_scores_and_not_the_training(fitted, frame):
    off, on = fitted[0.0], fitted[2.0]
    assert off.neighbors_ is None and on.neighbors_.weight == 2.0
    assert all(torch.equal(a, b) for a, b in zip(off.module_.state_dict().values(), on.module_.state_dict().values()))
    s_off, s_on = off.score(frame).to_numpy(), on.score(frame).to_numpy()
    assert not np.allclose(s_off, s_on)
    assert s_on[2500:2550].mean() > 5 * np.median(s_on[2000:2500])  # the unseen shape stands out


def test_stream_and_chunks_equal_batch_with_the_distance(fitted, frame):
    det = fitted[2.0]
    assert det.stride_ == 3
    scores = det.score(frame).to_numpy()
    scorer = det.streaming(threads=1)
    parts = [scorer.update_many(frame.iloc[i : i + 211]) for i in range(0, len(frame), 211)] + [scorer.flush()]
    assert np.array_equal(np.concatenate([p["score"].to_numpy() for p in parts]), scores)
    parts = det.explain(frame)  # each channel's part, the distance's included
    np.testing.assert_allclose(parts.sum(axis=1).to_numpy(), scores, rtol=1e-6, atol=1e-6)


def test_model_file_round_trip_and_fingerprint(fitted, frame, tmp_path):
    det = fitted[2.0]
    det.save(tmp_path / "m.tsae")
    back = load(tmp_path / "m.tsae", threads=1)
    assert back.discord == 2.0 and back.neighbors_.to_dict() == det.neighbors_.to_dict()
    assert np.array_equal(back.score(frame).to_numpy(), det.score(frame).to_numpy())
    assert back.fingerprint() == det.fingerprint() != fitted[0.0].fingerprint()


def _rewrite(path, out, change):
    header, weights = load_model_file(path)
    change(header, weights)
    save_model_file(
        out, {k: v for k, v in header.items() if k not in ("format", "format_version", "checksum")}, weights
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, w: h["neighbors"].update(weight=-1), "neighbors.weight"),
        (lambda h, w: h["neighbors"].update(factor=7), "field 'neighbors.factor' must be 3 for window 50"),
        (lambda h, w: h["neighbors"].update(count=h["neighbors"]["count"] + 1), "weight 'neighbors.reference' is"),
        (lambda h, w: w.pop("neighbors.reference"), "lack 'neighbors.reference'"),
        (lambda h, w: h.pop("neighbors"), "have extra 'neighbors.reference'"),
        (lambda h, w: w["neighbors.reference"].fill_(float("nan")), "'neighbors.reference' holds non-finite"),
    ],
)
def test_a_wrong_neighbors_field_or_reference_is_refused(fitted, tmp_path, change, message):
    fitted[2.0].save(tmp_path / "m.tsae")
    _rewrite(tmp_path / "m.tsae", tmp_path / "bad.tsae", change)
    with pytest.raises(ModelFileError, match=message):
        load(tmp_path / "bad.tsae")


def test_files_from_before_the_distance_load_without_it(fitted, frame, tmp_path):
    fitted[0.0].save(tmp_path / "m.tsae")
    _rewrite(tmp_path / "m.tsae", tmp_path / "old.tsae", lambda h, w: h["params"].pop("discord"))
    old = load(tmp_path / "old.tsae", threads=1)
    assert old.discord == 0.0 and old.neighbors_ is None
    assert np.array_equal(old.score(frame).to_numpy(), fitted[0.0].score(frame).to_numpy())


def test_the_command_line_sets_the_weight(frame, tmp_path):
    frame.iloc[:2000].to_csv(tmp_path / "train.csv", index=False)
    fit = ["fit", str(tmp_path / "train.csv"), "-o", str(tmp_path / "m.tsae"), "--window", "50", "--epochs", "1", "-q"]
    result = CliRunner().invoke(app, [*fit, "--discord", "0"])
    assert result.exit_code == 0, result.output
    assert loads((tmp_path / "m.tsae").read_bytes()).neighbors_ is None
    info = CliRunner().invoke(app, ["info", str(tmp_path / "m.tsae"), "--json"])
    assert json.loads(info.output)["params"]["discord"] == 0.0
    assert CliRunner().invoke(app, [*fit, "--discord", "-1"]).exit_code != 0
