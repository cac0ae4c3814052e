"""StreamingScorer: row-by-row and block scores equal the batch path, delay semantics,
bounded memory, resumable state and the handling of bad rows."""

import copy
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import tsae
from tsae import ConfigError, DataError, Detector, list_models
from tsae.scaling import Scaler

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
    return {
        name: Detector(name, score_mode="causal", window=16, epochs=1, max_windows=512, seed=0, threads=1).fit(train)
        for name in MODELS
    }


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
        assert flags.any() and not flags.all()  # the comparison of flags is not vacuous
    elif mode == "window":
        assert flags.any()  # smoother scores: this part of the signal is flagged throughout
    else:
        assert np.isnan(scores[: det.window_ - 1]).all() and not flags[: det.window_ - 1].any()


@pytest.mark.parametrize("mode", ["window", "overlap"])
@pytest.mark.parametrize("name", MODELS)
def test_with_a_stride_blocks_are_bit_identical_to_batch_and_rows_within_tolerance(detectors, series, name, mode):
    """A window every few rows: blocks pad it like the batch path, so nothing rounds apart;
    a single row scores its window unpadded (latency), within float32 rounding."""
    det = detectors[mode][name]
    assert det.stride_ == 4  # window 64, stride auto
    batch = det.score(series).to_numpy()
    scorer = det.streaming(threads=1)
    blocks = [scorer.update_many(series.iloc[i : i + 7]) for i in range(0, len(series), 7)] + [scorer.flush()]
    assert np.array_equal(pd.concat(blocks)["score"].to_numpy(), batch)
    (scores, _, _), _ = stream(det.streaming(threads=1), series.to_dict("records"))
    np.testing.assert_allclose(scores, batch, rtol=RTOL, atol=ATOL)


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
    assert list(got.columns) == ["row", "timestamp", "score", "probability", "is_anomaly"]
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
    got = pd.concat(
        [
            first,
            pd.DataFrame(
                [{"row": e.row, "timestamp": e.timestamp, "score": e.score, "is_anomaly": e.is_anomaly} for e in events]
            ),
            *rest,
        ],
        ignore_index=True,
    )
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
    "beyond float32": ({"ch0": 1e39, "ch1": 1.0}, ["'ch0'", "1e+39", "float32"]),
    "beyond float32 text": (["1.0", "-1e308"], ["'ch1'", "-1e+308", "float32"]),
    "huge integer": ([10**400, 1.0], ["'ch0'", "integer of", "float32"]),
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
    frame = series.iloc[:200]  # the series without the bad row
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
    frame.loc[120:124, "ch0"] = np.nan  # exactly max_gap
    frame.loc[200:202, "ch1"] = np.nan
    frame.loc[300, ["ch0", "ch1"]] = np.nan
    frame.loc[301:302, "ch1"] = np.nan
    records = frame.to_dict("records")
    records[300] = {**records[300], "ch0": None, "ch1": None}  # None is missing too
    records[400] = {**records[400], "ch0": "NA"}  # as are CSV spellings of missing
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
        assert scorer.update(r).warning is None  # 5 missing values in a row: filled
    if on_error == "raise":
        with pytest.raises(DataError, match="'ch0'.*max_gap"):
            scorer.update(records[105])
    else:
        event = scorer.update(records[105])
        assert "ch0" in event.warning and "max_gap" in event.warning and not event.ready
        assert scorer.rows == 105
        assert scorer.update(records[106]).warning is None  # a value closes the gap: goes on


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


# ------------------------------------------------------ missing and huge values
MISSING_SPELLINGS = [
    None,
    np.nan,
    pd.NA,
    pd.NaT,
    "",
    "  ",
    "NA",
    "N/A",
    "n/a",
    "#N/A",
    "null",
    "NULL",
    "None",
    "nan",
    " NaN ",
    "-nan",
    "<NA>",
]


def test_every_missing_spelling_of_the_batch_path_is_a_gap(fitted, series):
    det = fitted["dense"]
    frame = series.iloc[: 60 + 3 * len(MISSING_SPELLINGS)].copy()
    records = frame.to_dict("records")
    for k, spelling in enumerate(MISSING_SPELLINGS):
        row = 40 + 3 * k  # isolated gaps, each filled from the row before
        records[row] = {**records[row], "ch1": spelling}
        frame.loc[row, "ch1"] = np.nan
    (scores, flags, _), events = stream(det.streaming(threads=1), records)
    assert all(e.warning is None for e in events)
    assert_matches_batch(det, frame, scores, flags)
    text = frame.astype({"ch1": object})
    for k, spelling in enumerate(MISSING_SPELLINGS):  # the batch path reads the same cells as missing
        text.loc[40 + 3 * k, "ch1"] = spelling
    np.testing.assert_array_equal(det.score(text).to_numpy(), det.score(frame).to_numpy())


