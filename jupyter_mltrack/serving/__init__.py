"""Scoring models: the REST server, batch prediction over files, Spark and DuckDB UDFs.

* :mod:`.payload` -- MLflow's ``/invocations`` payloads in, ``{"predictions": ...}`` out.
* :mod:`.app` / :mod:`.server` -- the scoring server (``mltrack models serve``).
* :mod:`.batch` -- ``mltrack models predict`` over CSV, JSON lines and Parquet, in chunks.
* :mod:`.udf` -- :func:`spark_udf` and :func:`duckdb_udf`.
* :mod:`.docker` -- ``mltrack models generate-dockerfile``.

Everything loads models through :func:`jupyter_mltrack.models.load_model`. docs/serving.md.
"""

from __future__ import annotations

__all__: list[str] = []
