/**
 * The compare view (main area): metric overlays (`MetricChart`: smoothing, log scale, x
 * axis, downsampled per pixel), parallel coordinates (the notebook widget's drawing,
 * `../widgets/lib/parcoords.ts`) and a params table of the params that differ (a toggle
 * shows all).
 *
 * Page state on the node: `data-mltrack-compare` (loading | ready | error),
 * `data-mltrack-runs` (run ids, comma-separated); on the params table
 * `data-mltrack-params` (rows shown) and `data-mltrack-show-all`.
 */
import { Widget } from '@lumino/widgets';

import type { IRun, IRunDetail } from '../api/lab';
import { LabApi } from '../api/lab';
import { PALETTE } from '../widgets/lib/chartSpec';
import {
  createParcoords,
  type Brush,
  type IParcoords
} from '../widgets/lib/parcoords';
import { DEFAULT_CHART, IChartOptions, MetricChart } from './chart';
import { metricKeys, paramRows, parcoordsOf } from './data';

/** What the layout restorer saves of a compare view. */
export interface ICompareState {
  runIds: string[];
  chart?: Partial<IChartOptions>;
  showAll?: boolean;
}

function section(title: string): { node: HTMLElement; body: HTMLElement } {
  const node = document.createElement('section');
  node.className = 'jp-mltrack-view-section';
  const heading = document.createElement('h2');
  heading.textContent = title;
  const body = document.createElement('div');
  node.append(heading, body);
  return { node, body };
}

export class CompareView extends Widget {
  constructor(
    private readonly api: LabApi,
    state: ICompareState,
    /** Open a run's detail view (a click on its name). */
    private readonly openRun: (runId: string) => void
  ) {
    super();
    this.state = { chart: { ...DEFAULT_CHART }, showAll: false, ...state };
    this.addClass('jp-mltrack-view');
    this.addClass('jp-mltrack-compare');
    this.node.tabIndex = -1;
    this.node.dataset.mltrackRuns = state.runIds.join(',');
    this.title.label = `Compare ${state.runIds.length} runs`;
    this.title.closable = true;
    void this.load();
  }

  state: ICompareState;
  /** Called when the saved state changes (the plugin updates the restorer's data). */
  onStateChanged: () => void = () => undefined;

  async load(): Promise<void> {
    this.node.dataset.mltrackCompare = 'loading';
    this.chart?.dispose();
    this.parcoords?.dispose();
    try {
      if (this.state.runIds.length < 2) {
        throw new Error('Choose two or more runs to compare.');
      }
      const details: IRunDetail[] = await Promise.all(
        this.state.runIds.map(id => this.api.run(id))
      );
      this.runs = details.map(d => d.run);
      this.render();
      this.node.dataset.mltrackCompare = 'ready';
    } catch (error) {
      const message = document.createElement('div');
      message.className = 'jp-mltrack-error';
      message.textContent = `Could not compare the runs: ${(error as Error).message}`;
      this.node.replaceChildren(message);
      this.node.dataset.mltrackCompare = 'error';
    }
  }

  protected onCloseRequest(msg: Parameters<Widget['onCloseRequest']>[0]): void {
    this.chart?.dispose();
    this.parcoords?.dispose();
    super.onCloseRequest(msg);
  }

  private render(): void {
    const runs = this.runs;
    const names = Object.fromEntries(
      runs.map(r => [r.info.run_id, r.info.run_name])
    );
    this.title.label =
      `Compare: ${runs.map(r => r.info.run_name).join(', ')}`.slice(0, 60);
    this.title.caption = runs
      .map(r => `${r.info.run_name} (${r.info.run_id})`)
      .join('\n');

    const header = document.createElement('div');
    header.className = 'jp-mltrack-view-header';
    runs.forEach((run, i) => {
      const chip = document.createElement('button');
      chip.className = 'jp-mltrack-run-chip';
      chip.style.borderColor = PALETTE[i % PALETTE.length];
      chip.textContent = run.info.run_name;
      chip.title = `Open run ${run.info.run_id}`;
      chip.addEventListener('click', () => this.openRun(run.info.run_id));
      header.append(chip);
    });

    const metrics = section('Metrics');
    this.chart = new MetricChart(
      this.api,
      this.state.runIds,
      names,
      metricKeys(runs),
      this.state.chart
    );
    this.chart.onChange = options => {
      this.state.chart = options;
      this.onStateChanged();
    };
    metrics.body.append(this.chart.node);

    const pc = section('Parallel coordinates');
    const pcNode = document.createElement('div');
    pcNode.className = 'jp-mltrack-parcoords';
    pc.body.append(pcNode);
    const lines = parcoordsOf(runs);
    let brushes: Record<string, Brush> = {};
    this.parcoords = createParcoords(pcNode, {
      axes: () => lines.axes,
      axisTypes: () => lines.types,
      color: () => lines.color,
      brushes: () => brushes,
      setBrushes: next => {
        brushes = next;
        this.parcoords?.schedule();
      }
    });

    const params = section('Params');
    const toggle = document.createElement('label');
    toggle.className = 'jp-mltrack-show-all';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = this.state.showAll ?? false;
    toggle.append(box, ' show all params (not only those that differ)');
    const table = document.createElement('div');
    params.body.append(toggle, table);
    const drawParams = (): void => this.drawParams(table, box.checked);
    box.addEventListener('change', () => {
      this.state.showAll = box.checked;
      this.onStateChanged();
      drawParams();
    });

    this.node.replaceChildren(header, metrics.node, pc.node, params.node);
    drawParams();
    void this.chart.load();
    this.parcoords.setMessage(
      `${runs.length} runs; drag along an axis to brush it, click it to clear.`
    );
    this.parcoords.setData(lines.data);
  }

  private drawParams(host: HTMLElement, showAll: boolean): void {
    const rows = paramRows(this.runs, showAll);
    const table = document.createElement('table');
    table.className = 'jp-mltrack-params-table';
    const head = table.createTHead().insertRow();
    head.append(
      Object.assign(document.createElement('th'), { textContent: 'param' }),
      ...this.runs.map(r =>
        Object.assign(document.createElement('th'), {
          textContent: r.info.run_name
        })
      )
    );
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      tr.dataset.param = row.key;
      tr.classList.toggle('jp-mltrack-differs', row.differs);
      tr.insertCell().textContent = row.key;
      for (const value of row.values) {
        const td = tr.insertCell();
        td.textContent = value ?? '—';
        td.classList.toggle('jp-mltrack-missing', value === null);
      }
    }
    const note = document.createElement('div');
    note.className = 'jp-mltrack-hint';
    note.textContent = rows.length
      ? ''
      : showAll
        ? 'These runs logged no params.'
        : 'Every param has the same value in these runs.';
    host.replaceChildren(table, note);
    host.dataset.mltrackParams = String(rows.length);
    host.dataset.mltrackShowAll = String(showAll);
    host.classList.add('jp-mltrack-params');
  }

  private runs: IRun[] = [];
  private chart: MetricChart | null = null;
  private parcoords: IParcoords | null = null;
}
