import { describe, expect, it, vi } from 'vitest';

import type { IRunRow, IRunsPage, IRunsQuery } from '../../src/api/lab';
import { LabApiError } from '../../src/api/lab';
import {
  BLOCK_SIZE,
  MAX_CACHED_BLOCKS,
  MAX_READ_BLOCKS,
  PREFETCH_BLOCKS,
  PREFETCH_FIRST_READ_BLOCKS,
  PREFETCH_READ_BLOCKS,
  RunsModel,
  STOPPED_MS
} from '../../src/sidebar/model';

function row(i: number, extra: Partial<IRunRow> = {}): IRunRow {
  return {
    run_id: `r${i}`,
    run_name: `run-${i}`,
    experiment_id: '1',
    status: 'FINISHED',
    start_time_ms: i,
    end_time_ms: null,
    user_id: 'u',
    lifecycle_stage: 'active',
    parent_run_id: null,
    child_count: 0,
    values: {},
    ...extra
  };
}

/** A store of `n` top-level runs (run 0 has 3 children); answers like the server. */
function source(n: number, { withTotal = true } = {}) {
  const asked: IRunsQuery[] = [];
  let counts = 0;
  const children = [0, 1, 2].map(i => row(1000 + i, { parent_run_id: 'r0' }));
  return {
    asked,
    counted: () => counts,
    async runs(q: IRunsQuery): Promise<IRunsPage> {
      asked.push(q);
      if (q.filter === 'bad') {
        throw new LabApiError(400, {
          error_code: 'INVALID_PARAMETER_VALUE',
          message: 'bad filter',
          details: { position: 2 }
        } as never);
      }
      if (q.parent_run_id) {
        return {
          runs: children,
          offset: 0,
          total: 3,
          has_more: false,
          version: 1
        };
      }
      const offset = q.offset ?? 0;
      const rows = [];
      for (let i = offset; i < Math.min(n, offset + (q.limit ?? 100)); i++) {
        rows.push(row(i, i === 0 ? { child_count: 3 } : {}));
      }
      return {
        runs: rows,
        offset,
        total: withTotal ? n : null,
        has_more: offset + rows.length < n,
        version: 1
      };
    },
    async count() {
      counts++;
      return { total: n, version: 1 };
    }
  };
}

/** Until every read the model chains (prefetch, deferred reads) has answered. */
const idle = () => new Promise(r => setTimeout(r, 0));

/** The blocks (first row / BLOCK_SIZE) each read asked for. */
function blocksRead(asked: IRunsQuery[]): number[] {
  return asked.flatMap(q =>
    Array.from(
      { length: Math.ceil((q.limit ?? 0) / BLOCK_SIZE) },
      (_, k) => (q.offset ?? 0) / BLOCK_SIZE + k
    )
  );
}

async function loaded(n: number, options = {}) {
  const src = source(n, options);
  const model = new RunsModel(src);
  model.experimentIds = ['1'];
  await model.reset();
  return { model, src };
}

