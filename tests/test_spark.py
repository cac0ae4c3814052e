"""tsae.spark in Spark's local mode: fit, score and keyed streaming give the grouped
layer's (hence Detector's) results. Run with `make test-spark` (marker ``spark``: not
in the default run, which stays fast); skipped, saying why, without pyspark or Java."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'tsae[spark]' (make test-spark does)")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17+ on PATH", allow_module_level=True)

from tsae import spark as tspark  # noqa: E402
from tsae.fleet import fit_fleet, score_fleet  # noqa: E402

PARAMS = {"window": 16, "epochs": 2, "max_windows": 64}
ATOL, RTOL = 1e-5, 1e-6  # the stream's promised tolerance (README)
N = 300


def series(key: str, seed: int, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.sin(np.arange(n) * 2 * np.pi / 20) + 0.1 * rng.normal(size=n)
    stamps = pd.date_range("2024-01-01", periods=n, freq="min")
    return pd.DataFrame({"series_id": key, "timestamp": stamps, "value": values})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.concat([series(k, i) for i, k in enumerate("abc")], ignore_index=True)


@pytest.fixture(scope="module")
def spark():
    session = tspark.session(2)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def local(data):
    """The grouped layer's models and scores, the reference."""
    models = fit_fleet(data, "series_id", PARAMS)
    return models, score_fleet(data, models, "series_id")


@pytest.fixture(scope="module")
def models_path(local, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "models.parquet"
    local[0].to_parquet(path)
    return str(path)


def test_spark_fits_the_models_the_grouped_layer_fits(spark, data, local):
    short = pd.concat([data, series("d", 9, n=25)])  # too short: recorded, not fatal
    got = tspark.fit(spark.createDataFrame(short), "series_id", PARAMS).toPandas().sort_values("series_id")
    assert list(got["series_id"]) == ["a", "b", "c", "d"]
    assert list(got["fingerprint"][:3]) == list(local[0]["fingerprint"])
    assert got["error"].iloc[3].startswith("series series_id=d has 25 rows")


def test_spark_scores_each_series_with_its_model(spark, data, local):
    models = spark.createDataFrame(local[0])
    shuffled = spark.createDataFrame(data.sample(frac=1, random_state=0))
    got = tspark.score(shuffled, models, "series_id", "timestamp").toPandas()
    got = got.sort_values(["series_id", "timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, local[1], check_dtype=False)


def _write_part(directory, frame, i, end=False):
    part = frame.assign(end=False)
    if end:  # one end marker per key, after its last row
        marks = part.groupby("series_id").tail(1).assign(value=np.nan, end=True)
        part = pd.concat([part, marks.assign(timestamp=marks["timestamp"] + pd.Timedelta(minutes=1))])
    part.to_parquet(directory / f"part{i}.parquet")


def _query(spark, schema, source, out, checkpoint, models_path, api, trigger, **options):
    rows = spark.readStream.schema(schema).parquet(str(source))
    scored = tspark.stream(rows, models_path, "series_id", "timestamp", api=api, **options)
    writer = scored.writeStream.format("parquet").option("path", str(out)).option("checkpointLocation", str(checkpoint))
    return writer.outputMode("append").trigger(**trigger).start()


def _written(spark, out) -> pd.DataFrame:
    """The rows the file sink committed (its log names them; a batch being written is not read)."""
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(str(out)).toPandas()
    except AnalysisException:  # no batch committed yet: nothing to infer a schema from
        return pd.DataFrame()


def _check_complete(spark, out, data, reference):
    got = _written(spark, out).sort_values(["series_id", "row"]).reset_index(drop=True)
    assert len(got) == len(data) and not got.duplicated(["series_id", "row"]).any()
    assert (got.groupby("series_id")["row"].max() == N - 1).all()
    merged = got.merge(reference, on=["series_id", "timestamp"], suffixes=("", "_batch"))
    assert len(merged) == len(data)
    np.testing.assert_allclose(merged["score"], merged["score_batch"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("api", ["tws", "v1"])
def test_a_stream_restarted_from_its_checkpoint_loses_and_repeats_nothing(
    spark, data, local, models_path, api, tmp_path
):
    """Two runs on one checkpoint (the second sees the rest of the data), end markers
    flush the last rows: every row once, with the batch scores."""
    source = tmp_path / "in"
    source.mkdir()
    first = data["timestamp"] < data["timestamp"].min() + pd.Timedelta(minutes=N // 2)
    _write_part(source, data[first], 0)
    schema = spark.createDataFrame(data.assign(end=False).iloc[:1]).schema
    run = dict(out=tmp_path / "out", checkpoint=tmp_path / "ck", models_path=models_path, api=api)
    _query(
        spark, schema, source, **run, trigger={"availableNow": True}, flush_after=None, end_column="end"
    ).awaitTermination()
    got = _written(spark, tmp_path / "out")
    assert len(got) == 3 * (N // 2 - PARAMS["window"] + 1)  # final scores only: the last window - 1 rows wait
    _write_part(source, data[~first], 1, end=True)
    _query(
        spark, schema, source, **run, trigger={"availableNow": True}, flush_after=None, end_column="end"
    ).awaitTermination()
    _check_complete(spark, tmp_path / "out", data, local[1])


def test_an_idle_key_is_flushed_by_its_timer(spark, data, local, models_path, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    _write_part(source, data, 0)
    schema = spark.createDataFrame(data.assign(end=False).iloc[:1]).schema
    query = _query(
        spark, schema, source, tmp_path / "out", tmp_path / "ck", models_path, "v1", {"processingTime": "1 second"},
        flush_after=1.0,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(_written(spark, tmp_path / "out")) == len(data):
                break
            time.sleep(1)
    finally:
        query.stop()
    _check_complete(spark, tmp_path / "out", data, local[1])


def test_a_series_that_cannot_be_scored_is_recorded_when_asked(spark, data, local):
    models = spark.createDataFrame(local[0][local[0]["series_id"] != "c"])
    got = tspark.score(spark.createDataFrame(data), models, "series_id", "timestamp", on_error="record").toPandas()
    failed = got[got["error"].notna()]
    assert list(failed["series_id"]) == ["c"] and failed["score"].isna().all()
    assert failed["error"].iloc[0] == "series series_id=c: no model in the models table"
    assert len(got) == 2 * N + 1 and got.loc[got["error"].isna(), "score"].notna().all()


def test_the_command_line_runs_on_spark(spark, data, local, tmp_path):
    from typer.testing import CliRunner

    from tsae_cli.main import app

    data.to_parquet(tmp_path / "data.parquet")
    fit = ["fit", "--by", "series_id", tmp_path / "data.parquet", "-o", tmp_path / "models.parquet"]
    fit += ["--window", "16", "--epochs", "2", "--max-windows", "64", "--quiet", "--engine", "spark"]
    result = CliRunner().invoke(app, [str(a) for a in fit])
    assert result.exit_code == 0, result.output
    assert list(pd.read_parquet(tmp_path / "models.parquet")["fingerprint"]) == list(local[0]["fingerprint"])
    score = ["score", "--by", "series_id", tmp_path / "data.parquet", "-m", tmp_path / "models.parquet"]
    result = CliRunner().invoke(app, [str(a) for a in [*score, "-o", tmp_path / "s.parquet", "--engine", "spark"]])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "s.parquet")["score"], local[1]["score"])
