"""The JupyterLab API: what the sidebar and the main-area views read and change.

Served by the server extension under ``<base_url>/mltrack/api/lab`` next to the store API,
through the same :class:`~.api_base.ApiContext` (so the same validating ``TrackingCore``,
the same store executor and the same single error path, :func:`.api_base.error_response`).
:data:`LAB_ROUTES` is the one table of routes: each names its query, body and reply types
(:mod:`.lab_types`), from which the handlers parse requests and :mod:`.openapi` writes the
OpenAPI document (``GET /mltrack/api/lab/openapi.json``).

Reads the table needs fast at 100,000 runs:

- ``GET /runs`` is one page of a server-side sorted and filtered search (``offset`` and
  ``limit``, never the whole list), with only the requested columns.
- Totals come from one ``count(*)`` when the view has no filter; a filtered view's total
  is ``GET /runs/count`` (the store's count of the search, ``TrackingCore.count_runs``),
  asked separately so the rows draw first.
- While the live feed polls (:mod:`.live`), a page or total read at the current store
  version is answered from :class:`PageCache`: many tabs showing the same view cost one
  store read per change.
- A page loads only the params, metrics and tags it shows (``RunQuery.columns``), each
  table read once with a semi-join on the page's run ids.
- Reads run on :attr:`LabContext.reads`, a small pool of their own (the store reads on a
  pool of cursors), so a page never waits behind a slow filtered count, the live feed's
  poll or a write on the store API's single executor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
import re
import tempfile
import typing
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import tornado.iostream
import tornado.web

from ..entities import Run
from ..errors import ArtifactNotFound, InvalidParameter, RunNotFound
from ..store.base import ROW_FIELDS, RunQuery, SeriesRequest
from ..store.remote.wire import (
    dumps,
    encode_float,
    experiment_to_dict,
    file_info_to_dict,
    run_to_dict,
)
from ..store.search import encode_page_token, parse_filter, search_fingerprint
from ..tracking.core import TrackingCore
from .api_base import ApiContext, ApiHandler
from .lab_registry import delete_alias, model_detail, models_page, run_models, set_alias
from .lab_types import (
    AliasBody,
    ArtifactList,
    ArtifactQuery,
    ArtifactTable,
    ArtifactTableQuery,
    ChangeEvent,
    ColumnsQuery,
    ColumnsReply,
    ExperimentsQuery,
    ExperimentsReply,
    FeedStats,
    ModelDetail,
    ModelsPage,
    ModelsQuery,
    RunDetail,
    RunModels,
    RunPatch,
    RunsCount,
    RunsPage,
    RunsQuery,
    SeriesQuery,
    SeriesReply,
)
from .live import ChangeFeed

__all__ = ["LAB_API_PATH", "LAB_ROUTES", "LabContext", "LabRoute", "PageCache", "lab_handlers"]

#: Where the JupyterLab API is mounted, under the server's base URL.
LAB_API_PATH = "/mltrack/api/lab"
#: Largest page of ``GET /runs``.
MAX_PAGE = 5000
#: Most rows of ``GET /runs/{run_id}/artifact/table``.
MAX_TABLE_ROWS = 10_000
#: Table artifacts it reads, by extension.
TABLE_FORMATS = (".csv", ".tsv", ".parquet")
#: Seconds between keep-alive comments on an idle change stream.
KEEPALIVE_S = 15.0
_COLUMN = re.compile(r"(params|metrics|tags)\.(.+)", re.S)
# Ids written into the fixed SQL of counts (see _sql_ids): what our stores generate.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_STAGES = {
    "ACTIVE_ONLY": "lifecycle_stage = 'active'",
    "DELETED_ONLY": "lifecycle_stage = 'deleted'",
}


# ------------------------------------------------------------------------ the context
class PageCache:
    """Answers keyed by ``(what, query, store version)``; the oldest go past ``size``."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = 0
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self.hits += 1
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple[Any, ...], value: bytes) -> None:
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)


