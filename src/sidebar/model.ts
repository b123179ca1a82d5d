/**
 * The sidebar's runs view as data, without DOM: the query (experiments, filter, sort,
 * columns, deleted or active runs), rows fetched in blocks as they scroll into view, the
 * total, nested runs expanded under their parent, the selection. Everything sorts and
 * filters on the server; the model holds the blocks it was asked to show, those the scroll
 * is heading to and those next to the view (at most `MAX_CACHED_BLOCKS`).
 */
import { ISignal, Signal } from '@lumino/signaling';

import { LabApiError } from '../api/lab';
import type { IRunRow, IRunsPage, IRunsQuery, IRunsCount } from '../api/lab';

/** Rows per block (the unit the model keeps and reads). */
export const BLOCK_SIZE = 100;
/** Block reads in flight at once: while scrolling fast, later wishes replace earlier ones
 * (only the blocks wanted when a read finishes are read next), so requests never pile up
 * behind a store that answers slower than the scroll moves. */
export const MAX_IN_FLIGHT = 2;
/** Most consecutive blocks one read asks for (3,000 rows; the server's largest page is
 * 5,000). A page costs the store a few table scans whatever its size (through the lab
 * server at 100,000 runs: 100 rows 29 ms, 1,000 rows 44 ms), so large reads keep up with
 * a scroll where block-sized ones fall behind (on 2 busy cores, one pair of runs of
 * bench_jupyterlab's top-to-bottom scroll: 44 of 414 frames blank with 3,000-row reads,
 * 408 of 479 with 1,000-row ones). */
export const MAX_READ_BLOCKS = 30;
/** While scrolling, keep reading ahead in the direction of travel as far as the scroll goes
 * in this many read latencies (the latency is measured: a moving average of the reads):
 * reads chain back to back, so one slow answer is covered by the rows already read. */
export const LOOKAHEAD_READS = 5;
/** A view that has not moved for this long has stopped scrolling (ms). */
export const STOPPED_MS = 1000;
/** While idle (no scroll, nothing in view missing, no read in flight), read this many
 * blocks after the view, then before it, one read at a time: the next and previous pages
 * are there before a scroll reaches them (a scroll starting at 10 rows per ms passes
 * 6,000 rows before the first read-ahead answers on 2 busy cores). Only blocks never
 * read: after a store change the stale ones still draw and are re-read in view. */
export const PREFETCH_BLOCKS = 60;
/** Most blocks one prefetch read asks for (5,000 rows, the server's largest page). */
export const PREFETCH_READ_BLOCKS = 50;
/** Blocks of the first prefetch read next to a new view (500 rows); each next one asks for
 * twice the blocks already there on that side (500, 1,000, 3,000, then the rest): a scroll
 * starting the moment the view is drawn passes the view's rows in a few ms and waits for
 * the first read, and a page costs the server a fixed ~27 ms plus ~17 us a row. One
 * 5,000-row first read left the scroll of bench_jupyterlab.py blank for 351 ms from its
 * start (row 482), with the rest of the scroll at most a few frames blank. */
export const PREFETCH_FIRST_READ_BLOCKS = 5;
/** Most blocks kept (40,000 rows); past it the blocks farthest from the view are dropped
 * (and read again if the view comes back). */
export const MAX_CACHED_BLOCKS = 400;

/** Where the model reads (a `LabApi` in JupyterLab; anything with these two in tests). */
export interface IRunsSource {
  runs(query: IRunsQuery): Promise<IRunsPage>;
  count(query: IRunsQuery): Promise<IRunsCount>;
}

/** A sort: a search key (`attributes.start_time`, `metrics.acc`, ...) and a direction. */
export interface ISort {
  key: string;
  descending: boolean;
}

/** One displayed row: a run (or null while its block loads) and its depth. */
export interface IDisplayRow {
  run: IRunRow | null;
  depth: number;
}

