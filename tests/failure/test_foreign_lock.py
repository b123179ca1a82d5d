"""The store file held by a foreign process: a clear error naming it, also via the service."""

from __future__ import annotations

import pytest
from service_support import ServiceEnv

from jupyter_mltrack.errors import StoreLocked
from jupyter_mltrack.store.schemes import get_store


def test_store_held_by_a_duckdb_shell_names_the_holder_through_the_service(
    service_env: ServiceEnv,
) -> None:
    service_env.store.parent.mkdir(parents=True)
    holder = service_env.worker("hold-duckdb", str(service_env.store))  # until stdin closes
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"ready"

    with pytest.raises(StoreLocked) as caught:
        get_store(service_env.uri)
    message = str(caught.value)
    assert f"PID {holder.pid}" in message
    assert str(service_env.store) in message and "Close the other program" in message

    cli = service_env.cli("runs", "list")
    assert cli.returncode == 1
    assert f"PID {holder.pid}" in cli.stderr and cli.stderr.startswith("error: ")
    assert "Traceback" not in cli.stderr

    holder.communicate(b"\n", timeout=10)
    assert get_store(service_env.uri).search_experiments("ALL", None, None)
