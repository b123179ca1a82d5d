"""The DuckDB store's in-memory registry snapshot (store/registry_cache.py): dropped by
every write, never kept when a write ended while it was built, not shared with callers,
and the filter evaluated in Python agrees with the SQL path on the same store."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mltrack.store.duckdb.store import DuckDBStore
from jupyter_mltrack.store.registry_base import RegistryQuery
from jupyter_mltrack.store.registry_cache import RegistryCache, build_snapshot


@pytest.fixture
def store(tmp_path: Path):
    s = DuckDBStore("duckdb://" + str(tmp_path / "s.duckdb"))
    yield s
    s.close()


def _fill(store: DuckDBStore) -> None:
    for i, name in enumerate(["alpha", "beta", "gamma_1", "Gamma%2", "delta"]):
        store.create_registered_model(name, {"team": "ab"[i % 2], "i": str(i)}, f"d{i}")
        for j in range(i + 1):
            store.create_model_version(
                name, f"s3://b/{name}/{j}", f"run{j % 2}", {"j": str(j)}, "", None, "u", ""
            )
        store.set_registered_model_alias(name, "champion", 1)


def test_every_write_is_seen_by_the_next_read(store):
    store.create_registered_model("m", {}, "")
    assert store.get_registered_model("m").latest_versions == []
    store.create_model_version("m", "s", None, {}, "", None, "u", "")
    assert [v.version for v in store.get_registered_model("m").latest_versions] == ["1"]
    store.set_model_version_tag("m", 1, "k", "v")
    assert store.get_model_version("m", 1).tags == {"k": "v"}
    store.set_registered_model_alias("m", "a", 1)
    assert store.get_model_version_by_alias("m", "a").aliases == ["a"]
    store.rename_registered_model("m", "n")
    assert store.search_model_versions(RegistryQuery("name = 'n'")).items[0].aliases == ["a"]


def test_a_snapshot_built_across_a_write_is_not_kept():
    cache = RegistryCache()
    empty = build_snapshot([], [], [], [], [])

    def load_while_someone_writes():
        cache.invalidate()  # a write ended while this snapshot was being read
        return empty

    assert cache.get(load_while_someone_writes) is empty
    calls = []
    assert cache.get(lambda: calls.append(1) or empty) is empty
    assert calls == [1]  # the first one was not kept: built again
    assert cache.get(lambda: calls.append(2) or empty) is empty
    assert calls == [1]  # now it is kept


def test_entities_do_not_share_the_snapshot(store):
    _fill(store)
    mv = store.get_model_version("alpha", 1)
    mv.tags["j"] = "changed"
    mv.aliases.append("x")
    assert store.get_model_version("alpha", 1).tags == {"j": "0"}
    assert store.get_model_version("alpha", 1).aliases == ["champion"]


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", ()),
        ("name LIKE 'gamma%'", ()),
        ("name ILIKE 'GAMMA%'", ("name DESC",)),
        ("name LIKE '%\\%%'", ()),
        ("name LIKE 'g_mma%'", ()),
        ("tags.team = 'a' AND name != 'alpha'", ("creation_timestamp DESC",)),
        ("name IN ('beta', 'delta')", ()),
        ("name NOT IN ('beta')", ("last_updated_timestamp ASC",)),
        ("name > 'b'", ()),
    ],
)
def test_cached_model_search_agrees_with_sql(store, text, order):
    _fill(store)
    query = RegistryQuery(text, 2, order)
    cached = store.search_registered_models(query)
    type(store)._registry_cached = False
    try:
        plain = store.search_registered_models(query)
    finally:
        type(store)._registry_cached = True
    assert cached == plain


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", ()),
        ("name = 'delta'", ("version ASC",)),
        ("run_id = 'run1'", ()),
        ("version_number >= 3 AND tags.j != '3'", ("name DESC", "version_number ASC")),
        ("source LIKE 's3://b/G%'", ()),
        ("run_id IN ('run0') AND name ILIKE '%A'", ("creation_timestamp DESC",)),
        ("model_id = 'x'", ()),
    ],
)
def test_cached_version_search_agrees_with_sql(store, text, order):
    _fill(store)
    query = RegistryQuery(text, 4, order)
    cached = store.search_model_versions(query)
    type(store)._registry_cached = False
    try:
        plain = store.search_model_versions(query)
    finally:
        type(store)._registry_cached = True
    assert cached == plain
    if cached.next_page_token:
        follow = RegistryQuery(text, 4, order, cached.next_page_token)
        again = store.search_model_versions(follow)
        type(store)._registry_cached = False
        try:
            assert again == store.search_model_versions(follow)
        finally:
            type(store)._registry_cached = True