describe('RunsModel', () => {
  it('loads the blocks in view first, sorted and filtered by the server', async () => {
    const { model, src } = await loaded(100_000);
    expect(model.rowCount).toBe(100_000);
    expect(src.asked[0]).toMatchObject({
      offset: 0,
      limit: BLOCK_SIZE,
      order_by: ['attributes.start_time DESC'],
      top_level: true
    });
    expect(model.row(5).run?.run_name).toBe('run-5');
    await idle();
    expect(model.row(50_000).run).toBeNull(); // far from the view: not read
    const before = src.asked.length;
    await model.show(50_000, 50_030);
    expect(model.row(50_000).run?.run_name).toBe('run-50000');
    expect(src.asked[before]).toMatchObject({ offset: 50_000, limit: 100 });
  });

  it('asks the count separately when the page has no total', async () => {
    const { model, src } = await loaded(1000, { withTotal: false });
    await new Promise(r => setTimeout(r, 0));
    expect(src.counted()).toBe(1);
    expect(model.total).toBe(1000);
  });

  it('a filter lists flat, and its error carries the position', async () => {
    const { model, src } = await loaded(10);
    model.filter = 'bad';
    await model.reset();
    expect(model.error?.position).toBe(2);
    expect(model.rowCount).toBe(0);
    model.filter = "params.a = '1'";
    await model.reset();
    expect(model.error).toBeNull();
    expect(src.asked.at(-1)?.top_level).toBe(false);
  });

  it('expands children under their parent', async () => {
    const { model } = await loaded(10);
    await model.toggle('r0');
    expect(model.rowCount).toBe(13);
    expect(model.row(0).run?.run_id).toBe('r0');
    expect(model.row(1)).toMatchObject({ depth: 1, run: { run_id: 'r1000' } });
    expect(model.row(4).run?.run_id).toBe('r1');
    await model.toggle('r0');
    expect(model.rowCount).toBe(10);
  });

  it('selects one, toggles with extend, adds ranges', async () => {
    const { model } = await loaded(10);
    model.select(2);
    model.select(4, 'extend');
    expect([...model.selected]).toEqual(['r2', 'r4']);
    model.select(4, 'extend');
    model.select(6, 'range');
    expect([...model.selected].sort()).toEqual(['r2', 'r4', 'r5', 'r6']);
    model.select(1);
    expect(model.selectedRuns().map(r => r.run_id)).toEqual(['r1']);
  });

  it('a change re-reads the blocks in view; a new query drops them', async () => {
    const { model, src } = await loaded(300);
    await model.show(0, 30);
    await idle();
    const before = src.asked.length;
    await model.refresh(7);
    await idle();
    // the block in view only: the others (prefetched) stay drawn until they come into view
    expect(src.asked.length).toBe(before + 1);
    expect(model.version).toBe(7);
    model.sort = { key: 'metrics.acc', descending: false };
    await model.reset();
    expect(src.asked.at(-1)?.order_by).toEqual(['metrics.acc ASC']);
  });
});

describe('RunsModel while scrolling fast', () => {
  it('keeps at most MAX_IN_FLIGHT reads and then reads only what is in view', async () => {
    const src = source(100_000);
    const pending: (() => void)[] = [];
    const slow = {
      count: src.count,
      runs: (q: IRunsQuery) =>
        new Promise<IRunsPage>(resolve => {
          pending.push(() => void src.runs(q).then(resolve));
        })
    };
    const model = new RunsModel(slow);
    model.experimentIds = ['1'];
    // a frozen clock: the positions come faster than any read, no speed to read ahead by
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => 5000);
    void model.reset(); // block 0
    for (let first = 1000; first <= 9000; first += 1000) {
      void model.show(first, first + 30); // a fast scroll: 9 positions
    }
    clock.mockRestore();
    expect(pending.length).toBe(2);
    pending.shift()!();
    pending.shift()!();
    await new Promise(r => setTimeout(r, 0));
    // one deferred read, of the last position only
    expect(pending.length).toBe(1);
    pending.shift()!();
    await new Promise(r => setTimeout(r, 0));
    expect(src.asked.map(q => q.offset)).toEqual([0, 1000, 9000]);
  });
});

