/**
 * The plotly.js figure of a metric chart, free of where the points come from: the notebook
 * widgets (`seriesChart.ts`, points from the kernel) and the JupyterLab compare and run
 * views (`src/views/`, points from `GET /mltrack/api/lab/series`) draw with these, so the
 * two look and behave the same (smoothing, log y, x axis, small multiples, theme colours).
 *
 * No CSS import and no anywidget runtime here: the lab extension compiles this module too.
 */
import { ema, type ISeries } from './series';

export type XAxis = 'step' | 'relative_time' | 'wall_time';

export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf'
];
export const DASHES = ['solid', 'dash', 'dot', 'dashdot', 'longdash'];
export const AXIS_TITLES: Record<XAxis, string> = {
  step: 'step',
  relative_time: 'relative time (s)',
  wall_time: 'wall time'
};

/** plotly.js options of every metric chart. */
export const PLOTLY_CONFIG = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ['select2d', 'lasso2d']
};

export const traceId = (runId: string, key: string): string =>
  `${runId}\u0000${key}`;

/** Colours of the current JupyterLab theme (CSS variables), with neutral fallbacks. */
export function themeColors(el: HTMLElement): {
  font: string;
  grid: string;
  zero: string;
} {
  const style = getComputedStyle(el);
  const v = (name: string): string => style.getPropertyValue(name).trim();
  return {
    font: v('--jp-ui-font-color1') || style.color || '#444',
    grid: v('--jp-border-color2') || 'rgba(128,128,128,0.25)',
    zero: v('--jp-border-color1') || 'rgba(128,128,128,0.5)'
  };
}

/** x as drawn: seconds for relative time, ms since epoch (a plotly date axis) for wall time. */
export const xScale = (axis: XAxis): number =>
  axis === 'relative_time' ? 1 / 1000 : 1;

/** A plotly range bound back in the store's x unit. */
export function fromAxis(value: unknown, axis: XAxis): number | null {
  if (typeof value === 'number') {
    return value / xScale(axis);
  }
  if (typeof value === 'string' && axis === 'wall_time') {
    const ms = Date.parse(value.replace(' ', 'T') + 'Z');
    return Number.isFinite(ms) ? ms : null;
  }
  return null;
}

/**
 * The visible x range of a `plotly_relayout` event in the store's unit: `[lo, hi]`,
 * `'reset'` when the user went back to autorange, or null for other events.
 */
export function relayoutRange(
  event: Record<string, unknown>,
  axis: XAxis
): [number, number] | 'reset' | null {
  if (Object.keys(event).some(k => /^xaxis\d*\.autorange$/.test(k))) {
    return 'reset';
  }
  const key = Object.keys(event).find(k => /^xaxis\d*\.range\[0\]$/.test(k));
  if (key === undefined) {
    return null;
  }
  const lo = fromAxis(event[key], axis);
  const hi = fromAxis(event[key.replace('[0]', '[1]')], axis);
  return lo === null || hi === null ? null : [lo, hi];
}

/** What a chart shows: the options both the widgets and the lab views have. */
export interface IChartSpec {
  runIds: string[];
  keys: string[];
  /** Points of (run, key), by `traceId`. */
  series: (runId: string, key: string) => ISeries;
  names: Record<string, string>;
  xAxis: XAxis;
  smoothing: number;
  logY: boolean;
  smallMultiples: boolean;
  /** `run`: the legend names runs only (one key); `run_key`: run and key. */
  legend: 'run' | 'run_key';
  title?: string;
}

