"""A jupyter_server extension for the contract tests: the store API with Jupyter's auth.

Serves a DuckDBStore at ``$MLTRACK_CONTRACT_STORE`` under
``<base_url>/contract/mltrack/api/v1`` (apart from the product's own routes).
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.utils import url_path_join

from jupyter_mltrack.service.api import make_handlers
from jupyter_mltrack.store.duckdb.store import DuckDBStore


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mltrack_contract_ext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    store = DuckDBStore("duckdb://" + os.environ["MLTRACK_CONTRACT_STORE"])
    base = url_path_join(serverapp.base_url, "contract/mltrack/api/v1")
    serverapp.web_app.add_handlers(".*$", make_handlers(lambda: store, base, authenticated=True))
