"""Shared fixtures: a standard synthetic set and one small fitted detector per model."""

import pytest

from tsae import Detector, list_models
from tsae_datasets.synthetic import make_signal

# Small but real: enough training for every model to find the standard set's anomalies.
TINY = dict(window=64, epochs=15, max_windows=1024, patience=5, threads=1)


@pytest.fixture(scope="session")
def signal():
    """The standard synthetic set: 6,000 points x 2 channels, clean first half, then
    spikes, level shifts and frequency changes (two of each), labelled."""
    return make_signal(n=6000, channels=2, anomalies=6, seed=2, kinds=("spike", "level_shift", "frequency_change"))


@pytest.fixture(scope="session")
def train(signal):
    return signal.iloc[: signal.attrs["train_end"]]


@pytest.fixture(scope="session")
def fitted(train):
    """{model name: Detector fitted on the standard set} (built once per session)."""
    return {name: Detector(name, seed=0, **TINY).fit(train) for name in list_models()}
