/**
 * The data side of the live charts, free of DOM and plotly (tested in Node): traces that
 * grow by ticks, stay bounded by re-bucketing, and smoothing.
 */

/** One trace's points, sorted by x. */
export interface ISeries {
  x: number[];
  y: number[];
}

/**
 * Merge a read into a trace. `since` null: a full read, which replaces the points it covers
 * (local points after its last x, from later ticks, stay). Otherwise an increment after
 * `since`: points beyond the trace's last x are appended (a push the trace is behind on is
 * appended too; the full read it asks for fills the gap later).
 */
export function mergeRead(
  series: ISeries,
  since: number | null,
  xs: ArrayLike<number>,
  ys: ArrayLike<number>
): ISeries {
  if (since === null) {
    const x = Array.from(xs);
    const y = Array.from(ys);
    const last = x.length ? x[x.length - 1] : -Infinity;
    for (let i = 0; i < series.x.length; i++) {
      if (series.x[i] > last) {
        x.push(series.x[i]);
        y.push(series.y[i]);
      }
    }
    return { x, y };
  }
  const last = series.x.length ? series.x[series.x.length - 1] : -Infinity;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] > last) {
      series.x.push(xs[i]);
      series.y.push(ys[i]);
    }
  }
  return series;
}

/**
 * Re-bucket a trace into `buckets` x buckets keeping each bucket's first, min, max and last
 * points (M4, as the store does), so spikes stay; a trace that grew by many ticks returns to
 * at most `4 * buckets` points.
 */
export function m4Compact(series: ISeries, buckets: number): ISeries {
  const { x, y } = series;
  const n = x.length;
  if (n <= 4 * buckets) {
    return series;
  }
  const lo = x[0];
  const span = Math.max(x[n - 1] - lo, 1e-12);
  const out: ISeries = { x: [], y: [] };
  let i = 0;
  while (i < n) {
    const bucket = Math.min(Math.floor(((x[i] - lo) / span) * buckets), buckets - 1);
    let end = i;
    let min = i;
    let max = i;
    while (
      end + 1 < n &&
      Math.min(Math.floor(((x[end + 1] - lo) / span) * buckets), buckets - 1) === bucket
    ) {
      end++;
      if (y[end] < y[min]) {
        min = end;
      }
      if (y[end] > y[max]) {
        max = end;
      }
    }
    let previous = -1;
    for (const j of [i, min, max, end].sort((a, b) => a - b)) {
      if (j !== previous) {
        out.x.push(x[j]);
        out.y.push(y[j]);
      }
      previous = j;
    }
    i = end + 1;
  }
  return out;
}

/** TensorBoard's debiased exponential moving average (weight in [0, 1); NaN kept as gaps). */
export function ema(y: ArrayLike<number>, weight: number): number[] {
  const out = new Array<number>(y.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    count++;
    out[i] = last / (1 - Math.pow(weight, count));
  }
  return out;
}

/** `base` with the points inside `[lo, hi]` replaced by `zoom` (a full-resolution read). */
export function withZoom(base: ISeries, zoom: ISeries, lo: number, hi: number): ISeries {
  const out: ISeries = { x: [], y: [] };
  let i = 0;
  for (; i < base.x.length && base.x[i] < lo; i++) {
    out.x.push(base.x[i]);
    out.y.push(base.y[i]);
  }
  out.x.push(...zoom.x);
  out.y.push(...zoom.y);
  for (; i < base.x.length; i++) {
    if (base.x[i] > hi) {
      out.x.push(base.x[i]);
      out.y.push(base.y[i]);
    }
  }
  return out;
}