describe('RunsModel reading ahead of the scroll', () => {
  it('reads the rows the scroll goes to, in reads of up to MAX_READ_BLOCKS blocks', async () => {
    const { model, src } = await loaded(100_000);
    await idle(); // the prefetch around the top
    const start = src.asked.length;
    let now = 1000;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      // a steady scroll down, past the prefetched rows: 400 rows per 20 ms frame
      for (let first = 10_400; first <= 14_000; first += 400) {
        now += 20;
        await model.show(first, first + 40);
      }
    } finally {
      clock.mockRestore();
    }
    const reads = src.asked.slice(start);
    expect(reads.some(q => (q.limit ?? 0) > BLOCK_SIZE)).toBe(true);
    // read-ahead reads are at most MAX_READ_BLOCKS; the first position had no speed yet
    // (a jump), so the one prefetch read after it may be larger
    const large = reads.filter(
      q => (q.limit ?? 0) > MAX_READ_BLOCKS * BLOCK_SIZE
    );
    expect(large.length).toBeLessThanOrEqual(1);
    expect(
      large.every(q => (q.limit ?? 0) <= PREFETCH_READ_BLOCKS * BLOCK_SIZE)
    ).toBe(true);
    // rows ahead of the last position are already there
    expect(model.row(14_100).run?.run_name).toBe('run-14100');
    // and no block was read twice
    const offsets = reads.flatMap(q =>
      Array.from(
        { length: (q.limit ?? 0) / BLOCK_SIZE },
        (_, k) => (q.offset ?? 0) + k * BLOCK_SIZE
      )
    );
    expect(new Set(offsets).size).toBe(offsets.length);
  });

  it('reads the rows in view first once the scroll stops', async () => {
    const { model, src } = await loaded(100_000);
    await idle();
    const before = src.asked.length;
    await model.show(50_000, 50_030);
    expect(src.asked[before]).toMatchObject({
      offset: 50_000,
      limit: BLOCK_SIZE
    });
    // then only the pages next to it (the prefetch), none of the old view's
    await idle();
    const after = src.asked.slice(before + 1).map(q => q.offset ?? 0);
    expect(after.length).toBeGreaterThan(0);
    expect(
      after.every(
        o => Math.abs(o - 50_000) <= (PREFETCH_BLOCKS + 1) * BLOCK_SIZE
      )
    ).toBe(true);
  });
});

