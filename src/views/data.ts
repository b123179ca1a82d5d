/**
 * The data side of the compare and run views, free of DOM and JupyterLab (tested by
 * vitest in tests/ts/views.test.ts): which params differ, the parallel-coordinates columns
 * of some runs, how an artifact is previewed, durations, the note tag.
 */
import type { IRun, WireFloat } from '../api';
import type { IParcoordsData } from '../widgets/lib/parcoords';

/** The tag MLflow keeps a run's markdown note in. */
export const NOTE_TAG = 'mlflow.note.content';

/** A wire float as a number (`"NaN"` and the infinities as their values). */
export function wireNumber(value: WireFloat | null | undefined): number {
  if (value === null || value === undefined) {
    return NaN;
  }
  return typeof value === 'number' ? value : Number(value);
}

/** One row of the params table: the key and each run's value (null: not logged). */
export interface IParamRow {
  key: string;
  values: (string | null)[];
  differs: boolean;
}

/**
 * The params of `runs` as rows, sorted by key: a row differs when some run's value (or its
 * absence) is not the first run's. `showAll` false keeps only the rows that differ.
 */
export function paramRows(runs: IRun[], showAll: boolean): IParamRow[] {
  const keys = new Set<string>();
  for (const run of runs) {
    Object.keys(run.data.params).forEach(k => keys.add(k));
  }
  const rows: IParamRow[] = [];
  for (const key of [...keys].sort()) {
    const values = runs.map(r =>
      key in r.data.params ? r.data.params[key] : null
    );
    const differs = values.some(v => v !== values[0]);
    if (showAll || differs) {
      rows.push({ key, values, differs });
    }
  }
  return rows;
}

/** Metric keys any of `runs` logged, sorted. */
export function metricKeys(runs: IRun[]): string[] {
  const keys = new Set<string>();
  for (const run of runs) {
    Object.keys(run.data.metrics).forEach(k => keys.add(k));
  }
  return [...keys].sort();
}

/** Whether every present value reads as a finite number. */
function numeric(values: (string | null)[]): boolean {
  const present = values.filter((v): v is string => v !== null && v !== '');
  return present.length > 0 && present.every(v => Number.isFinite(Number(v)));
}

/**
 * Parallel-coordinates lines of `runs`: an axis per param that differs (numeric when every
 * value is a number, else categorical) and per metric (latest value), the colour the last
 * metric. Returns the axes, their types and the data.
 */
export function parcoordsOf(runs: IRun[]): {
  axes: string[];
  types: Record<string, string>;
  color: string;
  data: IParcoordsData;
} {
  const axes: string[] = [];
  const types: Record<string, string> = {};
  const columns: IParcoordsData['columns'] = {};
  const categories: Record<string, string[]> = {};
  for (const row of paramRows(runs, runs.length < 2)) {
    const axis = `params.${row.key}`;
    axes.push(axis);
    if (numeric(row.values)) {
      types[axis] = 'numeric';
      columns[axis] = Float64Array.from(row.values, v =>
        v === null || v === '' ? NaN : Number(v)
      );
    } else {
      types[axis] = 'categorical';
      columns[axis] = row.values;
      categories[axis] = [
        ...new Set(row.values.filter((v): v is string => v !== null))
      ].sort();
    }
  }
  const metrics = metricKeys(runs);
  for (const key of metrics) {
    const axis = `metrics.${key}`;
    axes.push(axis);
    types[axis] = 'numeric';
    columns[axis] = Float64Array.from(runs, r =>
      wireNumber(r.data.metrics[key])
    );
  }
  const color = metrics.length ? `metrics.${metrics[metrics.length - 1]}` : '';
  return {
    axes,
    types,
    color,
    data: {
      ids: runs.map(r => r.info.run_id),
      columns,
      categories,
      color_column: color || null
    }
  };
}

/** How an artifact file is previewed. */
export type PreviewKind =
  | 'image'
  | 'svg'
  | 'table'
  | 'json'
  | 'notebook'
  | 'html'
  | 'markdown'
  | 'text'
  | 'binary';

const TEXT_EXTENSIONS = new Set([
  'txt',
  'log',
  'py',
  'patch',
  'diff',
  'yaml',
  'yml',
  'toml',
  'cfg',
  'ini',
  'sh',
  'r',
  'sql',
  'xml',
  'js',
  'ts',
  'mlmodel',
  'jsonl'
]);