def test_a_value_that_scales_beyond_float32_is_refused(fitted, series):
    det = copy.copy(fitted["dense"])
    det.scaler_ = Scaler("standard", [0.0, 0.0], [1e-3, 1e-3])  # 1e36 scales to 1e39
    scorer = det.streaming(threads=1)
    with pytest.raises(
        DataError,
        match=r"^stream row 0: channel 'ch0' has 1e\+36, beyond the float32 range .*"
        r"scaled value",
    ):
        scorer.update([1e36, 1.0])
    assert scorer.rows == 0


def test_update_many_refuses_values_beyond_float32_naming_the_stream_row(fitted, series):
    scorer = fitted["dense"].streaming(threads=1)
    scorer.update_many(series.iloc[:30])
    block = series.iloc[30:60].copy()
    block.loc[42, "ch1"] = -1e39
    with pytest.raises(DataError) as info:
        scorer.update_many(block)
    assert str(info.value).startswith("stream batch: column 'ch1' has -1e+39 at row 42, beyond the float32 range")
    assert scorer.rows == 30
    text = series.iloc[30:60].astype({"ch0": object}).reset_index(drop=True)  # rows are counted by the stream
    text.loc[5, "ch0"] = "oops"
    with pytest.raises(DataError, match="column 'ch0' has text 'oops' at row 35"):
        scorer.update_many(text)


@pytest.mark.parametrize(
    "block, words",
    [
        ([[1.0, 2.0], [3.0]], "rows differ in length"),
        (np.zeros((4, 3)), "shape (4, 3); the model has 2 channels"),
        (np.zeros(5), "shape (5,)"),
    ],
)
def test_update_many_refuses_arrays_of_the_wrong_shape(fitted, block, words):
    scorer = fitted["dense"].streaming(threads=1)
    with pytest.raises(DataError) as info:
        scorer.update_many(block)
    assert words in str(info.value)
    assert scorer.rows == 0


def test_update_many_reads_text_and_missing_cells_of_an_array(fitted, series):
    det = fitted["dense"]
    values = series[["ch0", "ch1"]].to_numpy()[:120]
    text = values.astype(object)
    text[50, 0], text[51, 1] = "NA", None
    scorer = det.streaming(threads=1)
    got = pd.concat([scorer.update_many(text), scorer.flush()], ignore_index=True)
    frame = series.iloc[:120].copy()
    frame.loc[50, "ch0"], frame.loc[51, "ch1"] = np.nan, np.nan
    assert_matches_batch(det, frame, got["score"].to_numpy(), got["is_anomaly"].to_numpy(dtype=bool))


# ------------------------------------------------------------- bad states
@pytest.fixture(scope="module")
def paused(fitted, series):
    """(detector, JSON state after 100 rows, the rows that follow)."""
    det = fitted["dense"]
    records = series.to_dict("records")
    scorer = det.streaming(threads=1)
    for r in records[:100]:
        scorer.update(r)
    return det, json.loads(json.dumps(scorer.state_dict())), records[100:]


def mutate(state, path, value=None, delete=False):
    state = copy.deepcopy(state)
    *parents, last = path
    target = state
    for key in parents:
        target = target[key]
    if delete:
        del target[last]
    else:
        target[last] = value
    return state


