/**
 * The left-sidebar panel: the installation (version, store, owner), then the run browser:
 * experiment picker, search box (the filter language, errors shown with their position),
 * column chooser, a virtualized runs table (server-side sort and paging), and actions on
 * the selection. Runs change live: the panel listens to the server's change stream and
 * re-reads the rows in view when the store's version moves.
 */
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { IServerInfo } from '../api';
import type { IExperiment } from '../api';
import type { IChangeEvent, IColumnsReply, IRunRow } from '../api/lab';
import { breakablePath, errorLine, formatTime } from './format';
import { RunsGrid } from './grid';
import { IRunsSource, RunsModel } from './model';
import { element } from '../widgets/lib/dom';

/** Where the panel gets its data (injected, so the panel has no URLs of its own). */
export interface ISidebarSources extends IRunsSource {
  info: () => Promise<IServerInfo>;
  experiments: () => Promise<{ experiments: IExperiment[] }>;
  columns: (experimentIds: string[]) => Promise<IColumnsReply>;
  listen: (
    onEvent: (event: IChangeEvent) => void,
    signal: AbortSignal
  ) => Promise<void>;
}

/** What the panel asks of the application (commands live in index.ts). */
export interface ISidebarActions {
  open(run: IRunRow): void;
  contextMenu(event: MouseEvent, run: IRunRow): void;
  selectionChanged(): void;
  /** Open the model registry view (the header's *Models* button). */
  openRegistry?(): void;
  /** The view's query changed (experiment, filter, sort, columns): save `state`. */
  stateChanged(): void;
}

/** The panel's state that survives a page reload (layout restorer + state DB). */
export interface ISidebarState {
  experimentIds: string[];
  filter: string;
  sort: { key: string; descending: boolean };
  columns: string[];
  /** Whether the user chose the columns (else the first metrics are shown). */
  columnsChosen: boolean;
  showDeleted: boolean;
}

/** Without live updates (the change stream failed), a visible panel re-reads this often. */
export const REFRESH_INTERVAL_MS = 3000;
/** How long typing pauses before the search runs. */
export const SEARCH_DEBOUNCE_MS = 150;
/** Metric columns shown before the user chooses. */
export const DEFAULT_METRIC_COLUMNS = 3;

function ownerText(info: IServerInfo): string {
  const owner = info.store_owner;
  if (info.store_path === null) {
    return 'remote store';
  }
  if (owner === null) {
    return 'no process yet (one starts on first use)';
  }
  if (owner.this_server) {
    return `this Jupyter server (pid ${owner.pid})`;
  }
  const what = owner.kind === 'service' ? 'the store service' : owner.kind;
  return `${what ?? 'a process'} (pid ${owner.pid})`;
}

/**
 * Attributes the panel node carries so that tests (and anyone scripting the page) can wait on
 * its state instead of guessing timings.
 */
export const PanelAttributes = {
  /** Present once the first load finished (rendered data or an error); value: its outcome. */
  loaded: 'data-mltrack-loaded',
  /** Number of loads started so far (a refresh in flight is not restarted). */
  loadsStarted: 'data-mltrack-loads-started',
  /** Number of loads finished so far; load n finishes before load n + 1 starts. */
  loadsDone: 'data-mltrack-loads-done',
  /** Present while a load is in flight. */
  busy: 'data-mltrack-busy'
} as const;

