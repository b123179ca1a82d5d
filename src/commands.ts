/**
 * Command ids of jupyter-mltrack's JupyterLab extension, shared by the sidebar and the
 * main-area views (compare, run detail): a view registers the commands it implements,
 * others execute them by id. Ids follow `mltrack:verb-noun`.
 */
export const CommandIDs = {
  /** Reveal the sidebar. */
  openSidebar: 'mltrack:open-sidebar',
  /** Re-read the sidebar's view now. */
  refreshSidebar: 'mltrack:refresh-sidebar',
  /** Focus the sidebar's search box. */
  searchRuns: 'mltrack:search-runs',
  /** Open the run detail view. Args: `{ runId: string }`. */
  openRun: 'mltrack:open-run',
  /** Open the compare view. Args: `{ runIds: string[] }` (two or more). */
  compare: 'mltrack:compare',
  /** Rename a run. Args: `{ runId: string, name?: string }` (asks when no name). */
  renameRun: 'mltrack:rename-run',
  /** Set a tag. Args: `{ runIds: string[], key?: string, value?: string }`. */
  tagRuns: 'mltrack:tag-runs',
  /** Delete runs (restorable). Args: `{ runIds: string[] }`. */
  deleteRuns: 'mltrack:delete-runs',
  /** Restore deleted runs. Args: `{ runIds: string[] }`. */
  restoreRuns: 'mltrack:restore-runs',
  /** Insert a cell loading the run into the active notebook. Args: `{ runId: string }`. */
  insertRunCode: 'mltrack:insert-run-code',
  /** Open the notebook (and cell) that produced the run. Args: `{ runId: string }`. */
  openRunSource: 'mltrack:open-run-source',
  /** Read the current compare or run view again (Alt R in a view). */
  refreshView: 'mltrack:refresh-view',
  /** Open the model registry view. Args: `{ model?: string }` (the model to show). */
  openRegistry: 'mltrack:open-registry'
} as const;

export type CommandID = (typeof CommandIDs)[keyof typeof CommandIDs];

/** Arguments of the commands that take run ids. */
export interface IRunArgs {
  runId?: string;
  runIds?: string[];
}

/** The run ids named by a command's args (`runIds`, else `runId`). */
export function runIdsOf(args: IRunArgs | Record<string, unknown>): string[] {
  const ids = (args as IRunArgs).runIds;
  if (Array.isArray(ids)) {
    return ids.filter((id): id is string => typeof id === 'string');
  }
  const one = (args as IRunArgs).runId;
  return typeof one === 'string' ? [one] : [];
}