BAD_STATES = {  # name -> (path, value or "delete", words of the message)
    "no fingerprint": (("model",), "delete", "lacks 'model'"),
    "no scorer": (("scorer",), "delete", "lacks 'scorer'"),
    "unknown key": (("extra",), 1, "unknown key(s) 'extra'"),
    "version 1": (("version",), 1, "has layout version 1; this tsae reads version 3"),
    "version text": (("version",), "2", "has layout version '2'"),
    "another fingerprint": (("model",), "sha256:" + "0" * 64, "is for another model"),
    "rows text": (("rows",), "100", "field 'rows' must be an integer >= 0"),
    "rows negative": (("rows",), -1, "field 'rows' must be an integer >= 0"),
    "rows ahead of the scorer": (("rows",), 101, "101 rows accepted, but the scorer saw 100"),
    "scorer counter": (("scorer", "n_emitted"), 30, "scored 30 (expected 100 and 37)"),
    "scorer counter type": (("scorer", "n_seen"), 100.0, "field 'scorer.n_seen' must be an integer"),
    "scorer stride": (("scorer", "stride"), 1, "stride 1; this model has mode 'window', window 64, stride 4"),
    # window 64, stride 4: the state keeps the whole last window
    "short context": (("scorer", "context"), [[0.0, 0.0]], "field 'scorer.context' must hold the last 64 rows"),
    "context value": (("scorer", "context", 5), [0.0, "x"], "field 'scorer.context[5]' must hold 2 finite"),
    "context nan": (("scorer", "context", 5), [0.0, float("nan")], "field 'scorer.context[5]'"),
    "context beyond float32": (("scorer", "context", 5), [0.0, 1e39], "beyond the float32 range"),
    "short pending": (("scorer", "pending"), [0.0], "field 'scorer.pending' must hold 63"),
    "negative pending": (("scorer", "pending", 0), -1.0, "negative sum"),
    "scorer mode": (("scorer", "mode"), "causal", "field 'scorer' is for mode 'causal'"),
    "few stamps": (("stamps",), [], "0 timestamps for the 63 rows not scored yet"),
    "stamp type": (("stamps", 0), 5, "field 'stamps' must be a list of timestamps"),
    "gap max": (("gaps", "max_gap"), 50, "field 'gaps.max_gap' is 50; this model fills gaps of at most 5"),
    "gap last": (("gaps", "last"), [1.0], "field 'gaps.last' must hold the last value of each of the 2"),
    "gap last missing": (("gaps", "last"), [1.0, None], "field 'gaps.last'"),
    "gap last null": (("gaps", "last"), None, "field 'gaps' does not fit 100 rows"),
    "gap run": (("gaps", "open", 1), 6, "field 'gaps.open[1]' is a run of 6 missing values"),
    "gap run type": (("gaps", "open", 1), "0", "field 'gaps.open[1]' must be an integer"),
    "gaps not a dict": (("gaps",), [], "field 'gaps' must be an object"),
}


@pytest.mark.parametrize("bad", list(BAD_STATES))
def test_a_bad_state_is_refused_in_one_line_and_changes_nothing(paused, bad):
    det, state, _ = paused
    path, value, words = BAD_STATES[bad]
    broken = mutate(state, path, delete=True) if value == "delete" else mutate(state, path, value)
    with pytest.raises(ConfigError) as info:
        det.streaming(state=broken, threads=1)
    message = str(info.value)
    assert message.startswith("stream state ") and "\n" not in message and words in message, message
    scorer = det.streaming(threads=1)
    with pytest.raises(ConfigError):
        scorer.load_state_dict(broken)
    assert scorer.rows == 0 and len(scorer.stamps) == 0 and scorer.scorer.n_seen == 0


@pytest.mark.parametrize("state", [None, [1, 2], "state"], ids=["none", "list", "text"])
def test_a_state_that_is_not_a_dict_is_refused(fitted, state):
    scorer = fitted["dense"].streaming(threads=1)
    with pytest.raises(ConfigError, match="^stream state must be an object"):
        scorer.load_state_dict(state)


def test_the_state_of_a_model_with_other_weights_is_refused(paused, train):
    det, state, _ = paused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = Detector("dense", window=64, epochs=1, max_windows=64, seed=1, threads=1).fit(train)
    assert other.channels_ == det.channels_ and other.score_mode == det.score_mode
    with pytest.raises(ConfigError, match="^stream state is for another model"):
        other.streaming(state=state)


def test_the_state_resumes_on_the_saved_and_loaded_model_and_after_recalibration(paused, signal, tmp_path):
    det, state, rest = paused
    det.save(tmp_path / "m.tsae")
    loaded = tsae.load(tmp_path / "m.tsae", threads=1)
    assert loaded.streaming().fingerprint == det.streaming().fingerprint == state["model"]
    original, resumed = det.streaming(state=state, threads=1), loaded.streaming(state=state, threads=1)
    np.testing.assert_array_equal(
        [resumed.update(r).score for r in rest[:20]], [original.update(r).score for r in rest[:20]]
    )
    loaded.calibrate(signal, "percentile:90")  # another threshold: the same scores
    assert loaded.streaming(state=state, threads=1).rows == 100


def test_a_flushed_state_cannot_be_resumed(fitted, series):
    scorer = fitted["dense"].streaming(threads=1)
    scorer.update_many(series.iloc[:100])
    scorer.flush()
    with pytest.raises(ConfigError, match="is inconsistent"):
        fitted["dense"].streaming(state=scorer.state_dict())
