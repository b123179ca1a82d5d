"""Turn the workers' numbers into the printed table, details and notes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .harness import Sizes


@dataclass(frozen=True)
class Row:
    workload: str
    mltrack: str
    baseline: str  # "<what> <figure>", or "" when the row only checks a target
    ratio: float | None  # jupyter-mltrack / baseline, in the row's unit
    target: str
    met: bool | None


def ns(v: float) -> str:
    return f"{v:,.0f} ns" if v < 100_000 else f"{v / 1e6:,.2f} ms"


def ms(v: float) -> str:
    return f"{v:,.3g} ms" if v < 1000 else f"{v:,.0f} ms"


def rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f}M pts/s"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k pts/s"
    return f"{v:,.0f} pts/s"


def ratio(r: float | None) -> str:
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 0.01:
        return f"{r:.3g}x"
    return f"1/{1 / r:,.0f}x"


MODE_TITLES = {
    "service": "== store mode: service (the default users get: a store-service process owns the "
    "DuckDB file; the logging process is its client) ==",
    "direct": "== store mode: direct (MLTRACK_STORE_MODE=direct: the logging process opens the "
    "DuckDB file itself) ==",
}


def build_rows(sizes: Sizes, res: dict[str, Any], mlflow: dict[str, Any] | None) -> list[Row]:
    """The table rows of one store mode; MLflow rows only when ``mlflow`` is given."""
    res = {**res, "mlflow": mlflow}
    return [*_per_call_rows(res), *_ingest_rows(res), *_read_rows(sizes, res)]


def _vs(label: str, ours: float, what: str, theirs: float, fmt: Callable[[float], str]) -> Row:
    """A row comparing with a baseline, without a target."""
    return Row(label, fmt(ours), f"{what} {fmt(theirs)}", ours / theirs, "-", None)


def _per_call_rows(res: dict[str, Any]) -> list[Row]:
    pc, loop = res["per_call"]["per_call_ns"], res["per_call"]["loop_per_call_ns"]
    mt50 = pc["log_metric"]["median"]
    rows = []
    for label, name, what in (
        ("1 log_metric, per call, median", "append_clock", "list.append + clock"),
        ("  per call, median", "append_bare", "list.append bare"),
    ):
        base = pc[name]["median"]
        r = mt50 / base
        rows.append(Row(label, ns(mt50), f"{what} {ns(base)}", r, "<= 4x", r <= 4))
    mt99, clock99 = pc["log_metric"]["p99"], pc["append_clock"]["p99"]
    rows.append(_vs("  per call, p99", mt99, "list.append + clock", clock99, ns))
    mt_loop, clock_loop = loop["log_metric"], loop["append_clock"]
    rows.append(
        _vs("  loop total / calls (no timers)", mt_loop, "list.append + clock", clock_loop, ns)
    )
    if mf := res.get("mlflow"):
        m50 = mf["log_metric"]["per_call_ns"]["median"]
        rows.append(_vs("  per call, median [m]", mt50, "mlflow.log_metric", m50, ns))
    return rows


def _ingest_rows(res: dict[str, Any]) -> list[Row]:
    rows = []
    mf = res.get("mlflow")
    for mode, label in (("log_metric", "log_metric loop"), ("log_metrics", "log_metrics, 10 keys")):
        r = res[f"ingest_{mode}"]
        ours, duck = r["points_per_s"], r["duckdb_points_per_s"]
        rel, target = ours / duck, ">= 1M/s, >= 0.3x"
        met = ours >= 1e6 and rel >= 0.3
        rows.append(
            Row(f"2 ingest, {label}", rate(ours), f"DuckDB bulk insert {rate(duck)}", rel,
                target, met)
        )  # fmt: skip
        if mf:
            rows.append(
                _vs("  vs MLflow [m]", ours, f"mlflow.{mode}", mf[mode]["points_per_s"], rate)
            )
    return rows


@dataclass(frozen=True)
class _Read:
    label: str
    key: str  # in the reads results
    target_ms: float | None
    unit: str  # "runs" (runs in the store) or "pts" (history points)
    per: int  # MLflow rows compare ms per this many units
    per_label: str


def _read_rows(sizes: Sizes, res: dict[str, Any]) -> list[Row]:
    rd, mf = res["reads"], (res.get("mlflow") or {}).get("reads")
    hist, series = sizes.history_points, sizes.series_points
    runs, k100, m1 = (
        ("runs", 1000, "1k runs"),
        ("pts", 100_000, "100k pts"),
        ("pts", 10**6, "1M pts"),
    )
    specs = [
        _Read(f"3 search_runs filter+order, {sizes.runs:,} runs", "search_filtered", 50, *runs),
        _Read(f"3 search_runs all {sizes.runs:,} runs -> df", "search_all", 300, *runs),
        _Read(f"3 get_metric_history {hist:,} pts", "history", 20, *k100),
        _Read("  list(history), all Metric objects", "history_list", None, *k100),
        _Read(f"3 get_metric_series {series:,} pts -> 1k", "series", 50, *m1),
    ]
    rows = []
    for spec in specs:
        med = rd[spec.key]["median_ms"]
        target = "-" if spec.target_ms is None else f"<= {spec.target_ms:g} ms"
        met = None if spec.target_ms is None else med <= spec.target_ms
        rows.append(Row(spec.label, ms(med), "", None, target, met))
        if not mf:
            continue
        ours_n = {"runs": sizes.runs, "pts": series if spec.key == "series" else hist}[spec.unit]
        theirs_n = mf["runs"] if spec.unit == "runs" else mf["history_points"]
        theirs_key = "history" if spec.key == "history_list" else spec.key
        what = "mlflow history+M4" if spec.key == "series" else "mlflow"
        rows.append(
            _vs(f"  vs MLflow, per {spec.per_label} [m]", med * spec.per / ours_n, what,
                mf[theirs_key]["median_ms"] * spec.per / theirs_n, ms)
        )  # fmt: skip
    return rows


def format_table(rows: list[Row]) -> str:
    head = ("workload", "jupyter-mltrack", "baseline", "ratio", "target", "met?")
    cells = [
        (
            r.workload,
            r.mltrack,
            r.baseline or "-",
            ratio(r.ratio),
            r.target,
            "-" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
    right = {1, 3}  # numbers align right

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(
            c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i]) for i in range(len(c))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(c) for c in cells)])


def format_details(sizes: Sizes, res: dict[str, Any], mf: dict[str, Any] | None) -> str:
    """Figures behind one table: tails, where ingest time goes, cold calls, store build.

    ``mf`` (MLflow's numbers) adds their details; pass it with the last table only.
    """
    out = []
    pc = res["per_call"]
    out.append(
        f"1 per call: {pc['calls_per_side']:,} timed calls per side in {sizes.percall_rounds} "
        "interleaved rounds; loop totals are the median round"
    )
    for name, s in pc["per_call_ns"].items():
        out.append(
            f"    {name:<13} median {ns(s['median'])}  p90 {ns(s['p90'])}  p99 {ns(s['p99'])}"
            f"  max {ns(s['max'])}"
        )
    for mode in ("log_metric", "log_metrics"):
        r = res[f"ingest_{mode}"]
        out.append(
            f"2 ingest {mode}: {r['points']:,} points x {sizes.ingest_repeats} repeats, each in a "
            f"new store; median repeat: loop {r['loop_s']:.2f} s + flush wait {r['flush_s']:.2f} s"
            f" = {r['total_s']:.2f} s"
        )
        out.append(
            "    all repeats: jupyter-mltrack "
            + ", ".join(rate(v) for v in r["all_points_per_s"])
            + "; DuckDB bulk insert "
            + ", ".join(rate(v) for v in r["all_duckdb_points_per_s"])
        )
    rd = res["reads"]
    b = rd["build_s"]
    out.append(
        f"3 store: {sizes.runs:,} runs x {sizes.params} params x {sizes.metrics} metrics x "
        f"{sizes.metric_steps} steps + {sizes.history_points:,}- and {sizes.series_points:,}-point "
        f"histories; built in {sum(b.values()):.1f} s (API setup {b['api_setup']:.1f} s, raw Arrow "
        f"insert of runs/params/tags {b['runs_params_tags']:.1f} s, store.log_metric_table "
        f"{b['metrics']:.1f} s)"
    )
    out.append(
        f"    opening the store (first call; in service mode this starts the service) took "
        f"{ms(rd['open_ms'])}; filtered search matched {rd['search_filtered']['rows']:,} runs; "
        "medians of "
        f"{sizes.read_repeats} calls after one warm-up call; first (cold) calls: "
        + ", ".join(
            f"{k} {ms(rd[k]['cold_ms'])}"
            for k in ("search_filtered", "search_all", "history", "history_list", "series")
        )
    )
    if mf:
        m = mf["reads"]
        out.append(
            f"[m] MLflow {mf['version']} (SQLite), scaled down: {mf['log_metric']['points']:,} "
            f"log_metric calls, {mf['log_metrics']['points']:,} points via log_metrics, "
            f"{m['runs']:,} runs (create_run + log_batch each, {m['build_runs_s']:.1f} s), "
            f"a {m['history_points']:,}-point history (log_batch, {m['build_history_s']:.1f} s); "
            f"filtered search matched {m['search_filtered']['rows']} runs; medians of "
            f"{sizes.mlflow_repeats} calls after a warm-up."
        )
        out.append(
            f"    MLflow per-call median {ns(mf['log_metric']['per_call_ns']['median'])}, p99 "
            f"{ns(mf['log_metric']['per_call_ns']['p99'])}; import took {mf['import_s']:.1f} s"
        )
    return "\n".join(out)


NOTES = """\
Notes
  ratio   jupyter-mltrack / baseline in the row's unit: for ns and ms lower is better, for
          pts/s higher is better. "1/250x" means jupyter-mltrack takes 1/250 of the time.
  1       Both loops time each call with perf_counter_ns (timer overhead on both sides).
          "list.append + clock" builds the same tuple log_metric buffers, reading the wall
          clock for timestamp_ms as log_metric must; "bare" appends a tuple whose timestamp
          was read before the timer started.
  2       From the first log call until mt.flush() returns (every point committed; the
          count is checked in the store). The baseline inserts the same rows, already an
          Arrow table, with DuckDB's INSERT INTO t SELECT * FROM arrow_tbl into a fresh file.
          Repeats interleave the two, each in a new store/file; medians count.
  3       The runs, params and tags of the search store are inserted as Arrow tables with a
          plain DuckDB connection (there is no bulk run API); metric points go through
          store.log_metric_table. Times are from a freshly opened store, median after warm-up.
  [m]     MLflow runs the same workloads at smaller sizes (its SQLite store commits every
          call), so rows compare per-unit figures: points/s, ms per 1,000 runs in the store,
          ms per 100k or 1M history points. Per-unit scaling is linear; fixed per-call costs
          are spread over 10x more runs/points on the jupyter-mltrack side. MLflow has no
          downsampling: its series figure is get_metric_history + a numpy M4.
  More in docs/benchmarks.md."""
