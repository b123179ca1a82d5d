/**
 * A metric chart of the lab views: the notebook widgets' figure (`chartSpec.ts`: traces,
 * layout, theme colours) and their plotly.js (loaded once per page from
 * `/mltrack/vendor/`), with points read from `GET /mltrack/api/lab/series` downsampled to
 * the chart's pixel width (M4 buckets, ARCHITECTURE.md section 6). Zooming reads the
 * visible range again at full resolution.
 *
 * Page state on `node`: `data-mltrack-chart` (loading | ready | error),
 * `data-mltrack-points` (points drawn), `data-mltrack-traces`, `data-mltrack-keys`.
 */
import type { ISeriesReply } from '../api/lab';
import { LabApi } from '../api/lab';
import {
  AXIS_TITLES,
  chartLayout,
  chartTraces,
  PLOTLY_CONFIG,
  relayoutRange,
  traceId,
  watchTheme,
  type IChartSpec,
  type XAxis
} from '../widgets/lib/chartSpec';
import { loadPlotly, type IPlotly } from '../widgets/lib/plotly';
import { withZoom, type ISeries } from '../widgets/lib/series';
import { wireNumber } from './data';

/** The options a chart starts with (the views save them for a reload). */
export interface IChartOptions {
  keys: string[];
  xAxis: XAxis;
  smoothing: number;
  logY: boolean;
  smallMultiples: boolean;
}

export const DEFAULT_CHART: IChartOptions = {
  keys: [],
  xAxis: 'step',
  smoothing: 0,
  logY: false,
  smallMultiples: true
};

function labelled(text: string, input: HTMLElement): HTMLLabelElement {
  const node = document.createElement('label');
  node.className = 'jp-mltrack-chart-control';
  node.append(text, input);
  return node;
}

/** Points of a reply by trace id. */
function tracesOf(reply: ISeriesReply): Map<string, ISeries> {
  const out = new Map<string, ISeries>();
  for (const t of reply.traces) {
    out.set(traceId(t.run_id, reply.key), {
      x: t.x.map(wireNumber),
      y: t.y.map(wireNumber)
    });
  }
  return out;
}

export class MetricChart {
  readonly node = document.createElement('div');
  /** Called when the user changes an option (the view saves its state). */
  onChange: (options: IChartOptions) => void = () => undefined;

  constructor(
    private readonly api: LabApi,
    private runIds: string[],
    private names: Record<string, string>,
    private allKeys: string[],
    options: Partial<IChartOptions> = {}
  ) {
    this.options = { ...DEFAULT_CHART, ...options };
    if (this.options.keys.length === 0) {
      this.options.keys = allKeys.slice(0, 4);
    }
    this.options.keys = this.options.keys.filter(k => allKeys.includes(k));
    this.node.className = 'jp-mltrack-metric-chart';
    this.toolbar.className = 'jp-mltrack-chart-toolbar';
    this.plot.className = 'jp-mltrack-chart-plot';
    this.status.className = 'jp-mltrack-chart-status';
    this.node.append(this.toolbar, this.plot, this.status);
    this.buildToolbar();
    this.unwatchTheme = watchTheme(this.node, () => void this.draw());
    this.resize = new ResizeObserver(() => {
      const width = this.width();
      if (this.plotly !== null && this.plot.isConnected) {
        this.plotly.Plots.resize(this.plot);
      }
      // a chart that grew much wider than it was read for reads again at the new width
      if (width > this.readWidth * 1.5) {
        void this.load();
      }
    });
    this.resize.observe(this.node);
  }

  options: IChartOptions;

  /** Read every chosen key again (e.g. after runs changed). */
  async load(): Promise<void> {
    const generation = ++this.generation;
    this.node.dataset.mltrackChart = 'loading';
    this.node.dataset.mltrackKeys = this.options.keys.join(',');
    const width = this.width();
    this.readWidth = width;
    try {
      const replies = await Promise.all(
        this.options.keys.map(key =>
          this.api.series({
            run_ids: this.runIds,
            key,
            width,
            x_axis: this.options.xAxis
          })
        )
      );
      if (generation !== this.generation) {
        return;
      }
      this.base = new Map(replies.flatMap(r => [...tracesOf(r)]));
      this.zoom = null;
      this.plotly ??= await loadPlotly();
      await this.draw();
      this.status.textContent = this.options.keys.length
        ? `Up to 4 points per pixel (${width} px wide); zoom in to read the range again.`
        : 'Choose a metric above.';
      this.status.classList.remove('jp-mltrack-error');
      this.node.dataset.mltrackChart = 'ready';
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      this.status.textContent = `Could not draw the metrics: ${(error as Error).message}`;
      this.status.classList.add('jp-mltrack-error');
      this.node.dataset.mltrackChart = 'error';
    }
  }

  dispose(): void {
    this.generation++;
    this.unwatchTheme();
    this.resize.disconnect();
    this.plotly?.purge(this.plot);
  }

  private width(): number {
    return Math.max(200, Math.round(this.plot.clientWidth || 600));
  }

