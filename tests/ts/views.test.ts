// The data side of the compare and run views (src/views/data.ts): which params differ,
// parallel-coordinates columns, artifact previews by name, notebook parts, formatting.
import { describe, expect, it } from 'vitest';

import type { IRun } from '../../src/api';
import {
  formatBytes,
  formatDuration,
  isPlotlyFigure,
  metricKeys,
  notebookParts,
  paramRows,
  parcoordsOf,
  previewKind,
  tableHtml,
  wireNumber
} from '../../src/views/data';

function run(
  id: string,
  params: Record<string, string>,
  metrics: Record<string, number | 'NaN'> = {}
): IRun {
  return {
    info: {
      run_id: id,
      experiment_id: '1',
      run_name: id,
      status: 'FINISHED',
      start_time_ms: 0,
      end_time_ms: 1,
      user_id: 'u',
      lifecycle_stage: 'active',
      artifact_uri: '',
      parent_run_id: null
    },
    data: { params, metrics, tags: {} },
    inputs: { dataset_inputs: [], model_inputs: [] },
    outputs: { model_outputs: [] }
  };
}

describe('paramRows', () => {
  const runs = [
    run('a', { lr: '0.1', batch: '32', only_a: 'x' }),
    run('b', { lr: '0.01', batch: '32' })
  ];
  it('keeps only the params that differ, a missing one counting as different', () => {
    expect(paramRows(runs, false)).toEqual([
      { key: 'lr', values: ['0.1', '0.01'], differs: true },
      { key: 'only_a', values: ['x', null], differs: true }
    ]);
  });
  it('shows all on request, sorted, with the differing ones marked', () => {
    const rows = paramRows(runs, true);
    expect(rows.map(r => [r.key, r.differs])).toEqual([
      ['batch', false],
      ['lr', true],
      ['only_a', true]
    ]);
  });
});

describe('parcoordsOf', () => {
  it('numeric and categorical param axes, metric axes, colour by the last metric', () => {
    const runs = [
      run(
        'a',
        { lr: '0.1', opt: 'adam', same: '1' },
        { acc: 0.9, loss: 'NaN' }
      ),
      run('b', { lr: '0.01', opt: 'sgd', same: '1' }, { acc: 0.7 })
    ];
    const { axes, types, color, data } = parcoordsOf(runs);
    expect(axes).toEqual([
      'params.lr',
      'params.opt',
      'metrics.acc',
      'metrics.loss'
    ]);
    expect(types).toEqual({
      'params.lr': 'numeric',
      'params.opt': 'categorical',
      'metrics.acc': 'numeric',
      'metrics.loss': 'numeric'
    });
    expect(color).toBe('metrics.loss');
    expect(Array.from(data.columns['params.lr'] as Float64Array)).toEqual([
      0.1, 0.01
    ]);
    expect(data.categories['params.opt']).toEqual(['adam', 'sgd']);
    const loss = data.columns['metrics.loss'] as Float64Array;
    expect(Number.isNaN(loss[0]) && Number.isNaN(loss[1])).toBe(true);
    expect(data.ids).toEqual(['a', 'b']);
    expect(metricKeys(runs)).toEqual(['acc', 'loss']);
  });
});

describe('previews', () => {
  it('chooses the preview by the file name', () => {
    expect(previewKind('plots/a.PNG')).toBe('image');
    expect(previewKind('t/x.csv')).toBe('table');
    expect(previewKind('t/x.parquet')).toBe('table');
    expect(previewKind('fig.json')).toBe('json');
    expect(previewKind('nb/run.ipynb')).toBe('notebook');
    expect(previewKind('report.html')).toBe('html');
    expect(previewKind('model/MLmodel')).toBe('text');
    expect(previewKind('environment/requirements.txt')).toBe('text');
    expect(previewKind('model.pkl')).toBe('binary');
  });
  it('recognises a plotly figure', () => {
    expect(isPlotlyFigure({ data: [{ type: 'scatter' }], layout: {} })).toBe(
      true
    );
    expect(isPlotlyFigure({ data: [1] })).toBe(false);
    expect(isPlotlyFigure({ k: 1 })).toBe(false);
    expect(isPlotlyFigure([])).toBe(false);
  });
  it('turns a notebook into mime bundles', () => {
    const parts = notebookParts({
      cells: [
        { cell_type: 'markdown', source: ['# T', 'itle'] },
        {
          cell_type: 'code',
          source: 'print(1)',
          outputs: [
            { output_type: 'stream', text: ['1\n'] },
            {
              output_type: 'execute_result',
              data: { 'text/html': ['<b>', 'x</b>'] }
            },
            { output_type: 'error', ename: 'ValueError', evalue: 'bad' }
          ]
        }
      ]
    });
    expect(parts).toEqual([
      { kind: 'markdown', bundle: { 'text/markdown': '# Title' } },
      { kind: 'code', bundle: { 'text/plain': 'print(1)' } },
      { kind: 'output', bundle: { 'text/plain': '1\n' } },
      { kind: 'output', bundle: { 'text/html': '<b>x</b>' } },
      {
        kind: 'output',
        bundle: { 'application/vnd.jupyter.stderr': 'ValueError: bad' }
      }
    ]);
    expect(() => notebookParts({ nope: 1 })).toThrow(/not a notebook/);
  });
  it('escapes every table cell', () => {
    const html = tableHtml(
      ['a<b'],
      [['<script>', null, 1.5, { k: 1 }]],
      'cap & more'
    );
    expect(html).toContain('<th>a&lt;b</th>');
    expect(html).toContain('<td>&lt;script&gt;</td><td></td><td>1.5</td>');
    expect(html).toContain('<caption>cap &amp; more</caption>');
    expect(html).not.toContain('<script>');
  });
});

describe('formatting', () => {
  it('formats durations, sizes and wire floats', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_300)).toBe('12.3 s');
    expect(formatDuration(192_000)).toBe('3 min 12 s');
    expect(formatDuration(7_500_000)).toBe('2 h 5 min');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(null)).toBe('');
    expect(wireNumber('NaN')).toBeNaN();
    expect(wireNumber('-Infinity')).toBe(-Infinity);
    expect(wireNumber(2)).toBe(2);
  });
});
