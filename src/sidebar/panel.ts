/**
 * The left-sidebar panel: the installation (version, store, owner), then the store's
 * experiments and most recent runs, refreshed live while the panel is visible.
 */
import { refreshIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { IServerInfo, IStoreSnapshot } from '../api';
import {
  breakablePath,
  commonMetricKey,
  errorLine,
  formatTime,
  formatValue,
  runMetric
} from './format';

/** Where the panel gets its data (injected, so the panel has no URLs of its own). */
export interface ISidebarSources {
  info: () => Promise<IServerInfo>;
  snapshot: () => Promise<IStoreSnapshot>;
}

/** How often a visible panel reads the store again. */
export const REFRESH_INTERVAL_MS = 3000;
/** Experiments listed by name; the count in the heading includes the others. */
export const MAX_EXPERIMENTS = 10;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

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

/** Loads the data once shown, then every few seconds while visible; `refresh()` on demand. */
export class SidebarPanel extends Widget {
  constructor(private readonly _sources: ISidebarSources) {
    super();
    this.addClass('jp-mltrack-sidebar');
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
    header.append(title, button);
    this._body = element('div', 'jp-mltrack-sidebar-body');
    this._status = element(
      'p',
      'jp-mltrack-status-line jp-mltrack-loading',
      'Loading…'
    );
    this._store = element('div', 'jp-mltrack-store');
    this.node.append(header, this._body, this._status, this._store);
    this.node.setAttribute(PanelAttributes.loadsStarted, '0');
    this.node.setAttribute(PanelAttributes.loadsDone, '0');
  }

  /** Read the server info and the store again and re-render; errors are shown, not thrown. */
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
    this._stopTimer();
    super.dispose();
  }

  protected onAfterShow(): void {
    this._startTimer();
    void this.refresh();
  }

  protected onAfterAttach(): void {
    if (this.isVisible) {
      this.onAfterShow();
    }
  }

  protected onBeforeHide(): void {
    this._stopTimer();
  }

  protected onBeforeDetach(): void {
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

  /** One load; true when both the info and the store were read and rendered. */
  private async _loadAndRender(): Promise<boolean> {
    const [info, snapshot] = await Promise.allSettled([
      this._sources.info(),
      this._sources.snapshot()
    ]);
    if (info.status === 'rejected') {
      this._showInfoError(info.reason);
    } else {
      this._renderInfo(info.value);
    }
    if (snapshot.status === 'rejected') {
      const prefix =
        info.status === 'rejected'
          ? 'Could not reach the jupyter-mltrack server extension'
          : 'Could not read the store';
      this._setStatus(`${prefix}: ${errorLine(snapshot.reason)}`, true);
      this._store.classList.add('jp-mltrack-stale');
    } else {
      this._setStatus(`Updated ${formatTime(Date.now())}`, false);
      this._store.classList.remove('jp-mltrack-stale');
      this._renderStore(snapshot.value);
    }
    return info.status === 'fulfilled' && snapshot.status === 'fulfilled';
  }

  private _setStatus(text: string, isError: boolean): void {
    this._status.textContent = text;
    this._status.title = text;
    this._status.classList.remove('jp-mltrack-loading');
    this._status.classList.toggle('jp-mltrack-error', isError);
  }

  private _showInfoError(reason: unknown): void {
    const key = `error:${errorLine(reason)}`;
    if (key !== this._infoKey) {
      this._infoKey = key;
      this._body.replaceChildren(); // the status line says why
    }
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
    this._body.replaceChildren(list);
  }

  private _renderStore(snapshot: IStoreSnapshot): void {
    const key = JSON.stringify(snapshot);
    if (key === this._storeKey) {
      return;
    }
    this._storeKey = key;
    this._store.replaceChildren(
      this._experimentsSection(snapshot),
      this._runsSection(snapshot)
    );
  }

  private _experimentsSection({ experiments }: IStoreSnapshot): HTMLElement {
    const section = element('section', 'jp-mltrack-section');
    section.append(
      element(
        'h3',
        'jp-mltrack-section-title',
        `Experiments (${experiments.length})`
      )
    );
    const list = element('ul', 'jp-mltrack-experiments');
    for (const exp of experiments.slice(0, MAX_EXPERIMENTS)) {
      const item = element('li', 'jp-mltrack-experiment');
      item.dataset.experimentId = exp.experiment_id;
      item.title = `${exp.name} (id ${exp.experiment_id})`;
      item.append(
        element('span', 'jp-mltrack-experiment-name', exp.name),
        element('span', 'jp-mltrack-experiment-id', `#${exp.experiment_id}`)
      );
      list.append(item);
    }
    section.append(list);
    const hidden = experiments.length - MAX_EXPERIMENTS;
    if (hidden > 0) {
      section.append(element('p', 'jp-mltrack-more', `and ${hidden} more`));
    }
    return section;
  }

  private _runsSection({ experiments, runs }: IStoreSnapshot): HTMLElement {
    const section = element('section', 'jp-mltrack-section');
    section.append(element('h3', 'jp-mltrack-section-title', 'Recent runs'));
    if (runs.length === 0) {
      const hint = element(
        'p',
        'jp-mltrack-empty',
        'No runs yet. Start one with '
      );
      hint.append(element('code', '', 'mt.start_run()'), ' in a notebook.');
      section.append(hint);
      return section;
    }
    const names = new Map(experiments.map(e => [e.experiment_id, e.name]));
    const key = commonMetricKey(runs);
    const list = element('ul', 'jp-mltrack-runs');
    for (const run of runs) {
      const { info } = run;
      const status = info.status.toLowerCase();
      const item = element('li', `jp-mltrack-run jp-mltrack-status-${status}`);
      item.dataset.runId = info.run_id;
      item.dataset.status = info.status;
      item.title =
        `${info.run_name} (run ${info.run_id}, experiment ` +
        `${names.get(info.experiment_id) ?? info.experiment_id})`;
      const top = element('div', 'jp-mltrack-run-line');
      top.append(
        element('span', 'jp-mltrack-run-name', info.run_name),
        element('span', 'jp-mltrack-run-status', info.status)
      );
      const bottom = element(
        'div',
        'jp-mltrack-run-line jp-mltrack-run-details'
      );
      const start = element(
        'span',
        'jp-mltrack-run-start',
        formatTime(info.start_time_ms)
      );
      start.title = new Date(info.start_time_ms).toString();
      bottom.append(start);
      const metric = runMetric(run, key);
      if (metric !== null) {
        bottom.append(
          element(
            'span',
            'jp-mltrack-run-metric',
            `${metric[0]} ${formatValue(metric[1])}`
          )
        );
      }
      item.append(top, bottom);
      list.append(item);
    }
    section.append(list);
    return section;
  }

  private readonly _body: HTMLDivElement;
  private readonly _status: HTMLParagraphElement;
  private readonly _store: HTMLDivElement;
  private _pending: Promise<void> | null = null;
  private _started = 0;
  private _done = 0;
  private _timer: number | null = null;
  private _infoKey = '';
  private _storeKey = '';
}
