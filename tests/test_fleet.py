"""The engine-neutral grouped layer (tsae.fleet): one model per key, pandas in and out."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tsae import ConfigError, DataError, Detector, loads
from tsae.fleet import (
    MODEL_COLUMNS,
    ModelCache,
    fit_fleet,
    fit_series,
    fleet_threads,
    score_fleet,
    score_series,
    stream_series,
)

PARAMS = {"window": 16, "epochs": 2, "max_windows": 64}
ATOL, RTOL = 1e-5, 1e-6  # the stream's promised tolerance (README)


def series(key: str, n: int = 400, seed: int = 0, period: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.sin(np.arange(n) * 2 * np.pi / period) + 0.1 * rng.normal(size=n)
    values[n // 2] += 4  # a spike to flag
    stamps = pd.date_range("2024-01-01", periods=n, freq="min")
    return pd.DataFrame({"series_id": key, "timestamp": stamps, "value": values})


@pytest.fixture(scope="module")
def fleet() -> pd.DataFrame:
    """Three series, rows shuffled (an engine keeps no order within a group)."""
    frames = [series("b", seed=1), series("a", seed=2, period=25), series("c", seed=3)]
    return pd.concat(frames, ignore_index=True).sample(frac=1, random_state=0)


@pytest.fixture(scope="module")
def models(fleet) -> pd.DataFrame:
    return fit_fleet(fleet, "series_id", PARAMS)


def alone(fleet, key):
    """One key's rows in time order, without the key column: the series as a user has it."""
    rows = fleet[fleet["series_id"] == key].sort_values("timestamp")
    return rows.drop(columns="series_id").reset_index(drop=True)


def test_fit_fleet_gives_each_key_the_model_it_would_get_alone(fleet, models):
    assert list(models["series_id"]) == ["a", "b", "c"]
    assert list(models.columns) == ["series_id", *MODEL_COLUMNS]
    for row in models.itertuples():
        det = Detector(**PARAMS, threads=1).fit(alone(fleet, row.series_id))
        assert row.fingerprint == det.fingerprint()
        assert (row.window, row.cutoff, row.rows, row.error) == (16, det.threshold_.cutoff_, 400, None)
        assert loads(row.model).fingerprint() == row.fingerprint  # bytes round trip, checksum verified


def test_score_fleet_equals_scoring_each_series_alone(fleet, models):
    scores = score_fleet(fleet, models, "series_id")
    assert list(scores.columns) == ["series_id", "timestamp", "score", "probability", "is_anomaly"]
    for key, got in scores.groupby("series_id"):
        own = alone(fleet, key)
        expected = loads(models.set_index("series_id").loc[key, "model"]).assess(own)
        assert list(got["timestamp"]) == list(own["timestamp"])  # time order restored
        np.testing.assert_array_equal(got["score"].to_numpy(), expected["score"].to_numpy())
        np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), expected["is_anomaly"].to_numpy())
    assert scores["is_anomaly"].any()


def test_processes_give_the_same_models_and_scores_as_one_process(fleet, models):
    models_2 = fit_fleet(fleet, "series_id", PARAMS, jobs=2)
    assert list(models_2["fingerprint"]) == list(models["fingerprint"])  # the bytes differ: fit seconds
    assert list(models_2["cutoff"]) == list(models["cutoff"])
    pd.testing.assert_frame_equal(
        score_fleet(fleet, models_2, "series_id", jobs=2), score_fleet(fleet, models, "series_id")
    )


def test_keys_of_several_columns(fleet):
    two = fleet.assign(site=np.where(fleet["series_id"] == "a", "x", "y"))
    models = fit_fleet(two, ["site", "series_id"], PARAMS)
    assert list(zip(models["site"], models["series_id"])) == [("x", "a"), ("y", "b"), ("y", "c")]
    scores = score_fleet(two, models, ["site", "series_id"])
    assert len(scores) == len(two) and list(scores.columns[:2]) == ["site", "series_id"]


