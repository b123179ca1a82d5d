"""``mltrack server``: one store served over HTTP to a team (docs/server.md).

- :mod:`.options`  what to serve and how (flags and ``MLTRACK_SERVER_*`` variables);
- :mod:`.backend`  the store side: the DuckDB owner (PostgreSQL plugs in here);
- :mod:`.app`      the tornado application: our store API, the MLflow REST layer,
                   ``/metrics``;
- :mod:`.process`  the run loop: bind, serve, stop gracefully on SIGTERM/SIGINT.

Example::

    from jupyter_mltrack.teamserver import ServerOptions, main_loop
    main_loop(ServerOptions(port=5000, backend_store_uri="duckdb:///srv/mltrack/store.duckdb"))
"""

from __future__ import annotations

from .options import ServerOptions
from .process import main_loop, serve

__all__ = ["ServerOptions", "main_loop", "serve"]
