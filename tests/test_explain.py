"""Detector.explain: each channel's part of the score, summing to it, and naming the
channel that carries an anomaly."""

import warnings

import numpy as np
import pytest
from test_plot_cli import wide

from tsae import ConfigError, Detector


@pytest.fixture(scope="module")
def frame():
    return wide(channels=6, culprit=4).drop(columns="label")


@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
def test_parts_sum_to_the_score_and_name_the_culprit(frame, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=3, max_windows=256, threads=1, score_mode=mode).fit(frame.iloc[:1000])
    parts = det.explain(frame)
    scores = det.score(frame)
    assert list(parts.columns) == det.channels_ and parts.index.equals(frame.index)
    total = parts.sum(axis=1, min_count=1).to_numpy()
    np.testing.assert_allclose(total, scores.to_numpy(), rtol=1e-5, atol=1e-9)  # NaN (causal head) == NaN
    anomaly = parts.loc[1205:1225]
    assert (anomaly.idxmax(axis=1) == "c4").all()  # the channel that jumped
    assert anomaly["c4"].mean() > 0.9 * anomaly.sum(axis=1).mean()


def test_explain_with_continual_learning_is_refused(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector("dense", window=16, epochs=1, max_windows=64, threads=1, learning="on").fit(frame.iloc[:1000])
    with pytest.raises(ConfigError, match="continual learning"):
        det.explain(frame)
