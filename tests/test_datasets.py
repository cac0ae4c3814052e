"""tsae_datasets: the synthetic generator and the loaders of the shared labelled data."""

import json

import numpy as np
import pandas as pd
import pytest

from tsae.errors import ConfigError, DataError
from tsae_datasets import shared
from tsae_datasets.shared import available, list_series, load_series, shared_root
from tsae_datasets.synthetic import KINDS, make_signal

needs_shared = pytest.mark.skipif(not available(), reason="shared/datasets not found (set TSAE_SHARED_DATASETS)")


def _labels_from(anomalies, n):
    label = np.zeros(n, dtype=np.int64)
    for a in anomalies:
        label[a["start"] : a["end"] + 1] = 1
    return label


# --------------------------------------------------------------------------- make_signal


def test_shape_columns_dtypes_and_time_axis():
    df = make_signal(n=6000, channels=3, anomalies=4, seed=0, freq="5min", train_fraction=0.5)
    assert df.shape == (6000, 5)
    assert list(df.columns) == ["timestamp", "ch0", "ch1", "ch2", "label"]
    assert pd.api.types.is_datetime64_dtype(df["timestamp"])
    assert all(df[c].dtype == np.float64 for c in ("ch0", "ch1", "ch2"))
    assert pd.api.types.is_integer_dtype(df["label"]) and set(df["label"].unique()) == {0, 1}
    assert df["timestamp"].iloc[0] == pd.Timestamp("2024-01-01")
    assert (df["timestamp"].diff().iloc[1:] == pd.Timedelta("5min")).all()
    assert df.attrs["train_end"] == 3000 and isinstance(df.attrs["train_end"], int)
    assert len(df.attrs["anomalies"]) == 4
    assert np.isfinite(df[["ch0", "ch1", "ch2"]].to_numpy()).all()


def test_default_call_and_train_fraction():
    df = make_signal()
    assert df.shape == (20_000, 5) and df.attrs["train_end"] == 10_000
    assert len(df.attrs["anomalies"]) == 8
    assert make_signal(n=5000, anomalies=2, train_fraction=0.3).attrs["train_end"] == 1500


def test_same_seed_gives_identical_frames():
    a = make_signal(n=5000, seed=7, anomalies=5)
    b = make_signal(n=5000, seed=7, anomalies=5)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs


def test_different_seeds_differ():
    a = make_signal(n=5000, seed=1, anomalies=5)
    b = make_signal(n=5000, seed=2, anomalies=5)
    assert not np.allclose(a["ch0"].to_numpy(), b["ch0"].to_numpy())
    assert [x["start"] for x in a.attrs["anomalies"]] != [x["start"] for x in b.attrs["anomalies"]]


def test_labels_match_the_anomaly_records():
    df = make_signal(n=20_000, channels=3, anomalies=12, seed=3)
    recs = df.attrs["anomalies"]
    assert len(recs) == 12
    assert np.array_equal(df["label"].to_numpy(), _labels_from(recs, len(df)))
    starts = [r["start"] for r in recs]
    assert starts == sorted(starts)
    for prev, nxt in zip(recs, recs[1:]):
        assert prev["end"] < nxt["start"], "anomalies overlap"
    for r in recs:
        assert 0 <= r["start"] <= r["end"] < len(df)
        assert r["kind"] in KINDS
        assert r["channels"] and set(r["channels"]) <= {"ch0", "ch1", "ch2"}
    json.dumps(df.attrs)  # plain Python types only


@pytest.mark.parametrize("fraction", [0.5, 0.3, 0.7])
def test_training_prefix_is_clean(fraction):
    df = make_signal(n=20_000, anomalies=8, seed=5, train_fraction=fraction)
    te = df.attrs["train_end"]
    assert te == int(20_000 * fraction)
    assert all(r["start"] >= te for r in df.attrs["anomalies"])
    assert df["label"].iloc[:te].sum() == 0


def test_anomalies_change_exactly_the_labelled_rows():
    clean = make_signal(n=8000, channels=3, anomalies=0, seed=11)
    dirty = make_signal(n=8000, channels=3, anomalies=6, seed=11)
    assert clean["label"].sum() == 0 and not clean.attrs["anomalies"]
    chs = ["ch0", "ch1", "ch2"]
    normal = dirty["label"].to_numpy() == 0
    assert np.array_equal(clean.loc[normal, chs].to_numpy(), dirty.loc[normal, chs].to_numpy())
    for r in dirty.attrs["anomalies"]:
        rows = slice(r["start"], r["end"] + 1)
        changed = clean.loc[:, r["channels"]].iloc[rows] != dirty.loc[:, r["channels"]].iloc[rows]
        assert changed.to_numpy().any(), r
        untouched = [c for c in chs if c not in r["channels"]]
        assert (clean[untouched].iloc[rows] == dirty[untouched].iloc[rows]).all().all(), r


