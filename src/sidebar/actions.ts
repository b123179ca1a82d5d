/**
 * Pure helpers of the sidebar's run actions: the code that loads a run, and where a run
 * came from (what `%%track` captured, docs/notebooks.md).
 */
import type { IRun } from '../api';

/** Tags written by `%%track` (jupyter_mltrack/magics/capture.py). */
export const TAG_NOTEBOOK_PATH = 'mltrack.notebook.path';
export const TAG_CELL_ID = 'mltrack.cell.id';
export const TAG_CELL_EXECUTION_COUNT = 'mltrack.cell.execution_count';

/** A Python cell that loads the run (`run_id` quoted safely as a Python string). */
export function loadRunCode(runId: string): string {
  return [
    'import jupyter_mltrack as mt',
    '',
    `run = mt.get_run(${JSON.stringify(runId)})`,
    'run.data.params, run.data.metrics'
  ].join('\n');
}

/** The notebook (path relative to the server root) and cell that produced a run. */
export interface IRunSource {
  path: string;
  cellId: string | null;
  executionCount: number | null;
}

export function sourceOf(run: IRun): IRunSource | null {
  const tags = run.data.tags;
  const path = tags[TAG_NOTEBOOK_PATH];
  if (!path) {
    return null;
  }
  const count = Number(tags[TAG_CELL_EXECUTION_COUNT]);
  return {
    path,
    cellId: tags[TAG_CELL_ID] || null,
    executionCount:
      Number.isFinite(count) && tags[TAG_CELL_EXECUTION_COUNT] ? count : null
  };
}
