"""``spark_udf`` in a real Spark session (local mode, two cores): scalar, struct and array
results, columns by name or from the signature."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from serving_support import save_sklearn_model, save_test_pyfunc, training_frame

pytestmark = [
    pytest.mark.slow,
    # a local Spark session and its Python workers start slowly on a loaded 2-core machine
    pytest.mark.timeout(1200),
    # pyspark 4.x warns on every pandas UDF that it does not fully support pandas 3 (installed
    # here); the tests below check the results, which is what that warning is about
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    # pyspark's toPandas passes pandas 3's deprecated copy= keyword (in pyspark, not in ours)
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mltrack-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


def test_spark_udf_scores_a_dataframe(spark: object, tmp_path: Path) -> None:
    import jupyter_mltrack as mt

    est = save_sklearn_model(tmp_path / "sk")
    x, _ = training_frame(500, seed=11)
    sdf = spark.createDataFrame(x)  # type: ignore[attr-defined]
    predict = mt.models.spark_udf(spark, str(tmp_path / "sk"), result_type="long")
    by_name = sdf.withColumn("p", predict("a", "b", "c")).toPandas()
    assert by_name["p"].tolist() == est.predict(by_name[["a", "b", "c"]]).tolist()
    from_signature = sdf.withColumn("p", predict()).toPandas()
    assert from_signature["p"].tolist() == by_name["p"].tolist()


def test_spark_udf_struct_and_array_results(spark: object, tmp_path: Path) -> None:
    from pyspark.sql.functions import col

    from jupyter_mltrack.serving.udf import spark_udf

    save_test_pyfunc(tmp_path / "py")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "sleep": [0.0, 0.0, 0.0]})
    sdf = spark.createDataFrame(frame)  # type: ignore[attr-defined]
    both = spark_udf(spark, str(tmp_path / "py"), result_type="y double, z double")
    out = sdf.withColumn("r", both("x", "sleep")).select("x", col("r.y"), col("r.z")).toPandas()
    assert out["y"].tolist() == [2.0, 4.0, 6.0] and out["z"].tolist() == [2.0, 3.0, 4.0]
    arr = spark_udf(spark, str(tmp_path / "py"), result_type="array<double>")
    rows = sdf.withColumn("r", arr()).toPandas()["r"].tolist()
    assert [list(r) for r in rows] == [[2.0, 2.0], [4.0, 3.0], [6.0, 4.0]]
    with pytest.raises(Exception, match="not a Spark type"):
        spark_udf(spark, str(tmp_path / "py"), result_type="notatype<")