#: Threads reading for the lab routes (and the live feed's poll).
READ_THREADS = 3


@dataclass
class LabContext:
    """What the lab handlers share: the store API's context, the live feed, the cache,
    and the pool the read routes run on (the feed polls on it too)."""

    api: ApiContext
    feed: ChangeFeed
    cache: PageCache = dataclasses.field(default_factory=PageCache)
    openapi: Callable[[], dict[str, Any]] | None = None
    reads: Executor = dataclasses.field(
        default_factory=lambda: ThreadPoolExecutor(READ_THREADS, thread_name_prefix="mltrack-lab")
    )

    def __post_init__(self) -> None:
        self.feed.reader = self.read

    async def read(self, fn: Callable[[TrackingCore], Any]) -> Any:
        """``fn(core)`` on the read pool (reads only: writes keep the store executor)."""
        api = self.api
        return await asyncio.get_running_loop().run_in_executor(self.reads, lambda: fn(api.core()))


class LabHandler(ApiHandler):
    """Base of the lab routes: the store API's handler with the lab context."""

    lab: LabContext

    def initialize(self, api: ApiContext, lab: LabContext | None = None) -> None:
        super().initialize(api)
        assert lab is not None
        self.lab = lab

    def parse(self, cls: type[Any]) -> Any:
        """The query of this request as ``cls`` (a :mod:`.lab_types` dataclass)."""
        return parse_query(self, cls)

    def parse_body(self, cls: type[Any]) -> Any:
        return parse_body(self.json_body(), cls)

    async def cached(
        self,
        what: str,
        key: Any,
        fn: Callable[[TrackingCore], Any],
        encode: Callable[[Any], bytes] = dumps,
    ) -> None:
        """Reply with ``fn(core)`` as JSON (``encode``), from the cache when read at the
        live version."""
        version = self.lab.feed.live_version()
        if version is not None:
            hit = self.lab.cache.get((what, key, version))
            if hit is not None:
                self.reply(hit)
                return
        body = await self.lab.read(lambda core: encode(fn(core)))
        if version is not None and version == self.lab.feed.live_version():
            self.lab.cache.put((what, key, version), body)
        self.reply(body)


# ------------------------------------------------------------------------- parsing
def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def parse_query(h: ApiHandler, cls: type[Any]) -> Any:
    """Build ``cls`` from the query string, by the types of its fields."""
    values: dict[str, Any] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if typing.get_origin(tp) is list:
            items = h.query_list(f.name)
            if items:
                values[f.name] = items
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InvalidParameter(
                    f"Missing required query parameter {f.name!r} (repeat it for each value)."
                )
            continue
        base = _non_null(tp)
        if base is bool:
            text = h.query(f.name)
            if text is not None:
                if text not in ("true", "false", "1", "0"):
                    raise InvalidParameter(
                        f"Query parameter {f.name!r} must be true or false, got {text!r}."
                    )
                values[f.name] = text in ("true", "1")
        elif base in (int, float):
            number = h.query_number(f.name, base)
            if number is not None:
                values[f.name] = number
        else:
            text = h.query(f.name)
            if text is not None:
                values[f.name] = text
        if f.name not in values and f.default is dataclasses.MISSING:
            raise InvalidParameter(f"Missing required query parameter {f.name!r}.")
    return cls(**values)