def test_kinds_cycle_and_behave_as_described():
    df = make_signal(n=12_000, channels=3, anomalies=6, seed=2)
    clean = make_signal(n=12_000, channels=3, anomalies=0, seed=2)
    recs = {r["kind"]: r for r in df.attrs["anomalies"]}
    assert set(recs) == set(KINDS)
    te = df.attrs["train_end"]

    def seg(frame, r):
        return frame[r["channels"][0]].to_numpy()[r["start"] : r["end"] + 1]

    sd = {c: clean[c].iloc[:te].std() for c in ("ch0", "ch1", "ch2")}
    r = recs["spike"]
    assert 1 <= r["end"] - r["start"] + 1 <= 5
    assert np.abs(seg(df, r) - seg(clean, r)).min() > 2.5 * sd[r["channels"][0]]
    r = recs["level_shift"]
    assert 150 <= r["end"] - r["start"] + 1 <= 500
    assert abs(np.mean(seg(df, r) - seg(clean, r))) > sd[r["channels"][0]]
    r = recs["flatline"]
    assert 100 <= r["end"] - r["start"] + 1 <= 200 and np.ptp(seg(df, r)) == 0
    r = recs["noise_burst"]
    ratio = np.var(np.diff(seg(df, r))) / np.var(np.diff(seg(clean, r)))
    assert ratio > 2.5
    r = recs["frequency_change"]
    assert r["channels"] == ["ch0", "ch1", "ch2"]
    r = recs["correlation_break"]
    assert len(r["channels"]) == 1
    a, b = seg(df, r), seg(clean, r)  # same range, different course
    col = clean[r["channels"][0]].iloc[:te]
    assert col.min() - 0.5 * sd[r["channels"][0]] < a.min() and a.max() < col.max() + 0.5 * sd[r["channels"][0]]
    assert np.abs(a - b).max() > sd[r["channels"][0]]


def test_normal_behaviour_is_daily_and_correlated():
    df = make_signal(n=20_160, channels=3, anomalies=0, seed=4)  # 70 days of 288 steps
    x = df[["ch0", "ch1", "ch2"]].to_numpy()

    def autocorr(v, lag):
        v = v - v.mean()
        return np.corrcoef(v[:-lag], v[lag:])[0, 1]

    # weekly modulation: the day-to-day spread repeats after 7 days, not after 3 or 4
    spread = x[:, 0].reshape(-1, 288).std(axis=1)
    assert autocorr(spread, 7) > 0.3 and autocorr(spread, 7) > max(autocorr(spread, 3), autocorr(spread, 4)) + 0.4
    for c in range(3):
        day, half = autocorr(x[:, c], 288), autocorr(x[:, c], 144)
        assert day > 0.6 and day > half + 0.5, (c, day, half)
    corr = np.corrcoef(x.T)
    assert np.abs(corr[0, 1:]).min() > 0.4
    # rows differ step to step (noise), no constant stretches in clean data
    assert (np.diff(x, axis=0) != 0).all()


def test_one_channel_works():
    df = make_signal(n=12_000, channels=1, anomalies=7, seed=0)
    assert list(df.columns) == ["timestamp", "ch0", "label"]
    kinds = [r["kind"] for r in df.attrs["anomalies"]]
    assert "correlation_break" not in kinds
    assert sorted(kinds) == sorted(
        ["spike", "level_shift", "frequency_change", "flatline", "noise_burst", "spike", "level_shift"]
    )
    assert np.array_equal(df["label"].to_numpy(), _labels_from(df.attrs["anomalies"], len(df)))
    assert all(r["channels"] == ["ch0"] for r in df.attrs["anomalies"])


def test_kinds_restricts_the_cycle():
    df = make_signal(n=6000, channels=2, anomalies=5, seed=0, kinds=("spike", "flatline"))
    assert sorted(r["kind"] for r in df.attrs["anomalies"]) == ["flatline", "flatline", "spike", "spike", "spike"]
    assert np.array_equal(df["label"].to_numpy(), _labels_from(df.attrs["anomalies"], len(df)))
    for bad in [("spike", "meteor"), (), ("correlation_break",)]:
        with pytest.raises(ConfigError):
            make_signal(n=6000, channels=1, anomalies=2, kinds=bad)


def test_other_frequency_and_many_channels():
    df = make_signal(n=4000, channels=6, anomalies=3, freq="1h", seed=0)
    assert (df["timestamp"].diff().iloc[1:] == pd.Timedelta("1h")).all()
    assert [c for c in df.columns if c.startswith("ch")] == [f"ch{i}" for i in range(6)]
    assert make_signal(n=50, anomalies=0).shape == (50, 5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n=2000),  # too small for 8 anomalies after train_end
        dict(n=20_000, anomalies=60),  # same, by count
        dict(channels=0),
        dict(channels=-2),
        dict(anomalies=-1),
        dict(n=1),
        dict(n=2500.0),
        dict(channels=True),
        dict(train_fraction=0.0),
        dict(train_fraction=1.0),
        dict(freq="ME"),  # not a fixed step
        dict(freq="1D"),  # too coarse for a daily cycle
        dict(freq="nonsense"),
        dict(seed=-3),
    ],
)
def test_bad_parameters_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        make_signal(**kwargs)


