/**
 * The live metric chart shared by `LivePlot` and `MetricCompare`
 * (`jupyter_mltrack/widgets/live_plot.py`): a toolbar, a plotly.js chart (loaded once per
 * page, `./plotly`) or, until or unless plotly.js is there, an SVG of the saved snapshot.
 *
 * Data: the view asks `tick` every `interval_s` with, per trace, the last x it holds; the
 * kernel answers with the points after it (downsampled per pixel bucket). While the kernel is
 * busy in a cell those requests wait, and the kernel pushes the same ticks (`{type: 'tick'}`
 * custom messages) instead. Zooming asks `series` for the visible range. The view stops
 * asking once every run has ended, and when it is removed.
 *
 * Page state for tests and benchmarks, on the widget's root element:
 * `data-mltrack-renderer` (`plotly` | `svg`), `data-mltrack-ticks` (ticks applied),
 * `data-mltrack-pushed` (of which pushed), `data-mltrack-points` (points drawn),
 * `data-mltrack-last-x` (largest x held), `data-mltrack-apply-ms` (time to apply the last tick,
 * merge + plotly), `data-mltrack-tick-bytes` (its buffers), `data-mltrack-done`,
 * `data-mltrack-error`.
 */
import type { RenderProps } from '@anywidget/types';

import {
  AXIS_TITLES,
  chartLayout,
  chartTraces,
  PALETTE,
  PLOTLY_CONFIG,
  relayoutRange,
  traceId,
  watchTheme,
  type XAxis
} from './chartSpec';
import { loadPlotly, type IPlotly } from './plotly';
import { decodeColumns, request, RequestError, type IEncodedColumns } from './request';
import { m4Compact, mergeRead, withZoom, type ISeries } from './series';

import './seriesChart.css';

/** The traitlets of LivePlot (and MetricCompare) this view reads or writes. */
export interface IChartModel {
  run_ids: string[];
  metric_keys: string[];
  x_axis: XAxis;
  smoothing: number;
  log_y: boolean;
  small_multiples: boolean;
  interval_s: number;
  _legend: 'run_key' | 'run';
  _title: string;
  _snapshot: ISnapshot;
  _done: boolean;
}

interface ISnapshot {
  x_axis?: XAxis;
  names?: Record<string, string>;
  traces?: { run_id: string; key: string; x: number[]; y: number[] }[];
}

interface ITick {
  type?: string;
  x_axis: XAxis;
  keys: string[];
  status: Record<string, string>;
  names: Record<string, string>;
  done: boolean;
  zoom: [number | null, number | null] | null;
  traces: {
    run_id: string;
    key: string;
    since: number | null;
    columns: IEncodedColumns;
  }[];
}

/** Wait this long for plotly.js before drawing the saved snapshot as SVG meanwhile. */
const SVG_AFTER_MS = 400;