interface IExpanded {
  parent: string;
  /** Index of the parent among the top rows. */
  index: number;
  children: IRunRow[];
}

export class RunsModel {
  constructor(private readonly _source: IRunsSource) {}

  experimentIds: string[] = [];
  filter = '';
  sort: ISort = { key: 'attributes.start_time', descending: true };
  columns: string[] = [];
  showDeleted = false;
  /** The filter's error (with its position), or null. */
  error: LabApiError | null = null;
  /** Any other read error, as one line, or null. */
  readError: string | null = null;
  /** Runs selected (by id), in the order they were selected. */
  readonly selected = new Set<string>();
  /** The store version the rows were read at. */
  version = -1;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Rows of the view: the top rows (runs, or top-level runs when not filtering) plus the
   * children of the expanded parents. */
  get rowCount(): number {
    const top = this._total ?? this._known + (this._hasMore ? BLOCK_SIZE : 0);
    return top + this._expanded.reduce((n, e) => n + e.children.length, 0);
  }

  /** The total of the top rows when known. */
  get total(): number | null {
    return this._total;
  }

  /** Whether runs are grouped under their parent (no filter: the top rows are top-level). */
  get nested(): boolean {
    return this.filter.trim() === '';
  }

  /** The query of the top rows at `offset`. */
  query(offset: number, limit = BLOCK_SIZE): IRunsQuery {
    return {
      experiment_ids: this.experimentIds,
      filter: this.filter,
      order_by: [`${this.sort.key} ${this.sort.descending ? 'DESC' : 'ASC'}`],
      view_type: this.showDeleted ? 'DELETED_ONLY' : 'ACTIVE_ONLY',
      offset,
      limit,
      columns: this.columns,
      top_level: this.nested
    };
  }

  /** The row at display index `i`. */
  row(i: number): IDisplayRow {
    let top = i;
    for (const e of this._expanded) {
      if (top <= e.index) {
        break;
      }
      const firstChild = e.index + 1;
      if (top < firstChild + e.children.length) {
        return { run: e.children[top - firstChild], depth: 1 };
      }
      top -= e.children.length;
    }
    const block = this._blocks.get(Math.floor(top / BLOCK_SIZE));
    return { run: block?.[top % BLOCK_SIZE] ?? null, depth: 0 };
  }

  isExpanded(runId: string): boolean {
    return this._expanded.some(e => e.parent === runId);
  }

  /** Load what display rows `first`..`last` need (blocks not loaded at this version);
   * while the view scrolls, the rows it will reach in the next few reads; while idle, the
   * pages next to it (see `PREFETCH_BLOCKS`). Rows already read draw at once: only blocks
   * never read (or dropped) show as placeholders. */
  async show(first: number, last: number): Promise<void> {
    const now = performance.now();
    const dt = now - this._shownAt;
    if (first !== this._visible[0] && dt >= 1) {
      // a scroll (a redraw after a read shows the same rows and does not count); a frame
      // the browser was late with still measures the scroll (rows moved over its time)
      const speed = dt < STOPPED_MS ? (first - this._visible[0]) / dt : 0; // rows/ms
      this._speed = this._speed === 0 ? speed : 0.5 * this._speed + 0.5 * speed;
      this._shownAt = now;
    } else if (dt >= STOPPED_MS) {
      this._speed = 0; // the scroll stopped
    }
    this._visible = [first, last];
    const a = this._topIndex(Math.max(0, first));
    const b = this._topIndex(Math.max(0, last));
    const visible = this._blocksOf(a, b);
    const travel = this._speed * this._latency; // rows moved while one read runs
    let wanted = visible;
    if (Math.abs(travel) >= 1) {
      const reach = travel * LOOKAHEAD_READS;
      const ahead =
        reach > 0
          ? this._blocksOf(a + travel, b + reach)
          : this._blocksOf(a + reach, b + travel);
      if (reach < 0) {
        ahead.reverse(); // nearest first in the direction of travel
      }
      // faster than a screen per read: what is in view now is gone when the read
      // answers, so the rows it moves to come first
      wanted =
        Math.abs(travel) > b - a + 1
          ? [...ahead, ...visible]
          : [...visible, ...ahead];
      // and once the scroll stops, look again (then idle: the prefetch)
      clearTimeout(this._stopTimer);
      this._stopTimer = setTimeout(
        () => void this.show(...this._visible),
        STOPPED_MS + 50
      );
    } else if (
      this._inFlight === 0 &&
      visible.every(block => this._fresh.has(block))
    ) {
      const prefetch = this._neighbours(visible[0] ?? 0, visible.at(-1) ?? 0);
      await Promise.all(
        this._groups(prefetch, PREFETCH_READ_BLOCKS).map(g =>
          this._load(g[0], g.length)
        )
      );
      return;
    }
    await Promise.all(
      this._groups(wanted).map(g => this._load(g[0], g.length))
    );
  }