/** The preview of a file by its name (`MLmodel`, `requirements.txt` are text). */
export function previewKind(path: string): PreviewKind {
  const name = path.split('/').pop() ?? path;
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot + 1).toLowerCase() : name.toLowerCase();
  if (['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp'].includes(ext)) {
    return 'image';
  }
  if (ext === 'svg') {
    return 'svg';
  }
  if (['csv', 'tsv', 'parquet'].includes(ext)) {
    return 'table';
  }
  if (ext === 'json') {
    return 'json';
  }
  if (ext === 'ipynb') {
    return 'notebook';
  }
  if (ext === 'html' || ext === 'htm') {
    return 'html';
  }
  if (ext === 'md' || ext === 'markdown') {
    return 'markdown';
  }
  if (TEXT_EXTENSIONS.has(ext) || dot < 0) {
    return 'text';
  }
  return 'binary';
}

/** The mimetype JupyterLab renders a plotly figure with. */
export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

/** Whether parsed JSON is a plotly figure (`{data: [...], layout?: {...}}`). */
export function isPlotlyFigure(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return false;
  }
  const figure = value as { data?: unknown; layout?: unknown };
  return (
    Array.isArray(figure.data) &&
    figure.data.every(
      t => t !== null && typeof t === 'object' && !Array.isArray(t)
    ) &&
    (figure.layout === undefined ||
      (figure.layout !== null && typeof figure.layout === 'object'))
  );
}

/** One output or cell of a notebook as a mime bundle to render, in order. */
export interface INotebookPart {
  kind: 'markdown' | 'code' | 'output';
  bundle: Record<string, unknown>;
}

type Multiline = string | string[];
const joined = (text: Multiline | undefined): string =>
  Array.isArray(text) ? text.join('') : (text ?? '');

/**
 * A notebook's cells and outputs as mime bundles (nbformat 4): markdown cells as
 * `text/markdown`, code as `text/plain`, each output's data bundle (streams and errors as
 * text). Throws a readable error when `nb` is not a notebook.
 */
export function notebookParts(nb: unknown): INotebookPart[] {
  const cells = (nb as { cells?: unknown } | null)?.cells;
  if (!Array.isArray(cells)) {
    throw new Error(
      'This file is not a notebook (nbformat 4): it has no cells.'
    );
  }
  const parts: INotebookPart[] = [];
  for (const cell of cells as {
    cell_type?: string;
    source?: Multiline;
    outputs?: Record<string, unknown>[];
  }[]) {
    const source = joined(cell.source);
    if (cell.cell_type === 'markdown') {
      parts.push({ kind: 'markdown', bundle: { 'text/markdown': source } });
      continue;
    }
    parts.push({ kind: 'code', bundle: { 'text/plain': source } });
    for (const output of cell.outputs ?? []) {
      const type = output.output_type;
      if (type === 'stream') {
        parts.push({
          kind: 'output',
          bundle: { 'text/plain': joined(output.text as Multiline) }
        });
      } else if (type === 'error') {
        parts.push({
          kind: 'output',
          bundle: {
            'application/vnd.jupyter.stderr': `${String(output.ename)}: ${String(output.evalue)}`
          }
        });
      } else if (output.data && typeof output.data === 'object') {
        const bundle: Record<string, unknown> = {};
        for (const [mime, value] of Object.entries(
          output.data as Record<string, unknown>
        )) {
          bundle[mime] =
            Array.isArray(value) && mime.startsWith('text/')
              ? value.join('')
              : Array.isArray(value) && mime.startsWith('image/')
                ? value.join('')
                : value;
        }
        parts.push({ kind: 'output', bundle });
      }
    }
  }
  return parts;
}

/** A duration like `2 h 5 min`, `3 min 12 s`, `850 ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return '';
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const s = Math.floor(ms / 1000);
  if (s < 60) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m} min ${s % 60} s`;
  }
  const h = Math.floor(m / 60);
  if (h < 48) {
    return `${h} h ${m % 60} min`;
  }
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Bytes as text: `512 B`, `1.5 KiB`, `2.0 MiB`. */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n)) {
    return '';
  }
  if (n < 1024) {
    return `${n} B`;
  }
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** An HTML table of `columns` and `rows` (every cell escaped). */
export function tableHtml(
  columns: string[],
  rows: unknown[][],
  caption = ''
): string {
  const esc = (v: unknown): string =>
    (v === null || v === undefined
      ? ''
      : typeof v === 'string'
        ? v
        : JSON.stringify(v)
    )
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;');
  const head = columns.map(c => `<th>${esc(c)}</th>`).join('');
  const body = rows
    .map(r => `<tr>${r.map(v => `<td>${esc(v)}</td>`).join('')}</tr>`)
    .join('');
  const cap = caption ? `<caption>${esc(caption)}</caption>` : '';
  return `<table class="jp-mltrack-table-preview">${cap}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