def parse_body(body: dict[str, Any], cls: type[Any]) -> Any:
    """Build ``cls`` from a JSON object body, checking each field's type."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(body) - names)
    if unknown:
        raise InvalidParameter(
            f"Unknown field(s) {', '.join(map(repr, unknown))}; expected some of "
            f"{', '.join(sorted(names))}."
        )
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in body
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InvalidParameter(f"Missing field(s) {', '.join(map(repr, missing))} in the body.")
    for name, value in body.items():
        tp = hints[name]
        if value is None and _non_null(tp) is not tp:
            continue
        base = _non_null(tp)
        origin = typing.get_origin(base) or base
        ok = {
            list: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            dict: lambda v: (
                isinstance(v, dict)
                and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
            ),
            str: lambda v: isinstance(v, str),
        }[origin](value)
        if not ok:
            what = {list: "a list of strings", dict: "an object of strings", str: "a string"}
            raise InvalidParameter(f"Field {name!r} must be {what[origin]}, got {value!r:.80}.")
    return cls(**body)


def _non_null(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, type(int | None)) and args else tp


# --------------------------------------------------------------------------- reads
def run_query(q: RunsQuery) -> RunQuery:
    """The store search of a runs view: the user's filter (checked alone first, so error
    positions point into what the user typed) and the view's fixed clauses."""
    if not q.experiment_ids:
        raise InvalidParameter("Pass at least one experiment_ids to list runs.")
    if not 1 <= q.limit <= MAX_PAGE:
        raise InvalidParameter(f"limit must be in 1..{MAX_PAGE}, got {q.limit}.")
    if q.offset < 0:
        raise InvalidParameter(f"offset must be 0 or more, got {q.offset}.")
    for column in q.columns:
        if not _COLUMN.fullmatch(column):
            raise InvalidParameter(
                f"Column {column!r} is not params.<key>, metrics.<key> or tags.<key>."
            )
    clauses = []
    if q.filter.strip():
        parse_filter(q.filter)  # raises InvalidFilter with the position in q.filter
        clauses.append(f"({q.filter})")
    if q.parent_run_id is not None:
        clauses.append(f"attributes.parent_run_id = '{_quoted(q.parent_run_id)}'")
    elif q.top_level:
        clauses.append("attributes.parent_run_id IS NULL")
    return RunQuery(
        tuple(q.experiment_ids),
        " AND ".join(clauses),
        q.view_type,
        q.limit,
        tuple(q.order_by),
        columns=tuple(q.columns),
    )


def _quoted(text: str) -> str:
    if "\\" in text:
        raise InvalidParameter(f"Run id {text!r} has a backslash: not a run id.")
    return text.replace("'", "''")


def runs_page(core: TrackingCore, q: RunsQuery, version: int) -> dict[str, Any]:
    """The body of ``GET /runs`` (``RunsPage``)."""
    query = run_query(q)
    if q.offset:
        fingerprint = search_fingerprint(
            query.experiment_ids, query.filter_string, query.order_by, query.view_type
        )
        query = replace(query, page_token=encode_page_token(q.offset, fingerprint))
    page = core.search_rows(query)
    children = _child_counts(core, [r["run_id"] for r in page.rows])
    total = None if q.filter.strip() else _plain_count(core, q)
    return {
        "runs": [_row(r, q.columns, children.get(r["run_id"], 0)) for r in page.rows],
        "offset": q.offset,
        "total": total,
        "has_more": page.next_page_token is not None,
        "version": version,
    }


def runs_count(core: TrackingCore, q: RunsQuery, version: int) -> dict[str, Any]:
    """The body of ``GET /runs/count`` (``RunsCount``)."""
    query = run_query(q)
    total = _plain_count(core, q) if not q.filter.strip() else None
    if total is None:
        total = core.count_runs(query)
    return {"total": total, "version": version}


def page_json(body: dict[str, Any]) -> bytes:
    """A ``runs_page`` body as JSON through orjson: 3.5 ms for 3,000 rows where
    :func:`~..store.remote.wire.dumps` takes 37 ms (the largest share of a scroll's page
    after the store reads). The same JSON: the body holds only strings, ints, ``None`` and
    metric values already passed through ``encode_float`` (no raw NaN to refuse)."""
    return orjson.dumps(body)


def _row(row: dict[str, Any], columns: list[str], child_count: int) -> dict[str, Any]:
    """A ``RunRows`` row in the shape of ``RunRow``: the asked values under ``values``,
    metrics through ``encode_float`` (NaN and infinities as strings)."""
    values = {c: encode_float(v) if isinstance(v := row[c], float) else v for c in columns}
    return {
        **{name: row[name] for name in ROW_FIELDS},
        "child_count": child_count,
        "values": values,
    }


