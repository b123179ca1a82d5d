/**
 * anywidget ESM of `jupyter_mltrack.widgets.EvalCompare`: several evaluations side by side.
 *
 * One `view` request brings everything (a small JSON answer): the metrics table (the best
 * evaluation of each comparable metric marked), the overlaid curves as plotly figures (a
 * tab per plot; the `plot` traitlet follows the tabs) and, for text models, the per-row
 * outputs and scores of every evaluation with the rows whose outputs differ marked.
 *
 * Page state on the root element: `data-mltrack-state` (`loading` | `ready` | `error`),
 * `data-mltrack-evaluations`, `data-mltrack-plots` (plot names), `data-mltrack-plot` (the one
 * drawn), `data-mltrack-renderer` (`plotly` once drawn | `none` without plotly.js),
 * `data-mltrack-rows` (per-row diff rows shown).
 */
import type { AnyModel, Render } from '@anywidget/types';

import { PLOTLY_CONFIG, themeColors, watchTheme } from './lib/chartSpec';
import { element } from './lib/dom';
import { loadPlotly, type IPlotly } from './lib/plotly';
import { request, RequestError } from './lib/request';

import './evalCompare.css';

interface IEvalCompareModel {
  plot: string;
  names: string[];
}

type Figure = {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
};

/** The kernel's answer to `view` (EvalCompare._view). */
export interface IEvalView {
  names: string[];
  metrics: {
    key: string;
    values: (number | string | null)[];
    best: string | null;
    higher: boolean | null;
  }[];
  plots: Record<string, Figure>;
  rows: { columns: string[]; data: unknown[][]; total: number } | null;
}

/** A metric value as text: 4 significant digits, counts as integers, missing as a dash. */
export function formatMetric(value: number | string | null): string {
  if (value === null) {
    return '–';
  }
  if (typeof value === 'string') {
    return value;
  }
  return Number.isInteger(value)
    ? String(value)
    : String(Number(value.toPrecision(4)));
}

/** The plot names as tab labels: `roc_curve_plot` -> `roc curve`. */
export function plotLabel(name: string): string {
  return name.replace(/_plot$/, '').replace(/_/g, ' ');
}

function metricsTable(view: IEvalView): HTMLElement {
  const table = element('table', 'mltrack-evalcompare-table');
  table.dataset.section = 'metrics';
  const head = element('tr');
  head.append(element('th', '', 'metric'));
  for (const name of view.names) {
    head.append(element('th', '', name));
  }
  table.createTHead().append(head);
  const body = table.createTBody();
  for (const metric of view.metrics) {
    const row = element('tr');
    row.dataset.metric = metric.key;
    const label = element('td', 'mltrack-evalcompare-key', metric.key);
    if (metric.higher !== null) {
      label.title = metric.higher ? 'higher is better' : 'lower is better';
    }
    row.append(label);
    metric.values.forEach((value, i) => {
      const cell = element(
        'td',
        'mltrack-evalcompare-value',
        formatMetric(value)
      );
      if (metric.best !== null && metric.best === view.names[i]) {
        cell.classList.add('mltrack-evalcompare-best');
        cell.dataset.best = 'true';
      }
      row.append(cell);
    });
    body.append(row);
  }
  return table;
}

/** A per-row cell: scalars as text, lists (retrieved ids) as JSON, null as nothing. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

function rowsTable(rows: NonNullable<IEvalView['rows']>): HTMLElement {
  const section = element('section', 'mltrack-evalcompare-rows');
  const note =
    rows.total > rows.data.length
      ? ` (first ${rows.data.length} of ${rows.total})`
      : '';
  section.append(element('h4', '', `Per-row results${note}`));
  const table = element('table', 'mltrack-evalcompare-table');
  const head = element('tr');
  for (const column of rows.columns) {
    head.append(element('th', '', column));
  }
  table.createTHead().append(head);
  const body = table.createTBody();
  const differs = rows.columns.indexOf('differs');
  for (const values of rows.data) {
    const row = element('tr');
    if (differs >= 0 && values[differs] === true) {
      row.classList.add('mltrack-evalcompare-differs');
    }
    for (const value of values) {
      row.append(element('td', '', cellText(value)));
    }
    body.append(row);
  }
  section.append(table);
  return section;
}

const render: Render<IEvalCompareModel> = ({ model, el, signal }) => {
  const root = element('div', 'mltrack-evalcompare');
  root.dataset.mltrackState = 'loading';
  el.append(root);
  let plotly: IPlotly | null = null;
  let view: IEvalView | null = null;
  const chart = element('div', 'mltrack-evalcompare-chart');
  const tabs = element('div', 'mltrack-evalcompare-tabs');

  const draw = async (): Promise<void> => {
    if (view === null) {
      return;
    }
    const name = model.get('plot');
    for (const tab of Array.from(tabs.children) as HTMLElement[]) {
      tab.classList.toggle(
        'mltrack-evalcompare-tab-active',
        tab.dataset.plot === name
      );
    }
    const figure = view.plots[name];
    if (figure === undefined || plotly === null) {
      return;
    }
    const colors = themeColors(root);
    const layout = {
      ...figure.layout,
      template: undefined,
      paper_bgcolor: 'rgba(0,0,0,0)',
      plot_bgcolor: 'rgba(0,0,0,0)',
      font: { color: colors.font },
      height: 380,
      margin: { l: 60, r: 20, t: 40, b: 64 }
    };
    await plotly.react(chart, figure.data, layout, PLOTLY_CONFIG);
    root.dataset.mltrackPlot = name;
    root.dataset.mltrackRenderer = 'plotly';
  };

  const show = (answer: IEvalView): void => {
    view = answer;
    root.replaceChildren();
    root.append(metricsTable(answer));
    const names = Object.keys(answer.plots);
    root.dataset.mltrackEvaluations = String(answer.names.length);
    root.dataset.mltrackPlots = names.join(',');
    if (names.length > 0) {
      for (const name of names) {
        const tab = element(
          'button',
          'mltrack-evalcompare-tab',
          plotLabel(name)
        );
        tab.dataset.plot = name;
        tab.type = 'button';
        tab.addEventListener('click', () => {
          model.set('plot', name);
          model.save_changes();
        });
        tabs.append(tab);
      }
      root.append(tabs, chart);
    }
    if (answer.rows !== null) {
      root.append(rowsTable(answer.rows));
      root.dataset.mltrackRows = String(answer.rows.data.length);
    }
    root.dataset.mltrackState = 'ready';
    if (names.length > 0) {
      loadPlotly(model as AnyModel)
        .then(p => {
          plotly = p;
          return draw();
        })
        .catch((error: Error) => {
          root.dataset.mltrackRenderer = 'none';
          chart.replaceChildren(
            element(
              'p',
              'mltrack-evalcompare-note',
              `Curves need plotly.js: ${error.message}`
            )
          );
        });
    }
  };

  request<IEvalView>(model, 'view', {}, { signal })
    .then(({ result }) => show(result))
    .catch((error: RequestError) => {
      if (error.code === 'ABORTED') {
        return;
      }
      root.dataset.mltrackState = 'error';
      root.replaceChildren(
        element('p', 'mltrack-evalcompare-error', error.message)
      );
    });

  const onPlot = (): void => void draw();
  model.on('change:plot', onPlot);
  const stopTheme = watchTheme(root, onPlot);
  return () => {
    model.off('change:plot', onPlot);
    stopTheme();
    plotly?.purge(chart);
  };
};

export default { render };