def test_a_series_that_cannot_fit_is_recorded_not_fatal(fleet):
    short = pd.concat([fleet, series("d", n=30)])
    models = fit_fleet(short, "series_id", PARAMS, on_error="record")
    failed = models.set_index("series_id").loc["d"]
    assert failed["model"] is None and "series series_id=d has 30 rows" in failed["error"]
    assert models.set_index("series_id").loc["a", "error"] is None
    with pytest.raises(DataError, match="series series_id=d: its model did not fit: series series_id=d has 30"):
        score_fleet(short, models, "series_id")
    with pytest.raises(DataError, match="series series_id=d has 30 rows"):
        fit_fleet(short, "series_id", PARAMS)  # on_error="raise": the first failure stops


def test_the_fit_warnings_are_kept_per_series(models):
    # 400 rows: the cutoff of percentile:99.5 rests on a single validation score
    assert all("too few to trust" in text for text in models["warnings"])


def test_a_key_without_a_model_is_named(fleet, models):
    with pytest.raises(DataError, match="series series_id=c: no model in the models table"):
        score_fleet(fleet, models[models["series_id"] != "c"], "series_id")


@pytest.mark.parametrize(
    "rows, words",
    [
        (pd.DataFrame({"timestamp": [1], "value": [1.0]}), "lack the key column"),
        (pd.DataFrame({"series_id": [None], "timestamp": [1], "value": [1.0]}), "has no key"),
    ],
)
def test_rows_without_a_key_are_refused(rows, words):
    with pytest.raises(DataError, match=words):
        fit_fleet(rows, "series_id", PARAMS)


def test_rows_of_two_keys_are_not_one_series(fleet):
    with pytest.raises(DataError, match="more than one key"):
        fit_series(fleet, "series_id", PARAMS)
    with pytest.raises(DataError, match="no rows"):
        fit_series(fleet.iloc[:0], "series_id", PARAMS)


def test_a_stream_in_shuffled_micro_batches_equals_the_batch_scores(fleet, models):
    """Each micro-batch arrives unordered; the state (JSON text) carries the rest."""
    rows = fleet[fleet["series_id"] == "b"].sort_values("timestamp")
    model = models[models["series_id"] == "b"]
    state, parts = None, []
    for start in range(0, len(rows), 90):
        batch = rows.iloc[start : start + 90].sample(frac=1, random_state=start)
        out, state = stream_series(batch, model, state, "series_id")
        parts.append(out)
        nothing, state = stream_series(rows.iloc[:0], model, state, "series_id")  # a call without rows
        assert nothing.empty
        assert json.loads(state)["rows"] == min(start + 90, len(rows))
    out, state = stream_series(rows.iloc[:0], model, state, "series_id", final=True, key={"series_id": "b"})
    assert state is None
    streamed = pd.concat([*parts, out], ignore_index=True)
    assert list(streamed["row"]) == list(range(len(rows)))
    assert set(streamed["series_id"]) == {"b"}
    batch = score_series(rows, model, "series_id")
    np.testing.assert_allclose(streamed["score"], batch["score"], rtol=RTOL, atol=ATOL)


def test_a_state_is_not_resumed_with_another_model(fleet, models):
    rows = fleet[fleet["series_id"] == "b"].sort_values("timestamp")
    _, state = stream_series(rows.iloc[:50], models[models["series_id"] == "b"], None, "series_id")
    with pytest.raises(ConfigError, match="another model"):
        stream_series(rows.iloc[50:60], models[models["series_id"] == "a"], state, "series_id")


def test_the_cache_loads_a_model_once_and_keeps_the_recent_ones(models):
    cache = ModelCache(size=2)
    a, b, c = models["model"]
    first = cache.get(a)
    assert cache.get(a) is first
    cache.get(b), cache.get(c)  # a is the least recently used: dropped
    assert cache.get(a) is not first
    assert first.threads == 1  # one series per core


def test_fleet_threads_follow_tsae_threads():
    code = "from tsae.fleet import fleet_threads; print(fleet_threads())"
    for env, expected in (({}, "1"), ({"TSAE_THREADS": "3"}, "3")):
        done = subprocess.run([sys.executable, "-c", code], env={"PATH": "", **env}, capture_output=True, text=True)
        assert done.stdout.strip() == expected, done.stderr
    assert fleet_threads() >= 1


def test_the_grouped_layer_imports_no_engine():
    code = "import sys, tsae.fleet; print([m for m in ('pyspark', 'dask', 'ray') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