  /** Prefetch while idle: the first blocks not read after the view, else before it
   * (nearest first), one read's worth (growing: see `PREFETCH_FIRST_READ_BLOCKS`). */
  private _neighbours(lo: number, hi: number): number[] {
    const top = this._total ?? this._known + (this._hasMore ? BLOCK_SIZE : 0);
    const lastBlock = Math.max(0, Math.ceil(top / BLOCK_SIZE) - 1);
    const after: number[] = [];
    for (let k = hi + 1; k <= Math.min(lastBlock, hi + PREFETCH_BLOCKS); k++) {
      after.push(k);
    }
    const before: number[] = [];
    for (let k = lo - 1; k >= Math.max(0, lo - PREFETCH_BLOCKS); k--) {
      before.push(k);
    }
    for (const side of [after, before]) {
      // blocks never read (or dropped); stale ones still draw and re-read in view
      const missing = side.filter(
        k => !this._blocks.has(k) && !this._fresh.has(k)
      );
      if (missing.length > 0) {
        const there = side.indexOf(missing[0]); // blocks read next to the view, this side
        const most = Math.min(
          PREFETCH_READ_BLOCKS,
          Math.max(PREFETCH_FIRST_READ_BLOCKS, 2 * there)
        );
        return missing.slice(0, most);
      }
    }
    return [];
  }

  /** Blocks holding top rows `from`..`to` (clipped to the view). */
  private _blocksOf(from: number, to: number): number[] {
    const limit = this._total ?? Infinity;
    const lo = Math.max(0, Math.floor(Math.max(0, from) / BLOCK_SIZE));
    const hi = Math.floor(Math.max(0, Math.min(to, limit - 1)) / BLOCK_SIZE);
    const out: number[] = [];
    for (let block = lo; block <= hi; block++) {
      out.push(block);
    }
    return out;
  }

  /** The blocks not read at this version, as runs of consecutive blocks (each one read),
   * in the order wanted. */
  private _groups(blocks: number[], most = MAX_READ_BLOCKS): number[][] {
    const groups: number[][] = [];
    const seen = new Set<number>();
    for (const block of blocks) {
      if (this._fresh.has(block) || seen.has(block)) {
        continue;
      }
      seen.add(block);
      const g = groups.at(-1);
      if (g && block === g[g.length - 1] + 1 && g.length < most) {
        g.push(block);
      } else if (g && block === g[0] - 1 && g.length < most) {
        g.unshift(block);
      } else {
        groups.push([block]);
      }
    }
    return groups;
  }

  /** Start again: after a change of query (every block is dropped). */
  async reset(): Promise<void> {
    this._generation++;
    this._blocks.clear();
    this._fresh.clear();
    this._expanded = [];
    this._total = null;
    this._countedAt = -1;
    this._known = 0;
    this._hasMore = true;
    this.error = null;
    this._changed.emit();
    await this.show(...this._visible);
  }

