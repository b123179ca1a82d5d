"""Spark and DuckDB scoring (implemented in :mod:`jupyter_mltrack.models.scoring`).

``spark_udf`` is also ``mt.models.spark_udf``; see docs/serving.md.
"""

from __future__ import annotations

from ..models.scoring import SparkModelUDF, duckdb_udf, score_relation, spark_udf

__all__ = ["SparkModelUDF", "duckdb_udf", "score_relation", "spark_udf"]