describe('RunsModel page cache and prefetch', () => {
  it('prefetches the next pages while idle, then the previous ones, one read at a time', async () => {
    const src = source(100_000);
    let inFlight = 0;
    let most = 0;
    const counting = {
      count: src.count,
      runs: async (q: IRunsQuery) => {
        most = Math.max(most, ++inFlight);
        await new Promise(r => setTimeout(r, 1));
        inFlight--;
        return src.runs(q);
      }
    };
    /** Until no read runs and none started for a few ticks (the model's chain ended). */
    const settle = async () => {
      let seen = -1;
      for (let quiet = 0; quiet < 3;) {
        await new Promise(r => setTimeout(r, 5));
        quiet = inFlight === 0 && src.asked.length === seen ? quiet + 1 : 0;
        seen = src.asked.length;
      }
    };
    const model = new RunsModel(counting);
    model.experimentIds = ['1'];
    await model.reset();
    await settle();
    await model.show(20_000, 20_040); // block 200
    most = 0;
    await settle();
    const read = new Set(blocksRead(src.asked));
    // the view, PREFETCH_BLOCKS after it and PREFETCH_BLOCKS before it
    for (let k = 200 - PREFETCH_BLOCKS; k <= 200 + PREFETCH_BLOCKS; k++) {
      expect(read.has(k)).toBe(true);
    }
    expect(read.has(200 + PREFETCH_BLOCKS + 1)).toBe(false);
    expect(read.has(200 - PREFETCH_BLOCKS - 1)).toBe(false);
    // after first: the read following the view's comes before any read above it
    const order = src.asked.map(q => (q.offset ?? 0) / BLOCK_SIZE);
    const firstBelow = order.findIndex(b => b > 200);
    const firstAbove = order.findIndex(b => b < 200 && b > PREFETCH_BLOCKS);
    expect(firstBelow).toBeGreaterThan(0);
    expect(firstBelow).toBeLessThan(firstAbove);
    expect(
      src.asked.every(q => (q.limit ?? 0) <= PREFETCH_READ_BLOCKS * BLOCK_SIZE)
    ).toBe(true);
    // idle, the prefetch reads one at a time
    expect(most).toBe(1);
    // each side in reads that grow from PREFETCH_FIRST_READ_BLOCKS: twice what is there
    // (a scroll starting at once gets its first rows from a small read)
    const sizes = [5, 10, 30, 15].map(k => k * BLOCK_SIZE);
    expect(PREFETCH_FIRST_READ_BLOCKS * BLOCK_SIZE).toBe(sizes[0]);
    // at the top: the view's block, then the 60 blocks after it
    expect(src.asked.slice(1, 5).map(q => q.limit)).toEqual(sizes);
    // at block 200: the view's block, then after it, then before it
    expect(src.asked.slice(6, 10).map(q => q.limit)).toEqual(sizes);
    expect(src.asked.slice(10).map(q => q.limit)).toEqual(sizes);
    expect(src.asked.length).toBe(1 + 4 + 1 + 4 + 4);
    // rows it already has draw at once, no read: the next page is there
    const before = src.asked.length;
    let now = performance.now();
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      await model.show(20_100, 20_140);
      expect(model.row(20_100).run?.run_name).toBe('run-20100');
      await settle();
      expect(src.asked.length).toBe(before); // moving: nothing to read ahead
      now += STOPPED_MS + 1; // stopped (what the model's own timer then finds)
      await model.show(20_100, 20_140);
      await settle();
    } finally {
      clock.mockRestore();
    }
    expect(src.asked.length).toBe(before + 1); // only the new prefetch edge
    expect(src.asked.at(-1)!.offset).toBeGreaterThan(
      20_000 + PREFETCH_BLOCKS * BLOCK_SIZE
    );
  });

  it('prefetches for a new query once a read of the old one ends', async () => {
    const src = source(100_000);
    const pending: (() => void)[] = [];
    const held = {
      count: src.count,
      runs: (q: IRunsQuery) =>
        new Promise<IRunsPage>(resolve => {
          pending.push(() => void src.runs(q).then(resolve));
        })
    };
    const model = new RunsModel(held);
    model.experimentIds = ['1'];
    void model.reset();
    pending.shift()!(); // block 0
    await idle();
    expect(pending).toHaveLength(1); // the prefetch of the old query, held
    model.filter = "params.a = '1'";
    void model.reset(); // a new query while the old prefetch is out
    expect(pending).toHaveLength(2);
    pending.pop()!(); // the new query's block 0 answers first
    await idle();
    expect(pending).toHaveLength(1);
    pending.shift()!(); // then the old prefetch: its end starts the new prefetch
    await idle();
    expect(pending).toHaveLength(1);
    pending.shift()!();
    await idle();
    expect(src.asked.at(-1)).toMatchObject({
      filter: "params.a = '1'",
      offset: BLOCK_SIZE
    });
  });

  it('shows placeholders only for blocks not read', async () => {
    const { model } = await loaded(100_000);
    await idle();
    const edge = (1 + PREFETCH_BLOCKS) * BLOCK_SIZE;
    expect(model.row(edge - 1).run).not.toBeNull();
    expect(model.row(edge).run).toBeNull();
  });

  it('keeps at most MAX_CACHED_BLOCKS, dropping the blocks farthest from the view', async () => {
    const { model } = await loaded(100_000);
    for (let first = 0; first < 99_000; first += 3_000) {
      await model.show(first, first + 40);
      await idle();
    }
    expect(model.cachedBlocks).toBeLessThanOrEqual(MAX_CACHED_BLOCKS);
    expect(model.row(96_000).run?.run_name).toBe('run-96000');
    expect(model.row(0).run).toBeNull(); // dropped: the farthest
    // and read again when the view comes back
    await model.show(0, 40);
    expect(model.row(0).run?.run_name).toBe('run-0');
  });

  it('a store change does not prefetch again; a failed read is not retried in a loop', async () => {
    const src = source(100_000);
    let fail = false;
    let calls = 0;
    const flaky = {
      count: src.count,
      runs: (q: IRunsQuery) => {
        calls++;
        return fail ? Promise.reject(new Error('down')) : src.runs(q);
      }
    };
    const model = new RunsModel(flaky);
    model.experimentIds = ['1'];
    await model.reset();
    await idle();
    const before = calls;
    await model.refresh(2);
    await idle();
    expect(calls).toBe(before + 1); // the block in view
    fail = true;
    await model.refresh(3);
    await idle();
    await idle();
    expect(calls).toBe(before + 2);
    expect(model.readError).toBe('down');
    expect(model.row(0).run?.run_name).toBe('run-0'); // the stale rows still draw
  });
});
