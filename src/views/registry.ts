/**
 * The registry view (main area): registered models (a filter in the registry filter
 * language), and for the chosen one its aliases and versions, newest first; each version
 * links to its run (opens the run detail view) and shows that run's latest metrics.
 * Actions per version: set an alias (moves it here when it pointed elsewhere), delete an
 * alias (the × on its chip), copy the code that loads it
 * (`mt.models.load_model("models:/name@alias")`).
 *
 * Page state on the node: `data-mltrack-registry` (loading | ready | error),
 * `data-mltrack-model` (the model shown), `data-mltrack-models` (how many are listed);
 * version rows are `tr[data-version]`, alias chips `[data-alias]`; the last action's
 * outcome is `data-mltrack-action` (done | error) with its message in
 * `.jp-mltrack-registry-message`.
 */
import { Widget } from '@lumino/widgets';

import type { IModelDetail, IRegisteredModel } from '../api/lab';
import { LabApi } from '../api/lab';
import { formatTime } from '../widgets/lib/format';
import { element as el } from '../widgets/lib/dom';
import { aliasError, loadingCode, versionRows } from './registryData';

/** What the layout restorer saves of the registry view. */
export interface IRegistryState {
  model?: string;
  filter?: string;
}

export class RegistryView extends Widget {
  constructor(
    private readonly api: LabApi,
    state: IRegistryState,
    private readonly openRun: (runId: string) => void
  ) {
    super();
    this.addClass('jp-mltrack-view');
    this.addClass('jp-mltrack-registry');
    this.id = 'mltrack-registry';
    this.title.label = 'Model registry';
    this.title.caption = 'Registered models, versions and aliases';
    this.state = { ...state };
    this.node.tabIndex = -1;
    this._filter.className = 'jp-mltrack-registry-filter';
    this._filter.placeholder = "Filter models, e.g. name LIKE '%churn%'";
    this._filter.value = this.state.filter ?? '';
    this._filter.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this.state.filter = this._filter.value;
        this.onStateChanged();
        void this.load();
      }
    });
    this._message.className = 'jp-mltrack-registry-message';
    this._message.setAttribute('role', 'status');
    const side = el('div', 'jp-mltrack-registry-side');
    side.append(this._filter, this._list);
    const layout = el('div', 'jp-mltrack-registry-layout');
    layout.append(side, this._detail);
    this.node.append(this._message, layout);
    void this.load();
  }

  state: IRegistryState;
  /** Called when the saved state changes (the plugin updates the restorer's data). */
  onStateChanged: () => void = () => undefined;

  /** Read the models (and the chosen one) again. */
  async load(): Promise<void> {
    this.node.dataset.mltrackRegistry = 'loading';
    try {
      const page = await this.api.models({
        filter: this.state.filter ?? '',
        max_results: 1000
      });
      this._models = page.models;
      this.renderList();
      const chosen =
        this._models.find(m => m.name === this.state.model)?.name ??
        this._models[0]?.name;
      if (chosen !== undefined) {
        await this.showModel(chosen, false);
      } else {
        this._detail.replaceChildren(
          el(
            'div',
            'jp-mltrack-hint',
            this.state.filter
              ? 'No registered model matches the filter.'
              : 'No registered models yet: mt.register_model("runs:/<run id>/model", "name").'
          )
        );
        delete this.node.dataset.mltrackModel;
      }
      this.node.dataset.mltrackRegistry = 'ready';
    } catch (error) {
      this._detail.replaceChildren(
        el(
          'div',
          'jp-mltrack-error',
          `Could not read the registry: ${(error as Error).message}`
        )
      );
      this.node.dataset.mltrackRegistry = 'error';
    }
  }

  /** Show model `name` (its versions read from the server). */
  async showModel(name: string, save = true): Promise<void> {
    const detail = await this.api.model(name);
    this.state.model = name;
    if (save) {
      this.onStateChanged();
    }
    this.renderDetail(detail);
  }

  private renderList(): void {
    this.node.dataset.mltrackModels = String(this._models.length);
    const items = this._models.map(model => {
      const button = el('button', 'jp-mltrack-registry-model', model.name);
      button.type = 'button';
      button.dataset.model = model.name;
      const aliases = Object.keys(model.aliases).length;
      button.title = `${model.latest_versions.length ? `latest v${model.latest_versions[0].version}` : 'no versions'}${aliases ? `, ${aliases} alias(es)` : ''}`;
      button.addEventListener('click', () => void this.showModel(model.name));
      return button;
    });
    this._list.replaceChildren(...items);
  }

  private renderDetail(detail: IModelDetail): void {
    const model = detail.model;
    this.node.dataset.mltrackModel = model.name;
    for (const b of this._list.querySelectorAll<HTMLElement>('[data-model]')) {
      b.classList.toggle('jp-mod-selected', b.dataset.model === model.name);
    }
    const header = el('div', 'jp-mltrack-view-header');
    header.append(el('h2', '', model.name));
    if (model.description) {
      header.append(
        el('p', 'jp-mltrack-registry-description', model.description)
      );
    }
    const aliases = el('div', 'jp-mltrack-registry-aliases');
    const entries = Object.entries(model.aliases).sort(([a], [b]) =>
      a.localeCompare(b)
    );
    aliases.append(
      el('span', '', entries.length ? 'Aliases: ' : 'No aliases yet.')
    );
    for (const [alias, version] of entries) {
      const chip = el(
        'span',
        'jp-mltrack-alias-chip',
        `@${alias} → v${version}`
      );
      chip.dataset.alias = alias;
      const remove = el('button', 'jp-mltrack-alias-delete', '×');
      remove.type = 'button';
      remove.title = `Delete the alias ${alias}`;
      remove.addEventListener(
        'click',
        () =>
          void this.act(
            () => this.api.deleteAlias(model.name, alias),
            `Deleted @${alias}.`
          )
      );
      chip.append(remove);
      aliases.append(chip);
    }
    header.append(aliases);

    const table = el('table', 'jp-mltrack-registry-versions');
    const head = el('tr');
    for (const label of [
      'Version',
      'Aliases',
      'Run',
      'Metrics',
      'Created',
      ''
    ]) {
      head.append(el('th', '', label));
    }
    table.append(head);
    for (const row of versionRows(detail)) {
      const tr = el('tr');
      tr.dataset.version = row.version;
      tr.append(el('td', '', `v${row.version}`));
      const chips = el('td');
      for (const alias of row.aliases) {
        const chip = el('span', 'jp-mltrack-alias-chip', `@${alias}`);
        chip.dataset.alias = alias;
        chips.append(chip);
      }
      tr.append(chips);
      const run = el('td');
      if (row.runId) {
        const link = el(
          'button',
          'jp-mltrack-run-link',
          row.runName ?? row.runId
        );
        link.type = 'button';
        link.dataset.runId = row.runId;
        link.title = `Open run ${row.runId}${row.runStatus ? ` (${row.runStatus})` : ''}`;
        link.addEventListener('click', () => this.openRun(row.runId!));
        run.append(link);
      } else {
        run.textContent = '—';
      }
      tr.append(run);
      tr.append(
        el('td', 'jp-mltrack-registry-metrics', row.metrics.join(', ') || '—')
      );
      tr.append(el('td', '', formatTime(row.created)));
      const actions = el('td', 'jp-mltrack-registry-actions');
      const input = el('input', 'jp-mltrack-alias-input');
      input.placeholder = 'alias';
      input.setAttribute('aria-label', `Alias for version ${row.version}`);
      const set = el('button', 'jp-mltrack-alias-set', 'Set alias');
      set.type = 'button';
      const setAlias = (): void => {
        const alias = input.value.trim();
        const problem = aliasError(alias);
        if (problem) {
          this.say(problem, true);
          return;
        }
        void this.act(
          () => this.api.setAlias(model.name, alias, row.version),
          `@${alias} now points to v${row.version}.`
        );
      };
      set.addEventListener('click', setAlias);
      input.addEventListener('keydown', event => {
        if (event.key === 'Enter') {
          setAlias();
        }
      });
      const copy = el('button', 'jp-mltrack-copy-code', 'Copy code');
      copy.type = 'button';
      copy.title = row.code;
      copy.addEventListener('click', () => void this.copy(row.code));
      actions.append(input, set, copy);
      tr.append(actions);
      table.append(tr);
    }
    const code = el('pre', 'jp-mltrack-registry-code');
    const first = detail.versions[0]?.version;
    code.textContent = first
      ? loadingCode(model.name, first.version, entries[0]?.[0] ?? null)
      : '';
    this._detail.replaceChildren(
      header,
      detail.versions.length
        ? table
        : el('div', 'jp-mltrack-hint', 'This model has no versions yet.'),
      code
    );
  }

  private async act(
    fn: () => Promise<IModelDetail>,
    done: string
  ): Promise<void> {
    try {
      const detail = await fn();
      this.renderDetail(detail);
      const listed = this._models.findIndex(m => m.name === detail.model.name);
      if (listed >= 0) {
        this._models[listed] = detail.model;
        this.renderList();
        this.renderDetail(detail);
      }
      this.say(done, false);
    } catch (error) {
      this.say((error as Error).message, true);
    }
  }

  private async copy(code: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(code);
      this.say('Copied the loading code.', false);
    } catch {
      // no clipboard permission (an http page): show it selected instead
      const pre = this._detail.querySelector('.jp-mltrack-registry-code');
      if (pre) {
        pre.textContent = code;
        window.getSelection()?.selectAllChildren(pre);
      }
      this.say('Selected the loading code: press Ctrl+C to copy it.', false);
    }
    this.node.dataset.mltrackCopied = code;
  }

  private say(text: string, error: boolean): void {
    this._message.textContent = text;
    this._message.classList.toggle('jp-mltrack-error', error);
    this.node.dataset.mltrackAction = error ? 'error' : 'done';
  }

  private _models: IRegisteredModel[] = [];
  private readonly _filter = el('input');
  private readonly _list = el('div', 'jp-mltrack-registry-list');
  private readonly _detail = el('div', 'jp-mltrack-registry-detail');
  private readonly _message = el('div');
}
