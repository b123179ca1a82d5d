/**
 * Pure formatting helpers of the sidebar (no DOM state): metric choice, numbers, times.
 */
import { IRun, WireFloat } from '../api';

/**
 * The metric key most of `runs` have (ties: alphabetical), or null when none has metrics.
 * The sidebar shows this key for every run that has it, like `mltrack runs list`.
 */
export function commonMetricKey(runs: IRun[]): string | null {
  const counts = new Map<string, number>();
  for (const run of runs) {
    for (const key of Object.keys(run.data.metrics)) {
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  let best: string | null = null;
  let bestCount = 0;
  for (const [key, count] of counts) {
    if (
      count > bestCount ||
      (count === bestCount && best !== null && key < best)
    ) {
      best = key;
      bestCount = count;
    }
  }
  return best;
}

/** The metric to show for one run: `preferred` if it has it, else its first key, else null. */
export function runMetric(
  run: IRun,
  preferred: string | null
): [string, WireFloat] | null {
  const metrics = run.data.metrics;
  if (preferred !== null && preferred in metrics) {
    return [preferred, metrics[preferred]];
  }
  const first = Object.keys(metrics).sort()[0];
  return first === undefined ? null : [first, metrics[first]];
}

/** A metric value with 4 significant digits (`NaN`, `Infinity` as they come). */
export function formatValue(value: WireFloat): string {
  if (typeof value === 'string') {
    return value;
  }
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-3)) {
    return value.toExponential(3);
  }
  return value.toLocaleString('en-US', {
    maximumSignificantDigits: 4,
    useGrouping: false
  });
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time: `HH:MM:SS` for today, else `YYYY-MM-DD HH:MM`. */
export function formatTime(ms: number, now: Date = new Date()): string {
  const t = new Date(ms);
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  if (t.toDateString() === now.toDateString()) {
    return `${time}:${pad(t.getSeconds())}`;
  }
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
}

/** The first line of an error's message: the sidebar shows one readable line, not a log. */
export function errorLine(reason: unknown): string {
  const text = reason instanceof Error ? reason.message : String(reason);
  return text.split('\n')[0].trim() || 'Unknown error';
}

/** Text nodes of a path with line-break opportunities after each `/` (copy is unchanged). */
export function breakablePath(path: string): Node[] {
  return path
    .split(/(?<=\/)/)
    .flatMap(part => [
      document.createTextNode(part),
      document.createElement('wbr')
    ]);
}