def _sql_ids(ids: list[str]) -> str | None:
    """``'a', 'b'`` for fixed SQL over the documented views, or ``None`` when an id is not
    of the plain form our stores generate (the caller then takes the search path). The
    read-only SQL route takes no bound parameters; nothing but such ids is written in."""
    if not ids or not all(_PLAIN_ID.fullmatch(i) for i in ids):
        return None
    return ", ".join(f"'{i}'" for i in ids)


def _plain_count(core: TrackingCore, q: RunsQuery) -> int | None:
    """``count(*)`` of an unfiltered view (one cheap statement), or ``None``."""
    experiments = _sql_ids(list(q.experiment_ids))
    if experiments is None or q.view_type not in (*_STAGES, "ALL"):
        return None
    where = [f"experiment_id IN ({experiments})", _STAGES.get(q.view_type, "TRUE")]
    if q.parent_run_id is not None:
        parent = _sql_ids([q.parent_run_id])
        if parent is None:
            return None
        where.append(f"parent_run_id = {parent}")
    elif q.top_level:
        where.append("parent_run_id IS NULL")
    rows = core.sql(f"SELECT count(*) FROM runs WHERE {' AND '.join(where)}").fetchall()
    return int(rows[0][0])


def _child_counts(core: TrackingCore, run_ids: list[str]) -> dict[str, int]:
    """How many children each of ``run_ids`` has. One grouped scan of the runs' parent
    column (5 ms at 100,000 runs), filtered here: a page's ids written into the SQL as an
    ``IN`` list cost 56 ms to parse at 1,000 ids."""
    if not run_ids:
        return {}
    wanted = set(run_ids)
    rows = core.sql(
        "SELECT parent_run_id, count(*) FROM runs WHERE parent_run_id IS NOT NULL GROUP BY 1"
    ).fetchall()
    return {str(p): int(n) for p, n in rows if p in wanted}


def columns(core: TrackingCore, q: ColumnsQuery) -> dict[str, Any]:
    """The body of ``GET /columns`` (``ColumnsReply``).

    When every run of the store is in the experiments asked (one experiment in use, the
    common case), the keys are the tables' distinct keys: 9 ms over 1,000,000 params
    instead of 82 ms restricted to the experiments' runs by a join.
    """
    ids = _sql_ids(list(q.experiment_ids))
    if ids is None:
        raise InvalidParameter(f"Experiment ids must be plain ids, got {q.experiment_ids!r}.")
    others = core.sql(f"SELECT count(*) FROM runs WHERE experiment_id NOT IN ({ids})")
    every_run = int(others.fetchall()[0][0]) == 0
    out: dict[str, list[str]] = {}
    for name, view in (("params", "params"), ("metrics", "latest_metrics"), ("tags", "tags")):
        if every_run:
            sql = f"SELECT DISTINCT key FROM {view} ORDER BY 1"
        else:
            sql = (
                f"SELECT key FROM {view} WHERE run_id IN "
                f"(SELECT run_id FROM runs WHERE experiment_id IN ({ids})) GROUP BY key ORDER BY 1"
            )
        out[name] = [str(r[0]) for r in core.sql(sql).fetchall()]
    return out


