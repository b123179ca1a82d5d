/**
 * The drawing of a parallel-coordinates chart: one vertical axis per param/metric (numeric,
 * log, categorical or time), one line per run on a canvas, axes and brushes in SVG on top.
 * Dragging along an axis brushes it; a click on an axis without a drag clears its brush.
 *
 * Shared by the `ParallelCoordinates` notebook widget (`../parallelCoordinates.ts`, data from
 * the kernel) and the JupyterLab compare view (`src/views/compare.ts`, data from the lab
 * API): each gives a host with the axes and the brushes, and calls `setData`. State for
 * tests, on `el`: `data-mltrack-lines`, `data-mltrack-selected` (lines inside every brush,
 * as drawn), `data-mltrack-brushes` (JSON of the host's brushes).
 *
 * No CSS import here (the lab extension compiles this module too): the classes are styled
 * by `../parallelCoordinates.css`.
 */
import { formatNumber, formatTime } from './format';
import type { Column } from './request';

export type Brush = [number, number] | string[];

/** The lines: run ids, a column per axis, categories of the categorical axes. */
export interface IParcoordsData {
  ids: string[];
  columns: Record<string, Column>;
  categories: Record<string, string[]>;
  color_column: string | null;
}

export const HEIGHT = 380;
const MARGIN = { top: 48, bottom: 28, left: 70, right: 70 };
const HIT_WIDTH = 28;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** One axis: maps a value to y (NaN when missing) and back. */
export interface IScale {
  kind: string;
  y(value: number | string | null): number;
  /** The brush of the pixel range [y0, y1]. */
  brush(y0: number, y1: number): Brush;
  /** The pixel range of a brush. */
  span(brush: Brush): [number, number];
  ticks(): { y: number; label: string }[];
}

/** The scale of one axis between pixel rows `top` (high values) and `bottom`. */
export function makeScale(
  kind: string,
  values: Column,
  categories: string[],
  top: number,
  bottom: number
): IScale {
  const height = bottom - top;
  if (kind === 'categorical') {
    const step = height / Math.max(categories.length, 1);
    const index = new Map(categories.map((c, i) => [c, i]));
    const yOf = (i: number): number => bottom - (i + 0.5) * step;
    return {
      kind,
      y: v => {
        const i = index.get(String(v));
        return v === null || i === undefined ? NaN : yOf(i);
      },
      brush: (y0, y1) => {
        const [lo, hi] = y0 < y1 ? [y0, y1] : [y1, y0];
        return categories.filter((_, i) => yOf(i) >= lo && yOf(i) <= hi);
      },
      span: brush => {
        const ys = (brush as string[])
          .map(c => index.get(c))
          .filter((i): i is number => i !== undefined)
          .map(yOf);
        return ys.length
          ? [Math.min(...ys) - step / 2, Math.max(...ys) + step / 2]
          : [NaN, NaN];
      },
      ticks: () => categories.map((c, i) => ({ y: yOf(i), label: c }))
    };
  }
  const log = kind === 'log';
  const f = (v: number): number => (log ? Math.log10(v) : v);
  const inv = (t: number): number => (log ? 10 ** t : t);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (Number.isFinite(v) && (!log || v > 0)) {
      lo = Math.min(lo, f(v));
      hi = Math.max(hi, f(v));
    }
  }
  if (lo === Infinity) {
    lo = 0;
    hi = 1;
  } else if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const toY = (t: number): number => bottom - ((t - lo) / (hi - lo)) * height;
  const fromY = (y: number): number =>
    inv(lo + ((bottom - y) / height) * (hi - lo));
  const label = (v: number): string =>
    kind === 'time' ? formatTime(v) : formatNumber(Number(v.toPrecision(4)));
  return {
    kind,
    y: v => {
      const n = Number(v);
      return v === null || !Number.isFinite(n) || (log && n <= 0)
        ? NaN
        : toY(f(n));
    },
    brush: (y0, y1) => {
      const a = fromY(Math.max(y0, y1));
      const b = fromY(Math.min(y0, y1));
      return [a, b];
    },
    span: brush => {
      const [a, b] = brush as [number, number];
      const ya = log && a <= 0 ? bottom : toY(f(a));
      const yb = toY(f(b));
      return [
        Math.max(Math.min(yb, bottom), top),
        Math.min(Math.max(ya, top), bottom)
      ];
    },
    ticks: () => {
      const out: { y: number; label: string }[] = [];
      if (log) {
        for (let p = Math.ceil(lo); p <= Math.floor(hi); p++) {
          out.push({ y: toY(p), label: formatNumber(10 ** p) });
        }
        if (out.length >= 2) {
          return out;
        }
      }
      const n = kind === 'time' ? 3 : 5;
      for (let i = 0; i < n; i++) {
        const t = lo + ((hi - lo) * i) / (n - 1);
        out.push({ y: toY(t), label: label(inv(t)) });
      }
      return out;
    }
  };
}