  /** The store changed (`version`): re-read the visible blocks, keep the others stale. */
  async refresh(version?: number): Promise<void> {
    if (version !== undefined) {
      this.version = version;
    }
    this._fresh.clear();
    for (const e of this._expanded) {
      await this._loadChildren(e);
    }
    await this.show(...this._visible);
  }

  /** Expand (or collapse) the children of a top row. */
  async toggle(runId: string): Promise<void> {
    const at = this._expanded.findIndex(e => e.parent === runId);
    if (at >= 0) {
      this._expanded.splice(at, 1);
      this._changed.emit();
      return;
    }
    const index = this._indexOfTop(runId);
    if (index === null) {
      return;
    }
    const entry: IExpanded = { parent: runId, index, children: [] };
    this._expanded.push(entry);
    this._expanded.sort((a, b) => a.index - b.index);
    await this._loadChildren(entry);
  }

  /** Click selection: `extend` (ctrl/cmd) toggles one, `range` (shift) adds a range. */
  select(index: number, how: 'only' | 'extend' | 'range' = 'only'): void {
    const run = this.row(index).run;
    if (run === null) {
      return;
    }
    if (how === 'only') {
      this.selected.clear();
      this.selected.add(run.run_id);
    } else if (how === 'extend') {
      if (!this.selected.delete(run.run_id)) {
        this.selected.add(run.run_id);
      }
    } else {
      const from = Math.min(this._anchor, index);
      const to = Math.max(this._anchor, index);
      for (let i = from; i <= to; i++) {
        const r = this.row(i).run;
        if (r !== null) {
          this.selected.add(r.run_id);
        }
      }
    }
    if (how !== 'range') {
      this._anchor = index;
    }
    this._changed.emit();
  }

  /** The selected rows that are loaded (the selection may hold runs scrolled away). */
  selectedRuns(): IRunRow[] {
    const out: IRunRow[] = [];
    for (const rows of [
      ...this._blocks.values(),
      ...this._expanded.map(e => e.children)
    ]) {
      for (const r of rows) {
        if (
          this.selected.has(r.run_id) &&
          !out.some(o => o.run_id === r.run_id)
        ) {
          out.push(r);
        }
      }
    }
    return out;
  }

  private _topIndex(display: number): number {
    let top = display;
    for (const e of this._expanded) {
      if (top <= e.index) {
        break;
      }
      top -= Math.min(e.children.length, top - e.index);
    }
    return top;
  }

  private _indexOfTop(runId: string): number | null {
    for (const [b, rows] of this._blocks) {
      const i = rows.findIndex(r => r.run_id === runId);
      if (i >= 0) {
        return b * BLOCK_SIZE + i;
      }
    }
    return null;
  }

  private async _loadChildren(entry: IExpanded): Promise<void> {
    const query: IRunsQuery = {
      ...this.query(0, 1000),
      top_level: false,
      filter: '',
      parent_run_id: entry.parent
    };
    const page = await this._source.runs(query);
    entry.children = page.runs;
    this._changed.emit();
  }