/** The panel. `refresh()` re-reads everything now; live changes re-read the rows in view. */
export class SidebarPanel extends Panel {
  constructor(
    private readonly _sources: ISidebarSources,
    private readonly _actions: ISidebarActions
  ) {
    super();
    this.addClass('jp-mltrack-sidebar');
    this.model = new RunsModel(_sources);
    const header = element('div', 'jp-mltrack-sidebar-header');
    const title = element(
      'h2',
      'jp-mltrack-sidebar-title',
      'Experiment tracking'
    );
    const button = element('button', 'jp-mltrack-refresh');
    button.type = 'button';
    button.title = 'Refresh the runs now';
    button.setAttribute('aria-label', 'Refresh');
    button.append(refreshIcon.element({ tag: 'span' }));
    button.addEventListener('click', () => void this.refresh());
    const models = element('button', 'jp-mltrack-open-registry', 'Models');
    models.type = 'button';
    models.title = 'Open the model registry: models, versions, aliases';
    models.addEventListener('click', () => this._actions.openRegistry?.());
    header.append(title, models, button);
    this._body = element('details', 'jp-mltrack-sidebar-body');
    this._status = element(
      'p',
      'jp-mltrack-status-line jp-mltrack-loading',
      'Loading…'
    );
    this._controls = this._buildControls();
    this.grid = new RunsGrid(this.model, {
      open: run => _actions.open(run),
      contextMenu: (event, run) => _actions.contextMenu(event, run),
      sorted: () => _actions.stateChanged()
    });
    this._gridHost = this.grid;
    this.grid.addClass('jp-mltrack-grid-host');
    const top = new Widget();
    top.addClass('jp-mltrack-sidebar-top');
    top.node.append(header, this._body, this._status, this._controls);
    this.addWidget(top);
    this.addWidget(this.grid);
    this.node.setAttribute(PanelAttributes.loadsStarted, '0');
    this.node.setAttribute(PanelAttributes.loadsDone, '0');
    this.model.changed.connect(() => this._onModelChanged());
  }

  readonly model: RunsModel;
  readonly grid: RunsGrid;

  /** The state to save (see `ISidebarState`). */
  get state(): ISidebarState {
    const m = this.model;
    return {
      experimentIds: [...m.experimentIds],
      filter: m.filter,
      sort: { ...m.sort },
      columns: [...m.columns],
      columnsChosen: this._columnsChosen,
      showDeleted: m.showDeleted
    };
  }

  /** Restore a saved state (before the first load, or at any time). */
  restore(state: Partial<ISidebarState>): void {
    const m = this.model;
    m.experimentIds = state.experimentIds ?? m.experimentIds;
    m.filter = state.filter ?? m.filter;
    m.sort = state.sort ?? m.sort;
    m.columns = state.columns ?? m.columns;
    m.showDeleted = state.showDeleted ?? m.showDeleted;
    this._columnsChosen = state.columnsChosen ?? false;
    this._search.value = m.filter;
    this._deleted.checked = m.showDeleted;
    if (this._loadedOnce) {
      void this._requery();
    }
  }

  /** Focus the search box. */
  focusSearch(): void {
    this._search.focus();
    this._search.select();
  }

  /** Read the server info, experiments and the rows in view again; errors are shown. */
  async refresh(): Promise<void> {
    if (this._pending !== null) {
      return this._pending;
    }
    this._pending = this._load().finally(() => {
      this._pending = null;
    });
    return this._pending;
  }

