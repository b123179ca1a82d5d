/**
 * Text of values shown by the run widgets (tables, axis ticks, tooltips).
 *
 * Kinds are those the kernel sends with a table window (`encode_table_columns` in
 * `jupyter_mltrack/widgets/run_table.py`): number, int, bool, time (epoch ms), string.
 */

/** Compact text for a number: integers as is, others to 6 significant digits. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) {
    return '';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? 'inf' : '-inf';
  }
  return String(Number.isInteger(value) ? value : Number(value.toPrecision(6)));
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Epoch milliseconds as local `YYYY-MM-DD HH:MM:SS` (empty for NaN). */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms)) {
    return '';
  }
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** One cell's text for a value of the given kind. */
export function formatValue(value: unknown, kind: string): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'bigint') {
    return String(value);
  }
  if (typeof value === 'number') {
    if (kind === 'time') {
      return formatTime(value);
    }
    if (kind === 'bool') {
      return value ? 'true' : 'false';
    }
    return formatNumber(value);
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
