/**
 * anywidget ESM of `jupyter_mltrack.widgets.RunDiff`: two or more runs side by side.
 *
 * The view asks the kernel for the diff (`request(model, 'diff')`) when it renders and
 * whenever `run_ids` or `show_all` change, and draws plain HTML tables: params, tags and
 * packages that differ, captured code as unified diffs against the first run, and metric
 * values at the steps every run logged with their deltas against the first run.
 *
 * Page state for tests and tools, on the widget's root element:
 * `data-mltrack-state` (`loading` | `ready` | `empty` | `error`), `data-mltrack-runs`
 * (how many runs the shown diff compares) and `data-mltrack-loads` (answers drawn so far).
 */
import type { AnyModel, Render } from '@anywidget/types';

import { request, RequestError } from './lib/request';

import { element } from './lib/dom';

import './runDiff.css';

/** The traitlets of RunDiff that this view reads or writes. */
interface IRunDiffModel {
  run_ids: string[];
  show_all: boolean;
}

type Model = AnyModel<IRunDiffModel>;

/** A JSON number; non-finite values travel as the text `NaN` / `Infinity` / `-Infinity`. */
type WireNumber = number | string;

interface IKeyRows {
  rows: { key: string; values: (string | null)[] }[];
  same: number;
}

interface ICodeSection {
  file: string;
  base_recorded: boolean;
  runs: { run_id: string; status: string; diff: string }[];
}

/** The kernel's answer to `diff` (RunDiff._diff_view). */
export interface IDiff {
  message?: string;
  runs: { run_id: string; run_name: string; status: string }[];
  show_all?: boolean;
  params?: IKeyRows;
  tags?: IKeyRows;
  environment?: IKeyRows & { unrecorded: string[] };
  code?: ICodeSection[];
  metrics?: {
    rows: {
      key: string;
      step: number;
      values: WireNumber[];
      deltas: WireNumber[];
    }[];
    not_shared: string[];
    no_common_step: string[];
  };
}

/** Compact text for a metric value or delta: 6 significant digits, signed deltas. */
export function formatNumber(value: WireNumber, signed = false): string {
  if (typeof value === 'string') {
    return value;
  }
  const text = Number.isInteger(value)
    ? String(value)
    : String(Number(value.toPrecision(6)));
  return signed && value > 0 ? `+${text}` : text;
}

function runHeader(diff: IDiff, first: string): HTMLTableRowElement {
  const row = element('tr');
  row.append(element('th', '', first));
  for (const run of diff.runs) {
    const th = element('th');
    th.dataset.runId = run.run_id;
    th.title = `${run.run_id} (${run.status})`;
    th.append(
      element('span', 'mltrack-rundiff-run-name', run.run_name),
      element('span', 'mltrack-rundiff-run-id', run.run_id.slice(0, 8))
    );
    row.append(th);
  }
  return row;
}

function section(title: string, note?: string): HTMLElement {
  const node = element('section', 'mltrack-rundiff-section');
  const heading = element('h4', '', title);
  if (note) {
    heading.append(element('span', 'mltrack-rundiff-note', ` ${note}`));
  }
  node.append(heading);
  return node;
}

function keyTable(
  diff: IDiff,
  name: string,
  first: string,
  data: IKeyRows,
  showAll: boolean
): HTMLElement {
  const hidden = showAll ? '' : `${data.same} the same in every run, hidden`;
  const node = section(name, data.same && !showAll ? `(${hidden})` : '');
  node.dataset.section = name.toLowerCase();
  if (data.rows.length === 0) {
    node.append(
      element('p', 'mltrack-rundiff-note', `No ${name.toLowerCase()} differ.`)
    );
    return node;
  }
  const table = element('table', 'mltrack-rundiff-table');
  table.createTHead().append(runHeader(diff, first));
  const body = table.createTBody();
  for (const row of data.rows) {
    const tr = body.insertRow();
    tr.dataset.key = row.key;
    tr.append(element('th', '', row.key));
    const base = row.values[0];
    row.values.forEach((value, index) => {
      const td = tr.insertCell();
      td.textContent = value ?? '—';
      if (value === null) {
        td.classList.add('mltrack-rundiff-missing');
      } else if (index > 0 && value !== base) {
        td.classList.add('mltrack-rundiff-changed');
      }
    });
  }
  node.append(table);
  return node;
}

function codeSection(diff: IDiff, sections: ICodeSection[]): HTMLElement {
  const node = section('Code');
  node.dataset.section = 'code';
  if (sections.length === 0) {
    node.append(
      element('p', 'mltrack-rundiff-note', 'No run recorded code to compare.')
    );
    return node;
  }
  const base = diff.runs[0]?.run_name ?? 'the first run';
  for (const file of sections) {
    node.append(element('h5', '', file.file));
    for (const entry of file.runs) {
      const name =
        diff.runs.find(r => r.run_id === entry.run_id)?.run_name ??
        entry.run_id;
      const label = {
        same: `${name}: the same as ${base}`,
        changed: `${name} vs ${base}:`,
        added: `${name} (${base} has no ${file.file}):`,
        missing: `${name} has no ${file.file}`,
        absent: `${name} and ${base} have no ${file.file}`
      }[entry.status];
      const item = element('div', 'mltrack-rundiff-code');
      item.dataset.runId = entry.run_id;
      item.dataset.status = entry.status;
      item.append(element('div', 'mltrack-rundiff-note', label ?? name));
      if (entry.diff) {
        const pre = element('pre', 'mltrack-rundiff-patch');
        for (const line of entry.diff.split('\n')) {
          const kind =
            line.startsWith('+++') || line.startsWith('---')
              ? 'file'
              : line.startsWith('@@')
                ? 'hunk'
                : line.startsWith('+')
                  ? 'add'
                  : line.startsWith('-')
                    ? 'del'
                    : 'ctx';
          pre.append(element('span', `mltrack-rundiff-line-${kind}`, line));
          pre.append('\n');
        }
        item.append(pre);
      }
      node.append(item);
    }
  }
  return node;
}