  dispose(): void {
    this._stopLive();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._startLive();
    void this.refresh();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this.onAfterShow(msg);
    }
  }

  protected onBeforeHide(msg: Message): void {
    this._stopLive();
    super.onBeforeHide(msg);
  }

  protected onBeforeDetach(msg: Message): void {
    this._stopLive();
    super.onBeforeDetach(msg);
  }

  // ------------------------------------------------------------------------ controls
  private _buildControls(): HTMLDivElement {
    const box = element('div', 'jp-mltrack-controls');
    this._picker = element('select', 'jp-mltrack-experiment-picker');
    this._picker.title = 'Experiment';
    this._picker.setAttribute('aria-label', 'Experiment');
    this._picker.addEventListener('change', () => {
      this.model.experimentIds = [this._picker.value];
      this._columnsChosen = false;
      void this._requery();
    });
    this._search = element('input', 'jp-mltrack-search');
    this._search.type = 'search';
    this._search.placeholder =
      "Filter: metrics.acc > 0.9 and params.lr = '0.01'";
    this._search.setAttribute('aria-label', 'Filter runs');
    this._search.spellcheck = false;
    this._search.addEventListener('input', () => {
      window.clearTimeout(this._debounce);
      this._debounce = window.setTimeout(
        () => this._runSearch(),
        SEARCH_DEBOUNCE_MS
      );
    });
    this._search.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        window.clearTimeout(this._debounce);
        this._runSearch();
      } else if (e.key === 'ArrowDown') {
        this.grid.node.focus();
      }
    });
    this._searchError = element('pre', 'jp-mltrack-search-error');
    this._searchError.hidden = true;
    const row = element('div', 'jp-mltrack-controls-row');
    this._columnsMenu = element('details', 'jp-mltrack-columns');
    this._columnsMenu.append(element('summary', '', 'Columns'));
    this._columnsList = element('div', 'jp-mltrack-columns-list');
    this._columnsMenu.append(this._columnsList);
    const deleted = element('label', 'jp-mltrack-show-deleted');
    this._deleted = element('input', '');
    this._deleted.type = 'checkbox';
    this._deleted.addEventListener('change', () => {
      this.model.showDeleted = this._deleted.checked;
      void this._requery();
    });
    deleted.append(this._deleted, ' Deleted');
    deleted.title = 'Show the deleted runs (to restore them)';
    this._count = element('span', 'jp-mltrack-count');
    row.append(this._columnsMenu, deleted, this._count);
    box.append(this._picker, this._search, this._searchError, row);
    return box;
  }

  private _runSearch(): void {
    if (this._search.value === this.model.filter) {
      return;
    }
    this.model.filter = this._search.value;
    this.node.setAttribute('data-mltrack-search', this.model.filter);
    void this._requery();
  }

  private async _requery(): Promise<void> {
    this.grid.scrollToTop();
    this._actions.stateChanged();
    await this.model.reset();
  }

  private _onModelChanged(): void {
    const m = this.model;
    const error = m.error;
    this._searchError.hidden = error === null;
    this._search.classList.toggle('jp-mltrack-invalid', error !== null);
    if (error !== null) {
      const position = error.position ?? 0;
      // the server's message already points at the position; keep its first line and
      // draw our own caret under the search text
      this._searchError.textContent = `${errorLine(error)}\n${m.filter}\n${' '.repeat(position)}^`;
      this.node.setAttribute('data-mltrack-filter-error', String(position));
    } else {
      this.node.removeAttribute('data-mltrack-filter-error');
    }
    if (m.readError !== null) {
      this._setStatus(
        `Could not read the runs: ${errorLine(m.readError)}`,
        true
      );
    }
    const total = m.total;
    this._count.textContent =
      total === null
        ? 'counting…'
        : `${total.toLocaleString('en-US')} run${total === 1 ? '' : 's'}`;
    this._actions.selectionChanged();
  }

  private _renderExperiments(experiments: IExperiment[]): void {
    const key = JSON.stringify(experiments.map(e => [e.experiment_id, e.name]));
    if (key !== this._experimentsKey) {
      this._experimentsKey = key;
      const options = experiments.map(e => {
        const option = element('option', 'jp-mltrack-experiment-name', e.name);
        option.value = e.experiment_id;
        return option;
      });
      this._picker.replaceChildren(...options);
    }
    const ids = experiments.map(e => e.experiment_id);
    const current = this.model.experimentIds.filter(id => ids.includes(id));
    if (current.length === 0 && experiments.length > 0) {
      // the experiment with the newest activity comes first from the server
      const withRuns =
        experiments.find(e => e.name !== 'Default') ?? experiments[0];
      this.model.experimentIds = [withRuns.experiment_id];
    } else {
      this.model.experimentIds = current;
    }
    this._picker.value = this.model.experimentIds[0] ?? '';
  }

  /** The column chooser; true when it changed the default columns and so already
   * re-read the rows (the caller then need not read them again). */
  private async _renderColumns(): Promise<boolean> {
    if (this.model.experimentIds.length === 0) {
      return false;
    }
    const keys = await this._sources.columns(this.model.experimentIds);
    const all = [
      ...keys.metrics.map(k => `metrics.${k}`),
      ...keys.params.map(k => `params.${k}`),
      ...keys.tags.filter(k => !k.startsWith('mlflow.')).map(k => `tags.${k}`)
    ];
    let reset: Promise<void> | null = null;
    if (!this._columnsChosen) {
      const defaults = all
        .filter(c => c.startsWith('metrics.'))
        .slice(0, DEFAULT_METRIC_COLUMNS);
      if (defaults.join() !== this.model.columns.join()) {
        this.model.columns = defaults;
        reset = this.model.reset();
      }
    }
    this._renderColumnChoices(all);
    if (reset === null) {
      return false;
    }
    await reset;
    return true;
  }

  private _renderColumnChoices(all: string[]): void {
    const key = all.join('\u0000') + '|' + this.model.columns.join('\u0000');
    if (key === this._columnsKey) {
      return;
    }
    this._columnsKey = key;
    const items = all.map(column => {
      const label = element('label', 'jp-mltrack-column-choice');
      const box = element('input', '');
      box.type = 'checkbox';
      box.value = column;
      box.checked = this.model.columns.includes(column);
      box.addEventListener('change', () => {
        this._columnsChosen = true;
        this.model.columns = box.checked
          ? [...this.model.columns, column]
          : this.model.columns.filter(c => c !== column);
        this._actions.stateChanged();
        void this.model.reset();
      });
      label.append(box, ` ${column}`);
      return label;
    });
    this._columnsList.replaceChildren(...items);
  }

  // ------------------------------------------------------------------------- loading
  private async _load(): Promise<void> {
    this._status.classList.add('jp-mltrack-busy');
    this.node.setAttribute(PanelAttributes.busy, '');
    this.node.setAttribute(
      PanelAttributes.loadsStarted,
      String(++this._started)
    );
    let ok = false;
    try {
      ok = await this._loadAndRender();
    } finally {
      // after the DOM shows this load's result, never before
      this._status.classList.remove('jp-mltrack-busy');
      this.node.removeAttribute(PanelAttributes.busy);
      if (!this.node.hasAttribute(PanelAttributes.loaded)) {
        this.node.setAttribute(PanelAttributes.loaded, ok ? 'ok' : 'error');
      }
      this.node.setAttribute(PanelAttributes.loadsDone, String(++this._done));
    }
  }

  /** One load; true when the info, the experiments and the rows in view were read. */
  private async _loadAndRender(): Promise<boolean> {
    const [info, experiments] = await Promise.allSettled([
      this._sources.info(),
      this._sources.experiments()
    ]);
    if (info.status === 'rejected') {
      this._body.replaceChildren();
      this._infoKey = '';
    } else {
      this._renderInfo(info.value);
    }
    if (experiments.status === 'rejected') {
      const prefix =
        info.status === 'rejected'
          ? 'Could not reach the jupyter-mltrack server extension'
          : 'Could not read the store';
      this._setStatus(`${prefix}: ${errorLine(experiments.reason)}`, true);
      this._gridHost.addClass('jp-mltrack-stale');
      return false;
    }
    const before = this.model.experimentIds.join();
    this._renderExperiments(experiments.value.experiments);
    try {
      const reread = await this._renderColumns();
      if (!this._loadedOnce || before !== this.model.experimentIds.join()) {
        this._loadedOnce = true;
        if (!reread) {
          await this.model.reset();
        }
      } else if (!reread) {
        await this.model.refresh();
      }
    } catch (reason) {
      this._setStatus(`Could not read the store: ${errorLine(reason)}`, true);
      this._gridHost.addClass('jp-mltrack-stale');
      return false;
    }
    if (this.model.readError !== null) {
      this._gridHost.addClass('jp-mltrack-stale');
      return false;
    }
    const live = this._live ? 'live' : 'polling';
    this._setStatus(`Updated ${formatTime(Date.now())} (${live})`, false);
    this._gridHost.removeClass('jp-mltrack-stale');
    return info.status === 'fulfilled';
  }

  // ---------------------------------------------------------------------------- live
  private _startLive(): void {
    if (this._abort !== null) {
      return;
    }
    const abort = new AbortController();
    this._abort = abort;
    const connect = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        try {
          await this._sources.listen(
            event => this._onChange(event),
            abort.signal
          );
        } catch {
          // the stream failed (an old server, a proxy): poll until it comes back
        }
        this._live = false;
        this._startTimer();
        if (!abort.signal.aborted) {
          await new Promise(resolve =>
            window.setTimeout(resolve, REFRESH_INTERVAL_MS)
          );
        }
      }
    };
    void connect();
  }

  private _onChange(event: IChangeEvent): void {
    this._live = event.error === null;
    if (this._live) {
      this._stopTimer();
    } else {
      this._startTimer();
    }
    this.node.setAttribute('data-mltrack-live-version', String(event.version));
    if (event.version !== this._seenVersion) {
      this._seenVersion = event.version;
      if (this._loadedOnce) {
        void this.refresh();
      }
    }
  }

  private _stopLive(): void {
    this._abort?.abort();
    this._abort = null;
    this._stopTimer();
  }

  private _startTimer(): void {
    if (this._timer === null) {
      this._timer = window.setInterval(() => {
        if (this.isVisible && document.visibilityState === 'visible') {
          void this.refresh();
        }
      }, REFRESH_INTERVAL_MS);
    }
  }

  private _stopTimer(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _setStatus(text: string, isError: boolean): void {
    this._status.textContent = text;
    this._status.title = text;
    this._status.classList.remove('jp-mltrack-loading');
    this._status.classList.toggle('jp-mltrack-error', isError);
  }

  private _renderInfo(info: IServerInfo): void {
    const key = JSON.stringify(info);
    if (key === this._infoKey) {
      return; // unchanged: keep the DOM (and any text selection in it)
    }
    this._infoKey = key;
    const list = element('dl', 'jp-mltrack-info');
    const rows: [string, string, string, boolean][] = [
      ['Version', info.version, 'jp-mltrack-version', false],
      ['Tracking URI', info.tracking_uri, 'jp-mltrack-tracking-uri', true],
      [
        'Store file',
        info.store_path ?? '(remote store)',
        'jp-mltrack-store-path',
        true
      ],
      ['Served by', ownerText(info), 'jp-mltrack-owner', false]
    ];
    for (const [label, value, className, isPath] of rows) {
      const detail = element('dd', className);
      detail.append(...(isPath ? breakablePath(value) : [value]));
      detail.title = value;
      list.append(element('dt', '', label), detail);
    }
    this._body.replaceChildren(element('summary', '', 'Store'), list);
  }

  private readonly _body: HTMLDetailsElement;
  private readonly _status: HTMLParagraphElement;
  private readonly _controls: HTMLDivElement;
  private readonly _gridHost: Widget;
  private _picker!: HTMLSelectElement;
  private _search!: HTMLInputElement;
  private _searchError!: HTMLPreElement;
  private _columnsMenu!: HTMLDetailsElement;
  private _columnsList!: HTMLDivElement;
  private _deleted!: HTMLInputElement;
  private _count!: HTMLSpanElement;
  private _pending: Promise<void> | null = null;
  private _started = 0;
  private _done = 0;
  private _timer: number | null = null;
  private _debounce = 0;
  private _abort: AbortController | null = null;
  private _live = false;
  private _seenVersion = -1;
  private _loadedOnce = false;
  private _columnsChosen = false;
  private _infoKey = '';
  private _experimentsKey = '';
  private _columnsKey = '';
}