def _summary(run: Run) -> dict[str, Any]:
    return {"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status}


def run_detail(core: TrackingCore, run_id: str) -> dict[str, Any]:
    """The body of ``GET /runs/{run_id}`` (``RunDetail``)."""
    run = core.get_run(run_id)
    experiment = core.get_experiment(run.info.experiment_id)
    parent = None
    if run.info.parent_run_id:
        try:
            parent = _summary(core.get_run(run.info.parent_run_id))
        except RunNotFound:  # the parent was removed for good (gc)
            parent = None
    page = core.search_page(
        RunQuery(
            (run.info.experiment_id,),
            f"attributes.parent_run_id = '{_quoted(run_id)}'",
            "ALL",
            MAX_PAGE,
        )
    )
    return {
        "run": run_to_dict(run),
        "experiment": experiment_to_dict(experiment),
        "parent": parent,
        "children": [_summary(r) for r in page.runs],
    }


def patch_run(core: TrackingCore, run_id: str, patch: RunPatch) -> dict[str, Any]:
    """Apply ``PATCH /runs/{run_id}``: restore, then rename and tags, then delete."""
    if patch.lifecycle_stage not in (None, "active", "deleted"):
        raise InvalidParameter(
            f"lifecycle_stage must be 'active' or 'deleted', got {patch.lifecycle_stage!r}."
        )
    if patch.run_name is not None and not patch.run_name.strip():
        raise InvalidParameter("run_name cannot be empty; give the run a name.")
    core.get_run(run_id)  # 404 before any change
    if patch.lifecycle_stage == "active":
        core.restore_run(run_id)
    if patch.run_name is not None:
        core.update_run(run_id, None, patch.run_name, None)
    for key, value in patch.set_tags.items():
        core.set_tag(run_id, key, value)
    for key in patch.delete_tags:
        core.delete_tag(run_id, key)
    if patch.lifecycle_stage == "deleted":
        core.delete_run(run_id)
    return run_detail(core, run_id)


def artifact_list(core: TrackingCore, run_id: str, path: str) -> dict[str, Any]:
    core.get_run(run_id)
    files = core.list_artifacts(run_id, path or None)
    return {"path": path, "files": [file_info_to_dict(f) for f in files]}


def artifact_bytes(core: TrackingCore, run_id: str, path: str) -> bytes:
    if not path:
        raise InvalidParameter("Pass the path of an artifact file, e.g. ?path=plots/loss.png.")
    core.get_run(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(core.download_artifacts(run_id, path, tmp))
        except FileNotFoundError as exc:
            raise ArtifactNotFound(f"No artifact {path!r} in run {run_id}.") from exc
        if local.is_dir():
            raise InvalidParameter(
                f"{path!r} is a directory; list it with GET /runs/{run_id}/artifacts?path=..."
            )
        return local.read_bytes()


def artifact_table(core: TrackingCore, run_id: str, q: ArtifactTableQuery) -> dict[str, Any]:
    """The body of ``GET /runs/{run_id}/artifact/table`` (``ArtifactTable``): the first
    ``limit`` rows of a CSV, TSV or Parquet artifact, read in batches (a large file is
    streamed, never loaded whole), and the number of rows of the whole file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not 1 <= q.limit <= MAX_TABLE_ROWS:
        raise InvalidParameter(f"limit must be in 1..{MAX_TABLE_ROWS}, got {q.limit}.")
    suffix = Path(q.path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise InvalidParameter(
            f"{q.path!r} is not a table artifact: pass a {', '.join(TABLE_FORMATS)} file "
            "(other files: GET /runs/{run_id}/artifact)."
        )
    core.get_run(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(core.download_artifacts(run_id, q.path, tmp))
        except FileNotFoundError as exc:
            raise ArtifactNotFound(f"No artifact {q.path!r} in run {run_id}.") from exc
        if local.is_dir():
            raise InvalidParameter(f"{q.path!r} is a directory, not a table file.")
        batches: list[Any] = []
        kept = total = 0
        try:
            if suffix == ".parquet":
                reader: Any = pq.ParquetFile(local, pre_buffer=False)  # the head only
                schema = reader.schema_arrow
                total = int(reader.metadata.num_rows)
                stream = reader.iter_batches(batch_size=min(q.limit, 1024))
            else:
                stream = pacsv.open_csv(
                    local,
                    parse_options=pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ","),
                )
                schema = stream.schema
            for batch in stream:
                if suffix != ".parquet":
                    total += batch.num_rows
                if kept < q.limit:
                    batches.append(batch.slice(0, q.limit - kept))
                    kept += batches[-1].num_rows
                elif suffix == ".parquet":
                    break
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidParameter(
                f"{q.path!r} could not be read as {suffix[1:].upper()}: {exc}"
            ) from exc
        table = pa.Table.from_batches(batches, schema=schema)
    columns = table.column_names
    rows = [[_json_cell(row[c]) for c in columns] for row in table.to_pylist()]
    return {"path": q.path, "columns": columns, "rows": rows, "total_rows": total}


def _json_cell(value: Any) -> Any:
    """A table value as JSON: numbers (non-finite as wire strings), text, bool, null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return encode_float(value)
    return str(value)


def series(core: TrackingCore, q: SeriesQuery) -> dict[str, Any]:
    """The body of ``GET /series`` (``SeriesReply``): M4 buckets flattened to x/y points."""
    if not 1 <= q.width <= 10_000:
        raise InvalidParameter(f"width must be in 1..10000, got {q.width}.")
    table = core.series_table(
        SeriesRequest(tuple(q.run_ids), q.key, q.width, q.x_axis, q.x_min, q.x_max)
    ).to_pydict()
    traces: dict[str, list[tuple[float, float]]] = {}
    for i, run_id in enumerate(table.get("run_id", [])):
        points = traces.setdefault(run_id, [])
        bucket = sorted(
            {(table[f"{p}_x"][i], table[f"{p}_value"][i]) for p in ("first", "min", "max", "last")}
        )
        points.extend(bucket)
    return {
        "key": q.key,
        "x_axis": q.x_axis,
        "traces": [
            {
                "run_id": run_id,
                "x": [encode_float(float(x)) for x, _ in traces[run_id]],
                "y": [encode_float(float(y)) for _, y in traces[run_id]],
            }
            for run_id in q.run_ids
            if run_id in traces
        ],
    }


# ------------------------------------------------------------------------ handlers
def _query_key(q: Any) -> tuple[Any, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in dataclasses.astuple(q))


class OpenApiHandler(LabHandler):
    async def get(self) -> None:
        assert self.lab.openapi is not None
        self.reply(dumps(self.lab.openapi()))


class LabExperimentsHandler(LabHandler):
    async def get(self) -> None:
        q: ExperimentsQuery = self.parse(ExperimentsQuery)
        await self.answer(
            lambda c: {
                "experiments": [
                    experiment_to_dict(e) for e in c.search_experiments(q.view_type, None)
                ]
            }
        )


class LabRunsHandler(LabHandler):
    async def get(self) -> None:
        q: RunsQuery = self.parse(RunsQuery)
        run_query(q)  # errors answer before any store work
        version = self.lab.feed.version
        await self.cached("page", _query_key(q), lambda c: runs_page(c, q, version), page_json)


class LabRunsCountHandler(LabHandler):
    async def get(self) -> None:
        q: RunsQuery = self.parse(RunsQuery)
        run_query(q)
        version = self.lab.feed.version
        key = _query_key(replace(q, offset=0, limit=1, columns=[]))
        await self.cached("count", key, lambda c: runs_count(c, q, version))


class LabColumnsHandler(LabHandler):
    async def get(self) -> None:
        q: ColumnsQuery = self.parse(ColumnsQuery)
        await self.cached("columns", _query_key(q), lambda c: columns(c, q))


class LabRunHandler(LabHandler):
    async def get(self, run_id: str) -> None:
        await self.answer(lambda c: run_detail(c, run_id))

    async def patch(self, run_id: str) -> None:
        patch: RunPatch = self.parse_body(RunPatch)
        await self.answer(lambda c: patch_run(c, run_id, patch))


class LabArtifactsHandler(LabHandler):
    async def get(self, run_id: str) -> None:
        q: ArtifactQuery = self.parse(ArtifactQuery)
        await self.answer(lambda c: artifact_list(c, run_id, q.path))


class LabArtifactHandler(LabHandler):
    async def get(self, run_id: str) -> None:
        q: ArtifactQuery = self.parse(ArtifactQuery)
        data = await self.api.run(lambda c: artifact_bytes(c, run_id, q.path))
        kind = mimetypes.guess_type(q.path)[0] or "application/octet-stream"
        self.set_header("Cache-Control", "no-store")
        self.reply(data, kind)


class LabArtifactTableHandler(LabHandler):
    async def get(self, run_id: str) -> None:
        q: ArtifactTableQuery = self.parse(ArtifactTableQuery)
        await self.answer(lambda c: artifact_table(c, run_id, q))


class LabSeriesHandler(LabHandler):
    async def get(self) -> None:
        q: SeriesQuery = self.parse(SeriesQuery)
        self.reply(await self.lab.read(lambda c: dumps(series(c, q))))


class LabModelsHandler(LabHandler):
    async def get(self) -> None:
        q: ModelsQuery = self.parse(ModelsQuery)
        self.reply(await self.lab.read(lambda c: dumps(models_page(c, q))))


class LabModelHandler(LabHandler):
    async def get(self, name: str) -> None:
        self.reply(await self.lab.read(lambda c: dumps(model_detail(c, name))))


class LabAliasHandler(LabHandler):
    async def put(self, name: str, alias: str) -> None:
        body: AliasBody = self.parse_body(AliasBody)
        await self.answer(lambda c: set_alias(c, name, alias, body))

    async def delete(self, name: str, alias: str) -> None:
        await self.answer(lambda c: delete_alias(c, name, alias))


class LabRunModelsHandler(LabHandler):
    async def get(self, run_id: str) -> None:
        self.reply(await self.lab.read(lambda c: dumps(run_models(c, run_id))))


class LabChangesHandler(LabHandler):
    """``GET /changes``: a server-sent event stream, one ``change`` event per new version."""

    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not buffer the stream
        self._closed = False
        async with self.lab.feed.subscribe() as sub:
            try:
                self.write(": mltrack change stream\n\n")
                await self.flush()
                while not self._closed:
                    event = await sub.next(KEEPALIVE_S)
                    self.write(": keep-alive\n\n" if event is None else _sse(event))
                    await self.flush()
            except tornado.iostream.StreamClosedError:
                pass
        if not self._closed:
            self.finish()

    def on_connection_close(self) -> None:
        self._closed = True
        super().on_connection_close()


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: change\ndata: " + dumps(event) + b"\n\n"


class LabFeedStatsHandler(LabHandler):
    async def get(self) -> None:
        self.reply(dumps(self.lab.feed.stats()))


# --------------------------------------------------------------------------- routes
@dataclass(frozen=True)
class LabRoute:
    """One operation: what :mod:`.openapi` documents and what the handler parses."""

    method: str
    path: str  # OpenAPI form, e.g. "/runs/{run_id}"
    handler: type[LabHandler]
    summary: str
    query: type[Any] | None = None
    body: type[Any] | None = None
    reply: type[Any] | None = None
    content_type: str = "application/json"


#: Every route of the JupyterLab API (paths under :data:`LAB_API_PATH`), most specific
#: first. A route missing here is neither served nor documented.
LAB_ROUTES: list[LabRoute] = [
    LabRoute(
        "get",
        "/openapi.json",
        OpenApiHandler,
        "This API's OpenAPI document.",
        content_type="application/json",
    ),
    LabRoute(
        "get",
        "/experiments",
        LabExperimentsHandler,
        "The store's experiments.",
        ExperimentsQuery,
        reply=ExperimentsReply,
    ),
    LabRoute(
        "get",
        "/runs/count",
        LabRunsCountHandler,
        "Rows in a runs view.",
        RunsQuery,
        reply=RunsCount,
    ),
    LabRoute(
        "get",
        "/runs",
        LabRunsHandler,
        "One page of a sorted, filtered runs view, with the chosen columns.",
        RunsQuery,
        reply=RunsPage,
    ),
    LabRoute(
        "get",
        "/columns",
        LabColumnsHandler,
        "Param, metric and tag keys of some experiments (the column chooser).",
        ColumnsQuery,
        reply=ColumnsReply,
    ),
    LabRoute(
        "get",
        "/runs/{run_id}/artifacts",
        LabArtifactsHandler,
        "One level of a run's artifacts.",
        ArtifactQuery,
        reply=ArtifactList,
    ),
    LabRoute(
        "get",
        "/runs/{run_id}/artifact/table",
        LabArtifactTableHandler,
        "The first rows of a CSV, TSV or Parquet artifact as a JSON table.",
        ArtifactTableQuery,
        reply=ArtifactTable,
    ),
    LabRoute(
        "get",
        "/runs/{run_id}/artifact",
        LabArtifactHandler,
        "The bytes of one artifact file (content type from its name).",
        ArtifactQuery,
        content_type="application/octet-stream",
    ),
    LabRoute(
        "get",
        "/runs/{run_id}/models",
        LabRunModelsHandler,
        "The models a run logged and the registered versions made from it.",
        reply=RunModels,
    ),
    LabRoute(
        "get",
        "/runs/{run_id}",
        LabRunHandler,
        "A run with its experiment, parent and children.",
        reply=RunDetail,
    ),
    LabRoute(
        "patch",
        "/runs/{run_id}",
        LabRunHandler,
        "Rename, tag, delete or restore a run.",
        body=RunPatch,
        reply=RunDetail,
    ),
    LabRoute(
        "get",
        "/series",
        LabSeriesHandler,
        "A metric of some runs, downsampled to the chart's width.",
        SeriesQuery,
        reply=SeriesReply,
    ),
    LabRoute(
        "get",
        "/models",
        LabModelsHandler,
        "One page of registered models, by name.",
        ModelsQuery,
        reply=ModelsPage,
    ),
    LabRoute(
        "put",
        "/models/{name}/aliases/{alias}",
        LabAliasHandler,
        "Point an alias of a registered model at a version.",
        body=AliasBody,
        reply=ModelDetail,
    ),
    LabRoute(
        "delete",
        "/models/{name}/aliases/{alias}",
        LabAliasHandler,
        "Delete an alias of a registered model.",
        reply=ModelDetail,
    ),
    LabRoute(
        "get",
        "/models/{name}",
        LabModelHandler,
        "A registered model with its versions, each with its run and metrics.",
        reply=ModelDetail,
    ),
    LabRoute(
        "get",
        "/changes/stats",
        LabFeedStatsHandler,
        "What the live-update poll costs.",
        reply=FeedStats,
    ),
    LabRoute(
        "get",
        "/changes",
        LabChangesHandler,
        "Server-sent events: one `change` event per new store version.",
        reply=ChangeEvent,
        content_type="text/event-stream",
    ),
]


def tornado_pattern(path: str) -> str:
    """``/runs/{run_id}`` -> ``/runs/([^/]+)``."""
    return re.sub(r"\{\w+\}", "([^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))


def lab_handlers(
    lab: LabContext,
    variant: Callable[[type[LabHandler]], type[tornado.web.RequestHandler]],
    base_path: str = LAB_API_PATH,
) -> list[tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]]:
    """Route specs for :data:`LAB_ROUTES` (one per path) under ``base_path``.

    ``variant`` turns a handler class into the one served (the server extension's makes
    every verb ``@tornado.web.authenticated``).
    """
    base = "/" + base_path.strip("/")
    seen: dict[str, type[LabHandler]] = {}
    for route in LAB_ROUTES:
        seen.setdefault(route.path, route.handler)
    kwargs = {"api": lab.api, "lab": lab}
    return [(base + tornado_pattern(p), variant(h), kwargs) for p, h in seen.items()]