def test_too_small_message_names_n():
    with pytest.raises(ConfigError, match="n=2000 is too small"):
        make_signal(n=2000)


# ------------------------------------------------------------------------- shared loaders


def _fake_collection(root, n=5, train_end=2, ranges=((3, 4),)):
    folder = root / "toy"
    folder.mkdir(parents=True)
    rows = ["timestamp,a,b,label"] + [f"{i},{i * 1.5},{i},{int(any(s <= i <= e for s, e in ranges))}" for i in range(n)]
    (folder / "s1.csv").write_text("\n".join(rows) + "\n")
    meta = {"series": {"s1": {"n": n, "train_end": train_end, "anomaly_ranges": [list(r) for r in ranges], "dims": 2}}}
    (folder / "meta.json").write_text(json.dumps(meta))
    (root / "other").mkdir()  # a folder without meta.json is not a collection


def test_env_var_points_the_loaders_elsewhere(tmp_path, monkeypatch):
    _fake_collection(tmp_path)
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    assert shared_root() == tmp_path and available()
    assert shared.list_collections() == ["toy"]
    assert list_series("toy") == ["s1"]
    df, meta = load_series("toy", "s1")
    assert list(df.columns) == ["timestamp", "a", "b", "label"]
    assert df["a"].dtype == np.float64 and df["b"].dtype == np.float64  # values as float
    assert df["timestamp"].tolist() == [0, 1, 2, 3, 4]
    assert meta == {"n": 5, "train_end": 2, "anomaly_ranges": [[3, 4]], "dims": 2, "collection": "toy", "id": "s1"}
    with pytest.raises(DataError, match="unknown series"):
        load_series("toy", "s2")
    with pytest.raises(DataError, match="unknown collection"):
        list_series("other")


def test_row_count_must_match_meta(tmp_path, monkeypatch):
    _fake_collection(tmp_path)
    meta = json.loads((tmp_path / "toy" / "meta.json").read_text())
    meta["series"]["s1"]["n"] = 6
    (tmp_path / "toy" / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path))
    with pytest.raises(DataError, match="n=6"):
        load_series("toy", "s1")


def test_missing_root_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv(shared.ENV_VAR, str(tmp_path / "nowhere"))
    assert not available()
    with pytest.raises(DataError, match=shared.ENV_VAR):
        shared_root()


def test_search_walks_up_to_a_sibling_shared_folder(tmp_path):
    good = tmp_path / "good"
    (good / "shared" / "datasets").mkdir(parents=True)
    (good / "main" / "datasets").mkdir(parents=True)
    assert shared._search_up(good / "main" / "datasets") == good / "shared" / "datasets"
    bad = tmp_path / "bad"
    (bad / "shared" / "data").mkdir(parents=True)  # wrong name: not a match
    (bad / "main" / "datasets").mkdir(parents=True)
    found = shared._search_up(bad / "main" / "datasets")
    assert found is None or tmp_path not in found.parents


@needs_shared
def test_default_root_is_found_without_env_var(monkeypatch):
    monkeypatch.delenv(shared.ENV_VAR, raising=False)
    root = shared_root()
    assert root.name == "datasets" and root.parent.name == "shared"
    assert {"nab", "ucr", "smd"} <= set(shared.list_collections())


@needs_shared
def test_nab_machine_temperature_matches_meta():
    meta_json = json.loads((shared_root() / "nab" / "meta.json").read_text())
    expected = meta_json["series"]["machine_temperature_system_failure"]
    df, meta = load_series("nab", "machine_temperature_system_failure")
    assert len(df) == expected["n"] == meta["n"]
    assert meta["train_end"] == expected["train_end"]
    assert meta["collection"] == "nab" and meta["id"] == "machine_temperature_system_failure"
    assert list(df.columns) == ["timestamp", "value", "label"]
    assert isinstance(df["timestamp"].iloc[0], str)  # kept as in the file (ISO text)
    assert np.array_equal(
        df["label"].to_numpy(), _labels_from([{"start": s, "end": e} for s, e in expected["anomaly_ranges"]], len(df))
    )
    assert df["label"].iloc[: meta["train_end"]].sum() == 0
    assert "machine_temperature_system_failure" in list_series("nab")
    assert len(list_series("nab")) == len(meta_json["series"])


@needs_shared
def test_smd_has_38_value_columns():
    (sid,) = list_series("smd")
    df, meta = load_series("smd", sid)
    values = [c for c in df.columns if c not in ("timestamp", "label")]
    assert len(values) == 38 == meta["dims"]
    assert len(df) == meta["n"]
    assert all(df[c].dtype == np.float64 for c in values)


@needs_shared
def test_unknown_names_are_data_errors():
    with pytest.raises(DataError, match="did you mean"):
        load_series("nab", "machine_temperature")
    with pytest.raises(DataError, match="nab"):
        list_series("mnist")  # a folder, but not a collection of series