/** The plotly traces of a chart: one per (key, run), plus a faint raw line when smoothed. */
export function chartTraces(spec: IChartSpec): Record<string, unknown>[] {
  const { runIds, keys, xAxis, smoothing: weight } = spec;
  const k = xScale(xAxis);
  const perKey = spec.smallMultiples && keys.length > 1;
  const out: Record<string, unknown>[] = [];
  keys.forEach((key, ki) => {
    runIds.forEach((runId, ri) => {
      const id = traceId(runId, key);
      const series = spec.series(runId, key);
      const color = PALETTE[(runIds.length > 1 ? ri : ki) % PALETTE.length];
      const dash =
        runIds.length > 1 && !perKey ? DASHES[ki % DASHES.length] : 'solid';
      const run = spec.names[runId] ?? runId.slice(0, 8);
      const name =
        spec.legend === 'run'
          ? run
          : runIds.length > 1
            ? `${run} ${key}`
            : key;
      const axes = perKey
        ? { xaxis: `x${ki ? ki + 1 : ''}`, yaxis: `y${ki ? ki + 1 : ''}` }
        : {};
      const x = k === 1 ? series.x : series.x.map(v => v * k);
      const mode = series.x.length < 3 ? 'lines+markers' : 'lines';
      const common = { type: 'scatter', mode, x, legendgroup: id, ...axes };
      if (weight > 0) {
        out.push({
          ...common,
          y: series.y,
          name,
          showlegend: false,
          hoverinfo: 'skip',
          line: { color, dash, width: 1 },
          opacity: 0.25
        });
        out.push({
          ...common,
          y: ema(series.y, weight),
          name,
          line: { color, dash, width: 1.5 }
        });
      } else {
        out.push({
          ...common,
          y: series.y,
          name,
          line: { color, dash, width: 1.5 }
        });
      }
    });
  });
  return out;
}

/** The plotly layout of a chart in the theme colours read from `el`. */
export function chartLayout(
  spec: IChartSpec,
  el: HTMLElement,
  revision: number
): Record<string, unknown> {
  const theme = themeColors(el);
  const { keys, xAxis } = spec;
  const perKey = spec.smallMultiples && keys.length > 1;
  const axisStyle = {
    gridcolor: theme.grid,
    zerolinecolor: theme.zero,
    linecolor: theme.grid
  };
  const out: Record<string, unknown> = {
    // same revision: plotly keeps the user's zoom across redraws of new points
    uirevision: `${xAxis}/${perKey}/${keys.join(',')}`,
    // traces grow in place: a new revision tells Plotly.react to look at the data again
    datarevision: revision,
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: theme.font, size: 11 },
    margin: { l: 50, r: 10, t: spec.title ? 28 : 10, b: 36 },
    height: perKey ? Math.max(260, 200 * Math.ceil(keys.length / 2)) : 320,
    showlegend: true,
    legend: { orientation: 'h', y: -0.15 },
    hovermode: 'x unified',
    title: spec.title
      ? { text: spec.title, font: { size: 13 } }
      : undefined
  };
  const xStyle = {
    ...axisStyle,
    type: xAxis === 'wall_time' ? 'date' : 'linear'
  };
  const yStyle = { ...axisStyle, type: spec.logY ? 'log' : 'linear' };
  if (perKey) {
    out.grid = {
      rows: Math.ceil(keys.length / 2),
      columns: 2,
      pattern: 'independent'
    };
    keys.forEach((key, i) => {
      const n = i ? String(i + 1) : '';
      out[`xaxis${n}`] = { ...xStyle, matches: i ? 'x' : undefined };
      out[`yaxis${n}`] = { ...yStyle, title: { text: key } };
    });
    (out.xaxis as Record<string, unknown>).title = {
      text: AXIS_TITLES[xAxis]
    };
  } else {
    out.xaxis = { ...xStyle, title: { text: AXIS_TITLES[xAxis] } };
    out.yaxis = {
      ...yStyle,
      title: { text: keys.length === 1 ? keys[0] : '' }
    };
  }
  return out;
}

/**
 * Call `redraw` when the JupyterLab theme changes. The theme attributes change before the
 * new theme's stylesheet applies, so this redraws until the colours read back from `el`
 * match the theme (checked for a few seconds after a change). Returns the disposer.
 */
export function watchTheme(el: HTMLElement, redraw: () => void): () => void {
  let checks: ReturnType<typeof setInterval> | undefined;
  const onTheme = (): void => {
    clearInterval(checks);
    let drawn = '';
    let left = 30;
    const check = (): void => {
      const font = themeColors(el).font;
      if (font !== drawn) {
        drawn = font;
        redraw();
      }
      if (--left <= 0) {
        clearInterval(checks);
      }
    };
    check();
    checks = setInterval(check, 100);
  };
  const observer = new MutationObserver(onTheme);
  observer.observe(document.body, {
    attributes: true,
    attributeFilter: ['data-jp-theme-light', 'data-jp-theme-name']
  });
  return () => {
    observer.disconnect();
    clearInterval(checks);
  };
}
