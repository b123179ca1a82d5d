"""A truncated or corrupt spool file is skipped with one warning naming it; the rest is in."""

from __future__ import annotations

import pytest
from service_support import ServiceEnv, kill_pid, sql_rows, wait_gone

from jupyter_mltrack.errors import StoreUnavailable
from jupyter_mltrack.store.remote.spool import CORRUPT_DIR, ClientSpool
from jupyter_mltrack.store.schemes import close_all_stores, get_store
from jupyter_mltrack.tracking.client import TrackingClient


def _unreachable(*_: object) -> None:
    raise StoreUnavailable("the owner is gone (failure injection)")


def test_corrupt_spool_files_are_skipped_once_and_the_rest_ingested(
    service_env: ServiceEnv,
) -> None:
    client = TrackingClient(service_env.uri)
    run_id = client.create_run("0").info.run_id
    client.set_terminated(run_id)
    close_all_stores()
    owner = service_env.wait_owner()
    kill_pid(owner)
    assert wait_gone(owner, 10)

    spool = ClientSpool(service_env.spool, _unreachable)
    for seq in range(4):
        flat: list[object] = []
        for step in range(100):
            flat.extend((run_id, "x", float(step), 1_700_000_000_000, seq * 100 + step))
        with pytest.raises(StoreUnavailable):
            spool.commit(flat)
    files = spool.pending_files()
    assert [f.name for f in files] == ["1.arrow", "2.arrow", "3.arrow", "4.arrow"]
    truncated, garbage = files[1], files[2]
    truncated.write_bytes(truncated.read_bytes()[:300])
    garbage.write_bytes(b"not an arrow file at all" * 10)

    get_store(service_env.uri)  # starts a new owner, which ingests the spool first
    service_env.wait_owner()
    steps = sql_rows(service_env.store, f"SELECT step FROM metrics WHERE run_id = '{run_id}'")
    assert sorted(s for (s,) in steps) == [*range(100), *range(300, 400)]

    log = service_env.log.read_text()
    for bad in (truncated, garbage):
        lines = [line for line in log.splitlines() if str(bad) in line]
        assert len(lines) == 1 and "WARNING" in lines[0], log
        assert (service_env.spool / CORRUPT_DIR / f"{bad.parent.name}-{bad.name}").is_file()
    assert not spool.pending_files(), "good files were removed once in"
