import { describe, expect, it, vi } from 'vitest';

import type { IRunRow, IRunsPage, IRunsQuery } from '../../src/api/lab';
import { LabApiError } from '../../src/api/lab';
import {
  BLOCK_SIZE,
  MAX_READ_BLOCKS,
  RunsModel
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

async function loaded(n: number, options = {}) {
  const src = source(n, options);
  const model = new RunsModel(src);
  model.experimentIds = ['1'];
  await model.reset();
  return { model, src };
}

describe('RunsModel', () => {
  it('loads only the blocks in view, sorted and filtered by the server', async () => {
    const { model, src } = await loaded(100_000);
    expect(model.rowCount).toBe(100_000);
    expect(src.asked).toHaveLength(1);
    expect(src.asked[0]).toMatchObject({
      offset: 0,
      limit: BLOCK_SIZE,
      order_by: ['attributes.start_time DESC'],
      top_level: true
    });
    expect(model.row(5).run?.run_name).toBe('run-5');
    expect(model.row(50_000).run).toBeNull(); // not loaded yet
    await model.show(50_000, 50_030);
    expect(model.row(50_000).run?.run_name).toBe('run-50000');
    expect(src.asked.map(q => q.offset)).toEqual([0, 50_000]);
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
    const before = src.asked.length;
    await model.refresh(7);
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
    let now = 1000;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      // a steady scroll down: 400 rows per 20 ms frame
      for (let first = 400; first <= 4000; first += 400) {
        now += 20;
        await model.show(first, first + 40);
      }
    } finally {
      clock.mockRestore();
    }
    const reads = src.asked.slice(1);
    expect(reads.some(q => (q.limit ?? 0) > BLOCK_SIZE)).toBe(true);
    expect(
      reads.every(q => (q.limit ?? 0) <= MAX_READ_BLOCKS * BLOCK_SIZE)
    ).toBe(true);
    // rows ahead of the last position are already there
    expect(model.row(4100).run?.run_name).toBe('run-4100');
    // and no block was read twice
    const offsets = reads.flatMap(q =>
      Array.from(
        { length: (q.limit ?? 0) / BLOCK_SIZE },
        (_, k) => (q.offset ?? 0) + k * BLOCK_SIZE
      )
    );
    expect(new Set(offsets).size).toBe(offsets.length);
  });

  it('reads only the rows in view once the scroll stops', async () => {
    const { model, src } = await loaded(100_000);
    await model.show(50_000, 50_030);
    expect(src.asked.at(-1)).toMatchObject({
      offset: 50_000,
      limit: BLOCK_SIZE
    });
    expect(src.asked).toHaveLength(2);
  });
});