function metricsSection(
  diff: IDiff,
  metrics: NonNullable<IDiff['metrics']>
): HTMLElement {
  const node = section('Metrics', '(Δ against the first run)');
  node.dataset.section = 'metrics';
  const notes: string[] = [];
  if (metrics.not_shared.length) {
    notes.push(`Only in some runs: ${metrics.not_shared.join(', ')}.`);
  }
  if (metrics.no_common_step.length) {
    notes.push(
      `No step logged by every run: ${metrics.no_common_step.join(', ')}.`
    );
  }
  if (metrics.rows.length === 0) {
    notes.unshift('No metric was logged at a step every run has.');
  } else {
    const table = element('table', 'mltrack-rundiff-table');
    const head = runHeader(diff, 'metric');
    head.insertBefore(element('th', '', 'step'), head.children[1]);
    table.createTHead().append(head);
    const body = table.createTBody();
    for (const row of metrics.rows) {
      const tr = body.insertRow();
      tr.dataset.key = row.key;
      tr.dataset.step = String(row.step);
      tr.append(element('th', '', row.key));
      tr.insertCell().textContent = String(row.step);
      row.values.forEach((value, index) => {
        const td = tr.insertCell();
        td.append(element('span', '', formatNumber(value)));
        const delta = index > 0 ? row.deltas[index - 1] : undefined;
        if (delta !== undefined) {
          const kind =
            typeof delta === 'number' && delta !== 0
              ? delta > 0
                ? 'up'
                : 'down'
              : 'zero';
          td.append(
            element(
              'span',
              `mltrack-rundiff-delta mltrack-rundiff-delta-${kind}`,
              ` (${formatNumber(delta, true)})`
            )
          );
        }
      });
    }
    node.append(table);
  }
  for (const note of notes) {
    node.append(element('p', 'mltrack-rundiff-note', note));
  }
  return node;
}

/** Draw one answer of the kernel into `root` (exported for tests and other views). */
export function drawDiff(root: HTMLElement, diff: IDiff, model: Model): void {
  if (diff.message !== undefined) {
    root.replaceChildren(element('p', 'mltrack-rundiff-message', diff.message));
    return;
  }
  const showAll = Boolean(diff.show_all);
  const toolbar = element('label', 'mltrack-rundiff-toolbar');
  const checkbox = element('input');
  checkbox.type = 'checkbox';
  checkbox.checked = showAll;
  checkbox.className = 'mltrack-rundiff-show-all';
  checkbox.addEventListener('change', () => {
    model.set('show_all', checkbox.checked);
    model.save_changes();
  });
  toolbar.append(checkbox, ' show what is the same too');
  root.replaceChildren(toolbar);
  if (diff.params) {
    root.append(keyTable(diff, 'Params', 'param', diff.params, showAll));
  }
  if (diff.metrics) {
    root.append(metricsSection(diff, diff.metrics));
  }
  if (diff.tags) {
    root.append(keyTable(diff, 'Tags', 'tag', diff.tags, showAll));
  }
  if (diff.environment) {
    const env = keyTable(
      diff,
      'Packages',
      'package',
      diff.environment,
      showAll
    );
    if (diff.environment.unrecorded.length) {
      env.append(
        element(
          'p',
          'mltrack-rundiff-note',
          `No package list recorded by ${diff.environment.unrecorded.join(', ')}.`
        )
      );
    }
    root.append(env);
  }
  if (diff.code) {
    root.append(codeSection(diff, diff.code));
  }
}

const render: Render<IRunDiffModel> = ({ model, el, signal }) => {
  el.classList.add('mltrack-rundiff');
  const body = element('div', 'mltrack-rundiff-body');
  el.replaceChildren(body);
  let generation = 0;
  let loads = 0;

  const load = (): void => {
    const mine = ++generation;
    el.dataset.mltrackState = 'loading';
    // show_all travels with the request: ipywidgets may send the synced value later
    const params = { show_all: model.get('show_all') };
    request<IDiff>(model, 'diff', params, { signal })
      .then(({ result }) => {
        if (mine !== generation) {
          return; // a newer request is on its way
        }
        drawDiff(body, result, model);
        el.dataset.mltrackRuns = String(result.runs.length);
        el.dataset.mltrackState =
          result.message === undefined ? 'ready' : 'empty';
        el.dataset.mltrackLoads = String(++loads);
      })
      .catch((error: RequestError) => {
        if (mine !== generation || error.code === 'ABORTED') {
          return;
        }
        body.replaceChildren(
          element('p', 'mltrack-rundiff-error', error.message)
        );
        el.dataset.mltrackState = 'error';
        el.dataset.mltrackLoads = String(++loads);
      });
  };

  load();
  model.on('change:run_ids', load);
  model.on('change:show_all', load);
  return () => {
    generation++;
    model.off('change:run_ids', load);
    model.off('change:show_all', load);
  };
};

export default { render };