/** Whether `value` is inside `brush` on an axis of `kind` (missing values never are). */
export function inBrush(
  value: number | string | null,
  brush: Brush,
  kind: string
): boolean {
  if (value === null) {
    return false;
  }
  if (kind === 'categorical') {
    return (brush as string[]).includes(String(value));
  }
  const v = Number(value);
  const [lo, hi] = brush as [number, number];
  return Number.isFinite(v) && v >= lo && v <= hi;
}

// viridis, 6 stops
const VIRIDIS = [
  [68, 1, 84],
  [65, 68, 135],
  [42, 120, 142],
  [34, 168, 132],
  [122, 209, 81],
  [253, 231, 37]
];

/** An `rgba()` colour of viridis at `t` in [0, 1]. */
export function viridis(t: number, alpha: number): string {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const w = x - i;
  const c = VIRIDIS[i].map((a, k) =>
    Math.round(a + (VIRIDIS[i + 1][k] - a) * w)
  );
  return `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})`;
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  className = ''
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  if (className) {
    node.setAttribute('class', className);
  }
  return node;
}

function valueAt(
  column: Column | undefined,
  i: number
): number | string | null {
  if (column === undefined) {
    return null;
  }
  const v = column[i];
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Where the chart reads its axes and brushes and writes a new brush. */
export interface IParcoordsHost {
  axes(): string[];
  axisTypes(): Record<string, string>;
  /** The colour column's name (for the legend), or ''. */
  color(): string;
  brushes(): Record<string, Brush>;
  setBrushes(brushes: Record<string, Brush>): void;
}

/** A chart drawn into `el`. */
export interface IParcoords {
  /** New lines (null: none yet); draws at once. */
  setData: (data: IParcoordsData | null) => void;
  /** The line under the chart (counts, hints, errors). */
  setMessage: (text: string) => void;
  /** Redraw at the next animation frame (brushes or size changed). */
  schedule: () => void;
  dispose: () => void;
}

/** Draw a parallel-coordinates chart of `host`'s axes into `el`. */
export function createParcoords(el: HTMLElement, host: IParcoordsHost): IParcoords {
  el.classList.add('jp-mltrack-parcoords');
  const legend = document.createElement('div');
  legend.className = 'jp-mltrack-parcoords-legend';
  const stage = document.createElement('div');
  stage.className = 'jp-mltrack-parcoords-stage';
  const canvas = document.createElement('canvas');
  const overlay = svg('svg', {}, 'jp-mltrack-parcoords-svg');
  stage.append(canvas, overlay);
  const message = document.createElement('div');
  message.className = 'jp-mltrack-parcoords-message';
  el.replaceChildren(legend, stage, message);

  let data: IParcoordsData | null = null;
  let columns: Record<string, Column> = {};
  let scales = new Map<string, IScale>();
  let xs = new Map<string, number>();
  let width = 0;
  let drag: { axis: string; y0: number; y1: number; moved: boolean } | null =
    null;
  let frame = 0;

  const brushesShown = (): Record<string, Brush> => {
    const brushes = { ...host.brushes() };
    if (drag?.moved) {
      const scale = scales.get(drag.axis);
      if (scale !== undefined) {
        brushes[drag.axis] = scale.brush(drag.y0, drag.y1);
      }
    }
    return brushes;
  };

  const layout = (): void => {
    width = Math.max(el.clientWidth || 0, 320);
    const axes = host.axes();
    const inner = width - MARGIN.left - MARGIN.right;
    xs = new Map(
      axes.map((a, i) => [
        a,
        MARGIN.left +
          (axes.length === 1 ? inner / 2 : (inner * i) / (axes.length - 1))
      ])
    );
    if (data === null) {
      return;
    }
    const types = host.axisTypes();
    scales = new Map(
      axes.map(a => [
        a,
        makeScale(
          types[a] ?? 'numeric',
          columns[a] ?? [],
          data?.categories[a] ?? [],
          MARGIN.top,
          HEIGHT - MARGIN.bottom
        )
      ])
    );
  };

  const drawLines = (brushes: Record<string, Brush>): number => {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = HEIGHT * ratio;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${HEIGHT}px`;
    const ctx = canvas.getContext('2d');
    if (ctx === null || data === null) {
      return 0;
    }
    ctx.scale(ratio, ratio);
    const axes = host.axes();
    const types = host.axisTypes();
    const colourColumn = data.color_column
      ? columns[data.color_column]
      : undefined;
    let cmin = Infinity;
    let cmax = -Infinity;
    if (colourColumn !== undefined) {
      for (let i = 0; i < colourColumn.length; i++) {
        const v = Number(colourColumn[i]);
        if (Number.isFinite(v)) {
          cmin = Math.min(cmin, v);
          cmax = Math.max(cmax, v);
        }
      }
    }
    const muted =
      getComputedStyle(el).getPropertyValue('--jp-border-color1').trim() ||
      '#bdbdbd';
    const brushed = Object.keys(brushes).length > 0;
    let selected = 0;
    const n = data.ids.length;
    const alpha = n > 2000 ? 0.35 : 0.75;
    const chosen: number[] = [];
    ctx.lineWidth = 1;
    ctx.globalAlpha = brushed ? 0.25 : 1;
    ctx.strokeStyle = muted;
    for (let i = 0; i < n; i++) {
      const inside =
        brushed &&
        Object.entries(brushes).every(([axis, brush]) =>
          inBrush(valueAt(columns[axis], i), brush, types[axis] ?? 'numeric')
        );
      if (inside) {
        selected++;
      }
      if (inside || !brushed) {
        chosen.push(i);
      } else {
        strokeLine(ctx, axes, i);
      }
    }
    ctx.globalAlpha = 1;
    for (const i of chosen) {
      const c = colourColumn === undefined ? NaN : Number(colourColumn[i]);
      ctx.strokeStyle = Number.isFinite(c)
        ? viridis(cmax > cmin ? (c - cmin) / (cmax - cmin) : 0.5, alpha)
        : `rgba(120, 120, 120, ${alpha})`;
      strokeLine(ctx, axes, i);
    }
    drawLegend(cmin, cmax);
    return selected;
  };

  function strokeLine(
    ctx: CanvasRenderingContext2D,
    axes: string[],
    i: number
  ): void {
    ctx.beginPath();
    let pen = false;
    for (const axis of axes) {
      const y = scales.get(axis)?.y(valueAt(columns[axis], i)) ?? NaN;
      const x = xs.get(axis) ?? 0;
      if (Number.isNaN(y)) {
        pen = false; // a missing value breaks the line
        continue;
      }
      if (pen) {
        ctx.lineTo(x, y);
      } else {
        ctx.moveTo(x, y);
        pen = true;
      }
    }
    ctx.stroke();
  }

  function drawLegend(cmin: number, cmax: number): void {
    const colour = host.color();
    if (!colour || !Number.isFinite(cmin)) {
      legend.replaceChildren();
      return;
    }
    const bar = document.createElement('span');
    bar.className = 'jp-mltrack-parcoords-gradient';
    bar.style.background = `linear-gradient(to right, ${VIRIDIS.map((_, i) =>
      viridis(i / (VIRIDIS.length - 1), 1)
    ).join(', ')})`;
    legend.replaceChildren(
      document.createTextNode(`colour: ${colour}  ${formatNumber(cmin)} `),
      bar,
      document.createTextNode(` ${formatNumber(cmax)}`)
    );
  }

  const drawAxes = (brushes: Record<string, Brush>): void => {
    overlay.setAttribute('width', String(width));
    overlay.setAttribute('height', String(HEIGHT));
    const nodes: SVGElement[] = [];
    for (const axis of host.axes()) {
      const x = xs.get(axis) ?? 0;
      const scale = scales.get(axis);
      const g = svg('g', {}, 'jp-mltrack-pc-axis');
      g.dataset.axis = axis;
      g.append(
        svg(
          'line',
          { x1: x, x2: x, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom },
          'jp-mltrack-pc-line'
        )
      );
      const title = svg(
        'text',
        { x, y: MARGIN.top - 26, 'text-anchor': 'middle' },
        'jp-mltrack-pc-title'
      );
      title.textContent = axis;
      const kind = svg(
        'text',
        { x, y: MARGIN.top - 12, 'text-anchor': 'middle' },
        'jp-mltrack-pc-kind'
      );
      kind.textContent = scale?.kind ?? '';
      g.append(title, kind);
      for (const tick of scale?.ticks() ?? []) {
        g.append(
          svg(
            'line',
            { x1: x - 4, x2: x, y1: tick.y, y2: tick.y },
            'jp-mltrack-pc-line'
          )
        );
        const label = svg(
          'text',
          { x: x - 7, y: tick.y + 4, 'text-anchor': 'end' },
          'jp-mltrack-pc-tick'
        );
        label.textContent = tick.label;
        g.append(label);
      }
      const brush = brushes[axis];
      if (brush !== undefined && scale !== undefined) {
        const [y0, y1] = scale.span(brush);
        if (Number.isFinite(y0) && Number.isFinite(y1)) {
          g.append(
            svg(
              'rect',
              { x: x - 8, y: y0, width: 16, height: Math.max(y1 - y0, 2) },
              'jp-mltrack-pc-brush'
            )
          );
        }
      }
      const hit = svg(
        'rect',
        {
          x: x - HIT_WIDTH / 2,
          y: MARGIN.top,
          width: HIT_WIDTH,
          height: HEIGHT - MARGIN.top - MARGIN.bottom
        },
        'jp-mltrack-pc-hit'
      );
      hit.dataset.axis = axis;
      g.append(hit);
      nodes.push(g);
    }
    overlay.replaceChildren(...nodes);
  };

  const draw = (): void => {
    frame = 0;
    layout();
    const brushes = brushesShown();
    drawAxes(brushes);
    if (data === null) {
      return;
    }
    const selected = drawLines(brushes);
    el.dataset.mltrackLines = String(data.ids.length);
    el.dataset.mltrackSelected = String(selected);
    el.dataset.mltrackBrushes = JSON.stringify(host.brushes());
  };
  const schedule = (): void => {
    if (frame === 0) {
      frame = requestAnimationFrame(draw);
    }
  };

  // ---------------------------------------------------------------- brushing
  const pointerY = (event: PointerEvent): number =>
    event.clientY - overlay.getBoundingClientRect().top;
  const onDown = (event: PointerEvent): void => {
    const target = event.target as SVGElement;
    const axis = target.dataset?.axis;
    if (axis === undefined || !target.classList.contains('jp-mltrack-pc-hit')) {
      return;
    }
    event.preventDefault();
    overlay.setPointerCapture(event.pointerId);
    const y = pointerY(event);
    drag = { axis, y0: y, y1: y, moved: false };
  };
  const onMove = (event: PointerEvent): void => {
    if (drag === null) {
      return;
    }
    drag.y1 = Math.min(
      Math.max(pointerY(event), MARGIN.top),
      HEIGHT - MARGIN.bottom
    );
    drag.moved = drag.moved || Math.abs(drag.y1 - drag.y0) > 3;
    schedule();
  };
  const onUp = (): void => {
    if (drag === null) {
      return;
    }
    const { axis, y0, y1, moved } = drag;
    drag = null;
    const brushes = { ...host.brushes() };
    const scale = scales.get(axis);
    if (moved && scale !== undefined) {
      brushes[axis] = scale.brush(y0, y1);
    } else {
      delete brushes[axis]; // a click clears the axis
    }
    host.setBrushes(brushes);
    schedule();
  };

  overlay.addEventListener('pointerdown', onDown);
  overlay.addEventListener('pointermove', onMove);
  overlay.addEventListener('pointerup', onUp);
  overlay.addEventListener('pointercancel', onUp);
  const resize = new ResizeObserver(schedule);
  resize.observe(el);
  return {
    setData: next => {
      data = next;
      columns = next?.columns ?? {};
      draw();
    },
    setMessage: text => {
      message.textContent = text;
    },
    schedule,
    dispose: () => {
      cancelAnimationFrame(frame);
      resize.disconnect();
      overlay.removeEventListener('pointerdown', onDown);
      overlay.removeEventListener('pointermove', onMove);
      overlay.removeEventListener('pointerup', onUp);
      overlay.removeEventListener('pointercancel', onUp);
    }
  };
}