  /** Read `count` blocks from `block` in one request. */
  private async _load(block: number, count = 1): Promise<void> {
    if (this.experimentIds.length === 0 || this._fresh.has(block)) {
      return;
    }
    if (
      this._total !== null &&
      block * BLOCK_SIZE >= this._total &&
      block > 0
    ) {
      return;
    }
    if (this._inFlight >= MAX_IN_FLIGHT) {
      this._deferred = true; // read what is wanted once a slot frees
      return;
    }
    const generation = this._generation;
    const blocks: number[] = [];
    for (let b = block; b < block + count && !this._fresh.has(b); b++) {
      blocks.push(b);
      this._fresh.add(b);
    }
    this._inFlight++;
    const started = performance.now();
    let page: IRunsPage;
    try {
      page = await this._source.runs(
        this.query(block * BLOCK_SIZE, blocks.length * BLOCK_SIZE)
      );
    } catch (reason) {
      this._settled(generation !== this._generation);
      if (generation !== this._generation) {
        return;
      }
      blocks.forEach(b => this._fresh.delete(b));
      if (reason instanceof LabApiError && reason.position !== null) {
        this.error = reason;
        this._total = 0;
        this._blocks.clear();
      } else {
        this.readError =
          reason instanceof Error ? reason.message : String(reason);
      }
      this._changed.emit();
      return;
    }
    this._latency = 0.7 * this._latency + 0.3 * (performance.now() - started);
    this._settled(true);
    if (generation !== this._generation) {
      return; // a newer query started meanwhile
    }
    this.error = null;
    this.readError = null;
    this.version = Math.max(this.version, page.version);
    blocks.forEach((b, k) => {
      const rows = page.runs.slice(k * BLOCK_SIZE, (k + 1) * BLOCK_SIZE);
      if (rows.length > 0 || k === 0) {
        this._blocks.set(b, rows);
      }
    });
    this._evict();
    this._known = Math.max(this._known, block * BLOCK_SIZE + page.runs.length);
    this._hasMore = page.has_more;
    if (page.total !== null) {
      this._total = page.total;
    } else if (!page.has_more) {
      this._total = block * BLOCK_SIZE + page.runs.length;
    } else if (
      !this._counting &&
      (this._total === null || this._countedAt < this.version)
    ) {
      // once per query and store version (a filtered view's pages carry no total)
      void this._count(generation);
    }
    this._changed.emit();
  }

  /** A read ended; `ok`: it succeeded, or was of an older query, so the next read may
   * follow at once (what a full pipeline deferred, or the next prefetch: the last read to
   * end starts it, whichever query it was of). A failed read of the current query is not
   * retried from here (the next scroll or refresh asks again). */
  private _settled(ok: boolean): void {
    this._inFlight--;
    if (this._deferred || (ok && this._inFlight === 0)) {
      this._deferred = false;
      void Promise.resolve().then(() => this.show(...this._visible));
    }
  }

  /** Past `MAX_CACHED_BLOCKS`, drop the blocks farthest from the view. */
  private _evict(): void {
    const excess = this._blocks.size - MAX_CACHED_BLOCKS;
    if (excess <= 0) {
      return;
    }
    const centre =
      (this._topIndex(this._visible[0]) + this._topIndex(this._visible[1])) /
      2 /
      BLOCK_SIZE;
    const far = [...this._blocks.keys()]
      .sort((x, y) => Math.abs(y - centre) - Math.abs(x - centre))
      .slice(0, excess);
    for (const block of far) {
      this._blocks.delete(block);
      this._fresh.delete(block);
    }
  }

  /** Blocks held now (at most `MAX_CACHED_BLOCKS`). */
  get cachedBlocks(): number {
    return this._blocks.size;
  }

  private async _count(generation: number): Promise<void> {
    this._counting = true;
    try {
      const answer = await this._source.count(this.query(0, 1));
      if (generation === this._generation) {
        this._total = answer.total;
        this._countedAt = answer.version;
        this._changed.emit();
      }
    } catch {
      // the rows still show; the scroll range grows as blocks load
    } finally {
      this._counting = false;
    }
  }

  private _changed = new Signal<this, void>(this);
  private _blocks = new Map<number, IRunRow[]>();
  private _fresh = new Set<number>();
  private _expanded: IExpanded[] = [];
  private _total: number | null = null;
  private _known = 0;
  private _hasMore = true;
  private _counting = false;
  private _stopTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private _countedAt = -1;
  private _inFlight = 0;
  private _deferred = false;
  private _generation = 0;
  private _visible: [number, number] = [0, 40];
  private _anchor = 0;
  /** Scroll speed (top rows per ms, signed) and read latency (ms), both smoothed. */
  private _speed = 0;
  private _shownAt = -Infinity;
  private _latency = 200;
}
