"""StreamingScorer: row-by-row and block scores equal the batch path, delay semantics,
bounded memory, resumable state and the handling of bad rows."""

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from tsae import ConfigError, DataError, Detector, list_models

MODELS = list_models()
# the stream skips the batch padding (min_batch=1): float32 rounding, about 1e-7 relative
ATOL, RTOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def series(signal):
    """600 rows of the test half holding a frequency change and two spikes (some flags)."""
    return signal.iloc[4800:5400][["timestamp", "ch0", "ch1"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def causal(train):
    """{model name: tiny Detector fitted with score_mode="causal"}."""
    return {name: Detector(name, score_mode="causal", window=16, epochs=1, max_windows=512, seed=0,
                           threads=1).fit(train) for name in MODELS}


@pytest.fixture(scope="module")
def detectors(fitted, causal):
    """{score mode: {model name: fitted Detector}}; overlap shares the default models' weights."""
    overlap = {}
    for name, det in fitted.items():
        overlap[name] = copy.copy(det)
        overlap[name].score_mode = "overlap"
    return {"window": fitted, "overlap": overlap, "causal": causal}


def stream(scorer, rows):
    """Feed ``rows`` one by one, then flush: (scores, flags, rows seen in order, events)."""
    events = [scorer.update(r) for r in rows]
    done = [(e.row, e.score, e.is_anomaly, e.timestamp) for e in events if e.row is not None]
    flushed = scorer.flush()
    done += list(flushed[["row", "score", "is_anomaly", "timestamp"]].itertuples(index=False, name=None))
    return collect(done, scorer.rows), events


def collect(done, n):
    order = [r for r, *_ in done]
    assert order == list(range(n)), "every accepted row must be finalised exactly once, in order"
    scores = np.array([s for _, s, _, _ in done], dtype=np.float64)
    flags = np.array([f for _, _, f, _ in done], dtype=bool)
    stamps = [t for *_, t in done]
    return scores, flags, stamps


def assert_matches_batch(det, frame, scores, flags):
    batch = det.score(frame).to_numpy()
    expected = det.predict(frame).to_numpy()
    assert len(scores) == len(batch)
    np.testing.assert_allclose(scores, batch, rtol=RTOL, atol=ATOL)  # NaN (causal head) must match NaN
    decided = np.isnan(batch) | (np.abs(batch - det.threshold_.cutoff_) > 1e-6)  # not a rounding tie
    assert np.array_equal(flags[decided], expected[decided])


# ------------------------------------------------------------------ equivalence
@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
@pytest.mark.parametrize("name", MODELS)
def test_row_by_row_then_flush_equals_batch(detectors, series, name, mode):
    det = detectors[mode][name]
    assert det.score_mode == mode
    (scores, flags, stamps), _ = stream(det.streaming(threads=1), series.to_dict("records"))
    assert_matches_batch(det, series, scores, flags)
    assert [pd.Timestamp(t) for t in stamps] == list(series["timestamp"])
    if mode == "overlap":
        assert flags.any() and not flags.all()   # the comparison of flags is not vacuous
    elif mode == "window":
        assert flags.any()   # smoother scores: this part of the signal is flagged throughout
    else:
        assert np.isnan(scores[: det.window_ - 1]).all() and not flags[: det.window_ - 1].any()


@pytest.mark.parametrize("sizes", [(1,), (7,), (100,), (1, 7, 100, 3, 64, 250, 2)])
@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
@pytest.mark.parametrize("name", MODELS)
def test_update_many_in_blocks_then_flush_equals_batch(detectors, series, name, mode, sizes):
    det = detectors[mode][name]
    scorer = det.streaming(threads=1)
    parts, start, i = [], 0, 0
    while start < len(series):
        block = series.iloc[start : start + sizes[i % len(sizes)]]
        parts.append(scorer.update_many(block))
        start, i = start + len(block), i + 1
    parts.append(scorer.flush())
    got = pd.concat(parts, ignore_index=True)
    assert list(got.columns) == ["row", "timestamp", "score", "is_anomaly"]
    assert got["row"].tolist() == list(range(len(series)))
    assert list(got["timestamp"]) == list(series["timestamp"])
    assert_matches_batch(det, series, got["score"].to_numpy(), got["is_anomaly"].to_numpy(dtype=bool))


def test_update_many_accepts_an_array_and_mixes_with_update(fitted, series):
    det = fitted["dense"]
    values = series[["ch0", "ch1"]].to_numpy()
    scorer = det.streaming(threads=1)
    first = scorer.update_many(values[:150])
    events = [scorer.update(v) for v in values[150:160]]
    rest = [scorer.update_many(values[160:]), scorer.flush()]
    got = pd.concat([first, pd.DataFrame([{"row": e.row, "timestamp": e.timestamp, "score": e.score,
                                           "is_anomaly": e.is_anomaly} for e in events]), *rest], ignore_index=True)
    assert got["row"].tolist() == list(range(len(series)))
    assert got["timestamp"].isna().all()  # no timestamps given
    assert_matches_batch(det, series, got["score"].to_numpy(dtype=float), got["is_anomaly"].to_numpy(dtype=bool))


# ------------------------------------------------------------------------ delay
def test_overlap_delay_is_window_minus_one(fitted, series):
    det = fitted["dense"]
    w = det.window_
    scorer = det.streaming(threads=1)
    for k, record in enumerate(series.iloc[:200].to_dict("records")):
        event = scorer.update(record)
        assert event.delay == w - 1 and event.warning is None
        if k < w - 1:
            assert not event.ready and event.row is None and math.isnan(event.score) and not event.is_anomaly
        else:
            assert event.ready and event.row == k - w + 1
            assert event.timestamp == series["timestamp"][k - w + 1]
            assert np.isfinite(event.score)
    tail = scorer.flush()
    assert tail["row"].tolist() == list(range(200 - w + 1, 200))
    assert list(tail["timestamp"]) == list(series["timestamp"][200 - w + 1 : 200])
    assert scorer.flush().empty  # nothing left


def test_causal_delay_is_zero(causal, series):
    det = causal["lstm"]
    w = det.window_
    scorer = det.streaming(threads=1)
    for k, record in enumerate(series.iloc[:100].to_dict("records")):
        event = scorer.update(record)
        assert event.delay == 0 and event.row == k and event.timestamp == series["timestamp"][k]
        if k < w - 1:
            assert not event.ready and math.isnan(event.score) and not event.is_anomaly
        else:
            assert event.ready and np.isfinite(event.score)
    assert scorer.flush().empty


# ----------------------------------------------------------------------- memory
@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
def test_memory_is_bounded_by_the_window(detectors, signal, mode):
    det = detectors[mode]["dense"]
    w = det.window_
    values = signal[["ch0", "ch1"]].to_numpy()[:5000]
    scorer = det.streaming(threads=1)
    worst = 0
    for k, v in enumerate(values):
        scorer.update(v, timestamp=k)
        worst = max(worst, len(scorer.scorer.context), len(scorer.scorer.pending), len(scorer.stamps))
    assert scorer.rows == 5000 and worst <= w
    assert len(scorer.scorer.context) <= w and len(scorer.scorer.pending) <= w and len(scorer.stamps) <= w
    scorer.update_many(values[:1000])  # a block does not leave more behind either
    assert len(scorer.scorer.context) <= w and len(scorer.scorer.pending) <= w and len(scorer.stamps) <= w


# ------------------------------------------------------------------------ state
@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
def test_state_round_trips_through_json_and_resumes_identically(detectors, series, mode):
    det = detectors[mode]["conv1d"]
    frame = series.copy()
    frame.loc[297:300, "ch0"] = np.nan  # a gap open at the cut: its length must carry over
    records = frame.to_dict("records")
    whole = det.streaming(threads=1)
    first = [whole.update(r) for r in records[:300]]
    state = json.loads(json.dumps(whole.state_dict()))
    resumed = det.streaming(state=state, threads=1)
    assert resumed.rows == 300
    a = [whole.update(r) for r in records[300:]]
    b = [resumed.update(r) for r in records[300:]]
    assert [(e.row, e.ready, e.is_anomaly) for e in a] == [(e.row, e.ready, e.is_anomaly) for e in b]
    np.testing.assert_array_equal([e.score for e in a], [e.score for e in b])  # bit for bit
    assert [pd.Timestamp(e.timestamp) for e in a] == [pd.Timestamp(e.timestamp) for e in b]
    fa, fb = whole.flush(), resumed.flush()
    np.testing.assert_array_equal(fa["score"], fb["score"])
    assert fa["row"].tolist() == fb["row"].tolist()
    # and the resumed stream (first part + resumed part) is still the batch result
    done = [(e.row, e.score, e.is_anomaly, e.timestamp) for e in first + b if e.row is not None]
    done += list(fb[["row", "score", "is_anomaly", "timestamp"]].itertuples(index=False, name=None))
    scores, flags, _ = collect(done, len(frame))
    assert_matches_batch(det, frame, scores, flags)


def test_state_counts_a_gap_across_the_restart(fitted, series):
    det = fitted["dense"]  # max_gap 5: 3 missing before the cut + 3 after is a run of 6
    records = series.to_dict("records")
    for r in records[97:103]:
        r["ch1"] = None
    scorer = det.streaming(threads=1)
    for r in records[:100]:
        scorer.update(r)
    resumed = det.streaming(state=json.loads(json.dumps(scorer.state_dict())), threads=1)
    resumed.update(records[100])
    resumed.update(records[101])
    with pytest.raises(DataError, match="ch1"):
        resumed.update(records[102])


def test_state_of_another_model_is_refused(fitted, causal, train):
    state = fitted["dense"].streaming(threads=1).state_dict()
    one_channel = Detector("dense", window=64, epochs=1, columns=["ch0"], threads=1).fit(train)
    with pytest.raises(ConfigError):
        one_channel.streaming(state=state)
    with pytest.raises(ConfigError):  # same channels, other mode and window
        causal["dense"].streaming(state=state)
    with pytest.raises(ConfigError):
        fitted["dense"].streaming(state={**state, "version": 99})


# ------------------------------------------------------------------------- rows
def test_every_row_type_is_accepted_and_scores_the_same(fitted, series):
    det = fitted["dense"]
    frame = series.iloc[:200]
    channels = ["ch0", "ch1"]
    kinds = {
        "dict": frame.to_dict("records"),
        "list": frame[channels].values.tolist(),
        "array": list(frame[channels].to_numpy()),
        "series": [row for _, row in frame.iterrows()],
        "channels-only series": [row for _, row in frame[channels].iterrows()],
        "text numbers": [[str(a), str(b)] for a, b in frame[channels].to_numpy()],
    }
    reference = None
    for kind, rows in kinds.items():
        (scores, flags, _), events = stream(det.streaming(threads=1), rows)
        assert all(e.warning is None for e in events), kind
        if reference is None:
            reference = scores
            assert_matches_batch(det, frame, scores, flags)
        np.testing.assert_allclose(scores, reference, rtol=0, atol=1e-12, err_msg=kind)


def test_pandas_nullable_missing_values_are_gaps(fitted, series):
    det = fitted["dense"]
    frame = series.iloc[:200].copy()
    frame["ch0"] = frame["ch0"].astype("Float64")
    frame.loc[[80, 120, 121], "ch0"] = pd.NA
    rows = [row for _, row in frame.iterrows()]
    assert rows[80]["ch0"] is pd.NA
    (scores, flags, _), _ = stream(det.streaming(threads=1), rows)
    assert_matches_batch(det, frame, scores, flags)


BAD_ROWS = {  # name -> (row, words the message must hold)
    "missing channel": ({"timestamp": pd.Timestamp("2030-01-01"), "ch0": 1.0}, ["ch1"]),
    "too long": ([1.0, 2.0, 3.0], ["3 values", "ch0, ch1"]),
    "too short": (np.array([1.0]), ["1 values"]),
    "text": ({"ch0": 1.0, "ch1": "oops"}, ["'ch1'", "oops"]),
    "inf": ({"ch0": np.inf, "ch1": 1.0}, ["'ch0'", "infinite"]),
    "-inf text": (["1.5", "-inf"], ["'ch1'", "infinite"]),
}


@pytest.mark.parametrize("bad", list(BAD_ROWS))
def test_bad_row_raises_naming_the_problem_and_leaves_the_stream_unchanged(fitted, series, bad):
    row, words = BAD_ROWS[bad]
    det = fitted["dense"]
    records = series.iloc[:150].to_dict("records")
    scorer = det.streaming(threads=1)
    for r in records[:70]:
        scorer.update(r)
    with pytest.raises(DataError) as info:
        scorer.update(row)
    for word in words:
        assert word in str(info.value)
    assert scorer.rows == 70
    events = [scorer.update(r) for r in records[70:]]
    clean = det.streaming(threads=1)
    expected = [clean.update(r) for r in records][70:]
    assert [e.row for e in events] == [e.row for e in expected]
    np.testing.assert_array_equal([e.score for e in events], [e.score for e in expected])


@pytest.mark.parametrize("bad", list(BAD_ROWS))
@pytest.mark.parametrize("mode", ["window", "overlap", "causal"])
def test_skipped_bad_row_gives_a_warning_event_and_the_stream_goes_on(detectors, series, bad, mode):
    row, words = BAD_ROWS[bad]
    det = detectors[mode]["dense"]
    records = series.iloc[:200].to_dict("records")
    scorer = det.streaming(on_error="skip", threads=1)
    events = [scorer.update(r) for r in records[:90]]
    skipped = scorer.update(row)
    assert skipped.warning is not None and all(w in skipped.warning for w in words)
    assert not skipped.ready and skipped.row is None and math.isnan(skipped.score) and not skipped.is_anomaly
    events += [scorer.update(r) for r in records[90:]]
    assert all(e.warning is None for e in events)
    done = [(e.row, e.score, e.is_anomaly, e.timestamp) for e in events if e.row is not None]
    done += list(scorer.flush()[["row", "score", "is_anomaly", "timestamp"]].itertuples(index=False, name=None))
    scores, flags, stamps = collect(done, 200)
    frame = series.iloc[:200]   # the series without the bad row
    assert_matches_batch(det, frame, scores, flags)
    assert list(stamps) == list(frame["timestamp"])


def test_on_error_must_be_raise_or_skip(fitted):
    with pytest.raises(ConfigError):
        fitted["dense"].streaming(on_error="ignore")


def test_short_gaps_are_filled_like_the_batch_path(fitted, series):
    det = fitted["conv1d"]
    assert det.max_gap == 5
    frame = series.copy()
    frame.loc[50, "ch0"] = np.nan
    frame.loc[120:124, "ch0"] = np.nan          # exactly max_gap
    frame.loc[200:202, "ch1"] = np.nan
    frame.loc[300, ["ch0", "ch1"]] = np.nan
    frame.loc[301:302, "ch1"] = np.nan
    records = frame.to_dict("records")
    records[300] = {**records[300], "ch0": None, "ch1": None}     # None is missing too
    records[400] = {**records[400], "ch0": "NA"}                  # as are CSV spellings of missing
    records[401] = {**records[401], "ch0": ""}
    frame.loc[400:401, "ch0"] = np.nan
    (scores, flags, _), events = stream(det.streaming(threads=1), records)
    assert all(e.warning is None for e in events)
    assert_matches_batch(det, frame, scores, flags)
    # the gaps matter: the clean series scores differently around them
    assert not np.allclose(scores, det.score(series).to_numpy(), rtol=0, atol=ATOL)


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_gap_longer_than_max_gap_is_refused(fitted, series, on_error):
    det = fitted["dense"]
    records = series.iloc[:150].to_dict("records")
    for r in records[100:106]:
        r["ch0"] = np.nan
    scorer = det.streaming(on_error=on_error, threads=1)
    for r in records[:105]:
        assert scorer.update(r).warning is None      # 5 missing values in a row: filled
    if on_error == "raise":
        with pytest.raises(DataError, match="'ch0'.*max_gap"):
            scorer.update(records[105])
    else:
        event = scorer.update(records[105])
        assert "ch0" in event.warning and "max_gap" in event.warning and not event.ready
        assert scorer.rows == 105
        assert scorer.update(records[106]).warning is None   # a value closes the gap: goes on


def test_update_many_rejects_bad_blocks(fitted, series):
    scorer = fitted["dense"].streaming(threads=1)
    block = series.iloc[:20].copy()
    with pytest.raises(DataError, match="ch1"):
        scorer.update_many(block.drop(columns="ch1"))
    text = block.astype({"ch0": object})
    text.loc[5, "ch0"] = "oops"
    with pytest.raises(DataError, match="ch0"):
        scorer.update_many(text)
    assert scorer.rows == 0