  private spec(): IChartSpec {
    return {
      runIds: this.runIds,
      keys: this.options.keys,
      series: (runId, key) => {
        const id = traceId(runId, key);
        const full = this.base.get(id) ?? { x: [], y: [] };
        const zoom = this.zoom;
        return zoom !== null && zoom.series.has(id)
          ? withZoom(full, zoom.series.get(id)!, zoom.lo, zoom.hi)
          : full;
      },
      names: this.names,
      xAxis: this.options.xAxis,
      smoothing: this.options.smoothing,
      logY: this.options.logY,
      smallMultiples: this.options.smallMultiples,
      legend: this.runIds.length > 1 ? 'run' : 'run_key'
    };
  }

  private async draw(): Promise<void> {
    if (this.plotly === null) {
      return;
    }
    const spec = this.spec();
    const traces = chartTraces(spec);
    if (
      spec.runIds.length > 1 &&
      spec.keys.length > 1 &&
      !spec.smallMultiples
    ) {
      for (const t of traces) {
        t.name = `${String(t.name)} ${String(t.legendgroup).split('\u0000')[1]}`;
      }
    }
    this.node.dataset.mltrackPoints = String(
      traces.reduce((n, t) => n + (t.x as number[]).length, 0)
    );
    this.node.dataset.mltrackTraces = String(
      traces.filter(t => t.showlegend !== false).length
    );
    const first = !this.listening;
    await this.plotly.react(
      this.plot,
      traces,
      chartLayout(spec, this.node, ++this.revision),
      PLOTLY_CONFIG
    );
    if (first) {
      this.listening = true;
      (
        this.plot as unknown as {
          on(e: string, f: (ev: Record<string, unknown>) => void): void;
        }
      ).on('plotly_relayout', event => void this.onZoom(event));
    }
  }

  private async onZoom(event: Record<string, unknown>): Promise<void> {
    const range = relayoutRange(event, this.options.xAxis);
    if (range === 'reset') {
      this.zoom = null;
      await this.draw();
      return;
    }
    if (range === null) {
      return;
    }
    const [lo, hi] = range;
    const generation = this.generation;
    const replies = await Promise.all(
      this.options.keys.map(key =>
        this.api.series({
          run_ids: this.runIds,
          key,
          width: this.width(),
          x_axis: this.options.xAxis,
          x_min: Math.floor(lo),
          x_max: Math.ceil(hi)
        })
      )
    );
    if (generation === this.generation) {
      this.zoom = {
        lo,
        hi,
        series: new Map(replies.flatMap(r => [...tracesOf(r)]))
      };
      await this.draw();
    }
  }

  private changed(reload: boolean): void {
    this.onChange({ ...this.options });
    if (reload) {
      void this.load();
    } else {
      void this.draw();
    }
  }

  private buildToolbar(): void {
    const keys = document.createElement('details');
    keys.className = 'jp-mltrack-chart-keys';
    const summary = document.createElement('summary');
    const count = (): void => {
      summary.textContent = `metrics (${this.options.keys.length}/${this.allKeys.length})`;
    };
    count();
    keys.append(summary);
    for (const key of this.allKeys) {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = key;
      box.checked = this.options.keys.includes(key);
      box.addEventListener('change', () => {
        this.options.keys = this.allKeys.filter(k =>
          k === key ? box.checked : this.options.keys.includes(k)
        );
        count();
        this.changed(true);
      });
      keys.append(labelled('', box));
      (box.parentElement as HTMLElement).append(key);
    }
    const axis = document.createElement('select');
    axis.className = 'jp-mltrack-chart-axis';
    for (const [value, text] of Object.entries(AXIS_TITLES)) {
      axis.append(new Option(text, value));
    }
    axis.value = this.options.xAxis;
    axis.addEventListener('change', () => {
      this.options.xAxis = axis.value as XAxis;
      this.changed(true);
    });
    const smoothing = document.createElement('input');
    smoothing.type = 'range';
    smoothing.className = 'jp-mltrack-chart-smoothing';
    smoothing.min = '0';
    smoothing.max = '0.99';
    smoothing.step = '0.01';
    smoothing.value = String(this.options.smoothing);
    smoothing.addEventListener('input', () => {
      this.options.smoothing = Number(smoothing.value);
      smoothing.title = `EMA weight ${smoothing.value}`;
      this.changed(false);
    });
    const logY = document.createElement('input');
    logY.type = 'checkbox';
    logY.className = 'jp-mltrack-chart-log';
    logY.checked = this.options.logY;
    logY.addEventListener('change', () => {
      this.options.logY = logY.checked;
      this.changed(false);
    });
    const multiples = document.createElement('input');
    multiples.type = 'checkbox';
    multiples.className = 'jp-mltrack-chart-multiples';
    multiples.checked = this.options.smallMultiples;
    multiples.addEventListener('change', () => {
      this.options.smallMultiples = multiples.checked;
      this.changed(false);
    });
    this.toolbar.append(
      keys,
      labelled('x ', axis),
      labelled('smoothing ', smoothing),
      labelled('log y ', logY),
      labelled('one chart per metric ', multiples)
    );
  }

  private readonly toolbar = document.createElement('div');
  private readonly plot = document.createElement('div');
  private readonly status = document.createElement('div');
  private readonly unwatchTheme: () => void;
  private readonly resize: ResizeObserver;
  private plotly: IPlotly | null = null;
  private base = new Map<string, ISeries>();
  private zoom: {
    lo: number;
    hi: number;
    series: Map<string, ISeries>;
  } | null = null;
  private generation = 0;
  private revision = 0;
  private readWidth = 0;
  private listening = false;
}