/** The saved snapshot as a minimal SVG line chart (no kernel, no plotly.js). */
export function snapshotSvg(snapshot: ISnapshot, width: number, height: number): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.classList.add('mltrack-chart-svg');
  const traces = (snapshot.traces ?? []).filter(t => t.x.length > 0);
  const xs = traces.flatMap(t => t.x);
  const ys = traces.flatMap(t => t.y);
  if (!xs.length) {
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', '12');
    text.setAttribute('y', '24');
    text.setAttribute('fill', 'currentColor');
    text.textContent = 'No points logged yet.';
    svg.append(text);
    return svg;
  }
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const pad = 28;
  const sx = (x: number): number => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y: number): number =>
    height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  const runs = Array.from(new Set(traces.map(t => t.run_id)));
  traces.forEach((t, i) => {
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', PALETTE[(runs.length > 1 ? runs.indexOf(t.run_id) : i) % 10]);
    line.setAttribute('stroke-width', '1.5');
    line.setAttribute('points', t.x.map((x, j) => `${sx(x)},${sy(t.y[j])}`).join(' '));
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${snapshot.names?.[t.run_id] ?? t.run_id} ${t.key}`;
    line.append(title);
    svg.append(line);
  });
  for (const [label, x, y] of [
    [String(Number(y1.toPrecision(4))), 2, pad],
    [String(Number(y0.toPrecision(4))), 2, height - pad],
    [`${AXIS_TITLES[snapshot.x_axis ?? 'step']} ${x0}..${x1}`, pad, height - 6]
  ] as const) {
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', String(x));
    text.setAttribute('y', String(y));
    text.setAttribute('font-size', '10');
    text.setAttribute('fill', 'currentColor');
    text.textContent = label;
    svg.append(text);
  }
  return svg;
}

function control(label: string, input: HTMLElement): HTMLLabelElement {
  const node = document.createElement('label');
  node.className = 'mltrack-chart-control';
  node.append(label, input);
  return node;
}

/** Render a live chart into `el`; returns the cleanup anywidget calls when the view goes. */
export function renderChart({ model, el, signal }: RenderProps<IChartModel>): () => void {
  const stop = new AbortController();
  signal?.addEventListener('abort', () => stop.abort());
  el.classList.add('mltrack-chart');
  const toolbar = document.createElement('div');
  toolbar.className = 'mltrack-chart-toolbar';
  const plot = document.createElement('div');
  plot.className = 'mltrack-chart-plot';
  const status = document.createElement('div');
  status.className = 'mltrack-chart-status';
  el.replaceChildren(toolbar, plot, status);

  // ------------------------------------------------------------------ state
  let base = new Map<string, ISeries>();
  let zoom: { lo: number; hi: number; series: Map<string, ISeries> } | null = null;
  let names: Record<string, string> = {};
  let runStatus: Record<string, string> = {};
  let keys = model.get('metric_keys');
  let done = false;
  let plotly: IPlotly | null = null;
  let ticks = 0;
  let revision = 0;
  let pushed = 0;
  let inflight = false;
  let again = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const width = (): number => Math.max(200, Math.round(plot.clientWidth || 600));
  const setState = (name: string, value: string | number | boolean): void => {
    el.setAttribute(`data-mltrack-${name}`, String(value));
  };
  const showError = (message: string): void => {
    status.textContent = message;
    status.classList.toggle('mltrack-chart-error', message !== '');
    if (message) {
      setState('error', message);
    } else {
      el.removeAttribute('data-mltrack-error');
    }
  };

  // ---------------------------------------------------------------- toolbar
  const axis = document.createElement('select');
  for (const [value, text] of Object.entries(AXIS_TITLES)) {
    axis.append(new Option(text, value));
  }
  const smoothing = document.createElement('input');
  smoothing.type = 'range';
  smoothing.min = '0';
  smoothing.max = '0.99';
  smoothing.step = '0.01';
  const logY = document.createElement('input');
  logY.type = 'checkbox';
  const multiples = document.createElement('input');
  multiples.type = 'checkbox';
  toolbar.append(
    control('x ', axis),
    control('smoothing ', smoothing),
    control('log y ', logY)
  );
  if (model.get('_legend') === 'run_key') {
    toolbar.append(control('one chart per metric ', multiples));
  }
  const syncToolbar = (): void => {
    axis.value = model.get('x_axis');
    smoothing.value = String(model.get('smoothing'));
    smoothing.title = `EMA weight ${model.get('smoothing')}`;
    logY.checked = model.get('log_y');
    multiples.checked = model.get('small_multiples');
  };
  const save = <K extends keyof IChartModel>(name: K, value: IChartModel[K]): void => {
    model.set(name, value);
    model.save_changes();
  };
  axis.addEventListener('change', () => save('x_axis', axis.value as XAxis));
  smoothing.addEventListener('input', () => save('smoothing', Number(smoothing.value)));
  logY.addEventListener('change', () => save('log_y', logY.checked));
  multiples.addEventListener('change', () => save('small_multiples', multiples.checked));

  // ------------------------------------------------------------------ drawing
  const spec = () => ({
    runIds: model.get('run_ids'),
    keys,
    series: (runId: string, key: string): ISeries => {
      const id = traceId(runId, key);
      const full = base.get(id) ?? { x: [], y: [] };
      return zoom?.series.has(id) ? withZoom(full, zoom.series.get(id)!, zoom.lo, zoom.hi) : full;
    },
    names,
    xAxis: model.get('x_axis'),
    smoothing: model.get('smoothing'),
    logY: model.get('log_y'),
    smallMultiples: model.get('small_multiples'),
    legend: model.get('_legend'),
    title: model.get('_title')
  });

  const drawSvg = (): void => {
    if (plotly !== null) {
      return;
    }
    plot.replaceChildren(snapshotSvg(model.get('_snapshot'), width(), 300));
    setState('renderer', 'svg');
  };

  const draw = async (): Promise<void> => {
    if (plotly === null) {
      drawSvg();
      return;
    }
    const current = spec();
    const traces = chartTraces(current);
    setState('points', traces.reduce((n, t) => n + (t.x as number[]).length, 0));
    await plotly.react(plot, traces, chartLayout(current, el, ++revision), PLOTLY_CONFIG);
  };

  // ------------------------------------------------------------------- ticks
  const since = (): Record<string, Record<string, number>> => {
    const out: Record<string, Record<string, number>> = {};
    for (const [id, series] of base) {
      if (series.x.length) {
        const [runId, key] = id.split('\u0000');
        (out[runId] ??= {})[key] = series.x[series.x.length - 1];
      }
    }
    return out;
  };

  const apply = async (tick: ITick, buffers: DataView[], wasPushed: boolean): Promise<void> => {
    if (tick.x_axis !== model.get('x_axis')) {
      return; // asked before the axis changed
    }
    const started = performance.now();
    names = { ...names, ...tick.names };
    runStatus = tick.status;
    keys = tick.keys;
    const target = tick.zoom ? new Map<string, ISeries>() : base;
    let bytes = 0;
    let lastX = -Infinity;
    for (const trace of tick.traces) {
      const columns = decodeColumns(trace.columns, buffers);
      const xs = columns.x as Float64Array;
      const ys = columns.y as Float64Array;
      bytes += xs.byteLength + ys.byteLength;
      const id = traceId(trace.run_id, trace.key);
      if (tick.zoom) {
        target.set(id, { x: Array.from(xs), y: Array.from(ys) });
        continue;
      }
      const merged = mergeRead(base.get(id) ?? { x: [], y: [] }, trace.since, xs, ys);
      // bounded however long the run: re-bucket what many ticks appended
      base.set(id, merged.x.length > 8 * width() ? m4Compact(merged, width()) : merged);
    }
    for (const series of base.values()) {
      lastX = Math.max(lastX, series.x.length ? series.x[series.x.length - 1] : -Infinity);
    }
    if (tick.zoom) {
      zoom = { lo: tick.zoom[0] ?? -Infinity, hi: tick.zoom[1] ?? Infinity, series: target };
    }
    done = tick.done;
    await draw();
    ticks++;
    pushed += wasPushed ? 1 : 0;
    setState('apply-ms', (performance.now() - started).toFixed(2));
    setState('tick-bytes', bytes);
    setState('ticks', ticks);
    setState('pushed', pushed);
    setState('done', done);
    if (Number.isFinite(lastX)) {
      setState('last-x', lastX);
    }
    const running = Object.values(runStatus).filter(s => s === 'RUNNING').length;
    status.textContent = done
      ? 'All runs ended.'
      : `${running} run${running === 1 ? '' : 's'} running; updating every ${model.get('interval_s')} s.`;
    if (done && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const tick = async (): Promise<void> => {
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const { result, buffers } = await request<ITick>(
        model,
        'tick',
        { since: since(), width: width(), x_axis: model.get('x_axis') },
        // a kernel busy in a cell answers when the cell ends; pushes fill in meanwhile
        { signal: stop.signal, timeoutMs: 0 }
      );
      showError('');
      await apply(result, buffers, false);
    } catch (error) {
      if (!(error instanceof RequestError && error.code === 'ABORTED')) {
        showError(error instanceof Error ? error.message : String(error));
      }
    } finally {
      inflight = false;
      if (again && !stop.signal.aborted) {
        again = false;
        void tick();
      }
    }
  };

  const startPolling = (): void => {
    if (timer !== undefined) {
      clearInterval(timer);
    }
    timer = setInterval(() => {
      if (!done) {
        void tick();
      }
    }, model.get('interval_s') * 1000);
  };

  const onPush = (msg: unknown, buffers?: DataView[]): void => {
    if ((msg as { type?: unknown } | null)?.type === 'tick') {
      void apply(msg as ITick, buffers ?? [], true);
    }
  };

  const onZoom = (event: Record<string, unknown>): void => {
    const xAxis = model.get('x_axis');
    const range = relayoutRange(event, xAxis);
    if (range === 'reset') {
      zoom = null;
      void draw();
      return;
    }
    if (range === null) {
      return;
    }
    const [lo, hi] = range;
    request<ITick>(
      model,
      'series',
      { x_min: Math.floor(lo), x_max: Math.ceil(hi), width: width(), x_axis: xAxis },
      { signal: stop.signal, timeoutMs: 0 }
    )
      .then(({ result, buffers }) => apply(result, buffers, false))
      .catch((error: unknown) => {
        if (!(error instanceof RequestError && error.code === 'ABORTED')) {
          showError(String(error));
        }
      });
  };

  // -------------------------------------------------------------- reactions
  const reset = (): void => {
    base = new Map();
    zoom = null;
    done = false;
    void draw();
    void tick();
    startPolling();
  };
  const redraw = (): void => {
    syncToolbar();
    void draw();
  };
  const onAxis = (): void => {
    syncToolbar();
    reset();
  };
  const onKeys = (): void => {
    keys = model.get('metric_keys');
    reset();
  };
  model.on('msg:custom', onPush);
  model.on('change:x_axis', onAxis);
  model.on('change:metric_keys', onKeys);
  model.on('change:interval_s', startPolling);
  for (const name of ['smoothing', 'log_y', 'small_multiples', '_snapshot'] as const) {
    model.on(`change:${name}`, redraw);
  }
  const unwatchTheme = watchTheme(el, () => void draw());

  syncToolbar();
  const svgTimer = setTimeout(drawSvg, SVG_AFTER_MS);
  loadPlotly(model)
    .then(async loaded => {
      if (stop.signal.aborted) {
        return;
      }
      plotly = loaded;
      clearTimeout(svgTimer);
      plot.replaceChildren();
      setState('renderer', 'plotly');
      await draw();
      (plot as unknown as { on(e: string, f: (ev: Record<string, unknown>) => void): void }).on(
        'plotly_relayout',
        onZoom
      );
    })
    .catch(() => {
      clearTimeout(svgTimer);
      drawSvg(); // static HTML, no kernel: the snapshot saved with the notebook
    });
  void tick();
  if (!model.get('_done')) {
    startPolling();
  }

  return () => {
    stop.abort();
    clearTimeout(svgTimer);
    if (timer !== undefined) {
      clearInterval(timer);
    }
    unwatchTheme();
    model.off('msg:custom', onPush);
    model.off('change:x_axis', onAxis);
    model.off('change:metric_keys', onKeys);
    model.off('change:interval_s', startPolling);
    for (const name of ['smoothing', 'log_y', 'small_multiples', '_snapshot'] as const) {
      model.off(`change:${name}`, redraw);
    }
    if (plotly !== null) {
      plotly.purge(plot);
    }
  };
}
