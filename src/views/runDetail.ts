/**
 * The run detail view (main area), one tab per part: overview (status, times, duration,
 * user, source, parent and child runs), params, metrics with charts, tags (editable) and
 * the markdown note (`mlflow.note.content`, as MLflow), environment (packages, git),
 * captured code (`code/cell.py`, `code/history.py` of `%%track`) and an artifact browser
 * whose previews are JupyterLab's renderers (`./preview.ts`).
 *
 * Keyboard: the tab strip is a tablist (Left/Right/Home/End move, the tab shows at once);
 * artifact entries are buttons (Enter or Space opens a folder or previews a file; Up/Down
 * move between entries).
 *
 * Page state on the node: `data-mltrack-run` (loading | ready | error), `data-mltrack-tab`;
 * the artifact preview's `data-mltrack-preview` and `data-mltrack-mime`.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import type { IFileInfo, IRunDetail, IRunSummary } from '../api/lab';
import { LabApi } from '../api/lab';
import { formatNumber, formatTime } from '../widgets/lib/format';
import { IChartOptions, MetricChart } from './chart';
import { formatBytes, formatDuration, NOTE_TAG, wireNumber } from './data';
import { previewArtifact, renderBundle } from './preview';
import { element as el } from '../widgets/lib/dom';

export const RUN_TABS = [
  'overview',
  'params',
  'metrics',
  'tags',
  'environment',
  'code',
  'artifacts'
] as const;
export type RunTab = (typeof RUN_TABS)[number];
const TAB_LABELS: Record<RunTab, string> = {
  overview: 'Overview',
  params: 'Params',
  metrics: 'Metrics',
  tags: 'Tags & note',
  environment: 'Environment',
  code: 'Code',
  artifacts: 'Artifacts'
};

/** What the layout restorer saves of a run view. */
export interface IRunViewState {
  runId: string;
  tab?: RunTab;
  artifact?: string;
  chart?: Partial<IChartOptions>;
}

const GIT_TAGS = [
  'mlflow.source.git.commit',
  'mlflow.source.git.branch',
  'mlflow.source.git.repoURL',
  'mltrack.git.dirty'
];
const HOST_TAGS = ['mltrack.host', 'mltrack.python', 'mltrack.platform'];

/** A two-column table of `rows`. */
function keyValues(
  rows: [string, string | Node][],
  className = ''
): HTMLTableElement {
  const table = el('table', `jp-mltrack-kv ${className}`.trim());
  const body = table.createTBody();
  for (const [key, value] of rows) {
    const tr = body.insertRow();
    tr.dataset.key = key;
    tr.insertCell().textContent = key;
    const cell = tr.insertCell();
    if (typeof value === 'string') {
      cell.textContent = value;
    } else {
      cell.append(value);
    }
  }
  return table;
}

function badge(status: string): HTMLElement {
  const node = el(
    'span',
    `jp-mltrack-status jp-mltrack-status-${status.toLowerCase()}`
  );
  node.textContent = status;
  return node;
}

export class RunView extends Widget {
  constructor(
    private readonly api: LabApi,
    private readonly rendermime: IRenderMimeRegistry,
    state: IRunViewState,
    /** Open another run (parent, child) in its own view. */
    private readonly openRun: (runId: string) => void,
    /** Show a registered model in the registry view. */
    private readonly openModel: (name: string) => void = () => undefined
  ) {
    super();
    this.state = { tab: 'overview', ...state };
    this.addClass('jp-mltrack-view');
    this.addClass('jp-mltrack-run-view');
    this.title.label = `Run ${state.runId.slice(0, 8)}`;
    this.title.closable = true;
    this.tabs.className = 'jp-mltrack-tabs';
    this.tabs.setAttribute('role', 'tablist');
    this.panel.className = 'jp-mltrack-tab-panel';
    this.panel.setAttribute('role', 'tabpanel');
    this.node.append(this.tabs, this.panel);
    this.buildTabs();
    void this.load();
  }

  state: IRunViewState;
  onStateChanged: () => void = () => undefined;
  detail: IRunDetail | null = null;

  /** Read the run again and show the current tab. */
  async load(): Promise<void> {
    this.node.dataset.mltrackRun = 'loading';
    try {
      this.detail = await this.api.run(this.state.runId);
      const info = this.detail.run.info;
      this.title.label = `Run ${info.run_name}`;
      this.title.caption = `${info.run_name} (${info.run_id}) in ${this.detail.experiment.name}`;
      await this.showTab(this.state.tab ?? 'overview');
      this.node.dataset.mltrackRun = 'ready';
    } catch (error) {
      this.panel.replaceChildren(
        el(
          'div',
          'jp-mltrack-error',
          `Could not read run ${this.state.runId}: ${(error as Error).message}`
        )
      );
      this.node.dataset.mltrackRun = 'error';
    }
  }

  /** Show `tab` (and focus its button when `focus`). */
  async showTab(tab: RunTab, focus = false): Promise<void> {
    this.state.tab = tab;
    this.onStateChanged();
    this.node.dataset.mltrackTab = tab;
    for (const button of this.tabs.querySelectorAll<HTMLButtonElement>(
      'button'
    )) {
      const selected = button.dataset.tab === tab;
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      if (selected && focus) {
        button.focus();
      }
    }
    this.chart?.dispose();
    this.chart = null;
    if (this.detail === null) {
      return;
    }
    this.panel.replaceChildren();
    const render = {
      overview: () => this.overview(),
      params: () => this.params(),
      metrics: () => this.metrics(),
      tags: () => this.tagsAndNote(),
      environment: () => this.environment(),
      code: () => this.code(),
      artifacts: () => this.artifacts()
    }[tab];
    await render();
  }

  protected onCloseRequest(msg: Parameters<Widget['onCloseRequest']>[0]): void {
    this.chart?.dispose();
    super.onCloseRequest(msg);
  }

  private buildTabs(): void {
    for (const tab of RUN_TABS) {
      const button = el('button', 'jp-mltrack-tab', TAB_LABELS[tab]);
      button.dataset.tab = tab;
      button.setAttribute('role', 'tab');
      button.addEventListener('click', () => void this.showTab(tab));
      this.tabs.append(button);
    }
    this.tabs.addEventListener('keydown', event => {
      const at = RUN_TABS.indexOf(this.state.tab ?? 'overview');
      const next = {
        ArrowRight: (at + 1) % RUN_TABS.length,
        ArrowLeft: (at + RUN_TABS.length - 1) % RUN_TABS.length,
        Home: 0,
        End: RUN_TABS.length - 1
      }[event.key];
      if (next !== undefined) {
        event.preventDefault();
        void this.showTab(RUN_TABS[next], true);
      }
    });
  }

  private runLink(summary: IRunSummary): HTMLElement {
    const link = el('button', 'jp-mltrack-run-link', summary.run_name);
    link.title = `Open run ${summary.run_id}`;
    link.dataset.runId = summary.run_id;
    link.addEventListener('click', () => this.openRun(summary.run_id));
    const out = el('span');
    out.append(link, ' ', badge(summary.status));
    return out;
  }

  private overview(): void {
    const { run, experiment, parent, children } = this.detail!;
    const { info, data } = run;
    const end = info.end_time_ms;
    const duration =
      end !== null
        ? formatDuration(end - info.start_time_ms)
        : info.status === 'RUNNING'
          ? `${formatDuration(Date.now() - info.start_time_ms)} so far`
          : '';
    const source = data.tags['mlflow.source.name'] ?? '';
    const sourceType = data.tags['mlflow.source.type'] ?? '';
    const rows: [string, string | Node][] = [
      ['name', info.run_name],
      ['run id', info.run_id],
      ['status', badge(info.status)],
      ['experiment', `${experiment.name} (${experiment.experiment_id})`],
      ['started', formatTime(info.start_time_ms)],
      ['ended', end !== null ? formatTime(end) : '—'],
      ['duration', duration],
      ['user', info.user_id],
      ['source', sourceType ? `${source} (${sourceType})` : source],
      ['lifecycle', info.lifecycle_stage],
      ['artifact URI', info.artifact_uri]
    ];
    const cell = data.tags['mltrack.cell.execution_count'];
    if (cell !== undefined) {
      rows.push([
        'cell',
        `In [${cell}] of ${data.tags['mltrack.notebook.path'] ?? source}`
      ]);
    }
    if (parent) {
      rows.push(['parent run', this.runLink(parent)]);
    }
    if (children.length) {
      const list = el('span', 'jp-mltrack-children');
      children.forEach((child, i) => {
        if (i) {
          list.append(', ');
        }
        list.append(this.runLink(child));
      });
      rows.push([`child runs (${children.length})`, list]);
    }
    this.panel.append(keyValues(rows, 'jp-mltrack-overview'));
    const models = el('div', 'jp-mltrack-run-models');
    this.panel.append(models);
    void this.runModels(info.run_id, models);
    const note = data.tags[NOTE_TAG];
    if (note) {
      const box = el('div', 'jp-mltrack-note-rendered');
      this.panel.append(el('h2', '', 'Note'), box);
      void renderBundle(this.rendermime, box, { 'text/markdown': note });
    }
  }

  /** The models the run logged and the registered versions made from it. */
  private async runModels(runId: string, host: HTMLElement): Promise<void> {
    host.dataset.mltrackModels = 'loading';
    try {
      const { logged_models: logged, versions } =
        await this.api.runModels(runId);
      if (logged.length === 0 && versions.length === 0) {
        host.dataset.mltrackModels = '0';
        return;
      }
      host.append(el('h2', '', 'Models'));
      const rows: [string, string | Node][] = logged.map(m => [
        m.name,
        `${m.model_id} (${m.status})`
      ]);
      for (const v of versions) {
        const link = el(
          'button',
          'jp-mltrack-model-link',
          `${v.name} v${v.version}`
        );
        link.type = 'button';
        link.dataset.model = v.name;
        link.dataset.version = v.version;
        link.title = `Show ${v.name} in the model registry`;
        link.addEventListener('click', () => this.openModel(v.name));
        const out = el('span');
        out.append(link, v.aliases.length ? ` @${v.aliases.join(' @')}` : '');
        rows.push(['registered', out]);
      }
      host.append(keyValues(rows, 'jp-mltrack-models-table'));
      host.dataset.mltrackModels = String(logged.length + versions.length);
    } catch {
      host.dataset.mltrackModels = 'error'; // a store without a registry: nothing to show
    }
  }

  private params(): void {
    const params = this.detail!.run.data.params;
    const keys = Object.keys(params).sort();
    this.panel.append(
      keys.length
        ? keyValues(
            keys.map(k => [k, params[k]]),
            'jp-mltrack-params-list'
          )
        : el('div', 'jp-mltrack-hint', 'This run logged no params.')
    );
  }

  private metrics(): void {
    const metrics = this.detail!.run.data.metrics;
    const keys = Object.keys(metrics).sort();
    if (!keys.length) {
      this.panel.append(
        el('div', 'jp-mltrack-hint', 'This run logged no metrics.')
      );
      return;
    }
    this.panel.append(
      keyValues(
        keys.map(k => [k, formatNumber(wireNumber(metrics[k]))]),
        'jp-mltrack-metrics-list'
      )
    );
    const info = this.detail!.run.info;
    this.chart = new MetricChart(
      this.api,
      [info.run_id],
      { [info.run_id]: info.run_name },
      keys,
      this.state.chart
    );
    this.chart.onChange = options => {
      this.state.chart = options;
      this.onStateChanged();
    };
    this.panel.append(this.chart.node);
    void this.chart.load();
  }

  private async patch(
    what: string,
    body: Parameters<LabApi['patchRun']>[1]
  ): Promise<void> {
    try {
      this.detail = await this.api.patchRun(this.state.runId, body);
      await this.showTab('tags');
    } catch (error) {
      this.panel.prepend(
        el(
          'div',
          'jp-mltrack-error',
          `Could not ${what}: ${(error as Error).message}`
        )
      );
    }
  }

  private tagsAndNote(): void {
    const tags = this.detail!.run.data.tags;
    // the note
    const noteBox = el('div', 'jp-mltrack-note');
    const text = el('textarea', 'jp-mltrack-note-editor');
    text.value = tags[NOTE_TAG] ?? '';
    text.placeholder =
      'A markdown note about this run (saved as the mlflow.note.content tag).';
    text.rows = 6;
    const rendered = el('div', 'jp-mltrack-note-rendered');
    const renderNote = (): void => {
      rendered.replaceChildren();
      if (text.value.trim()) {
        void renderBundle(this.rendermime, rendered, {
          'text/markdown': text.value
        });
      }
    };
    const save = el(
      'button',
      'jp-mltrack-button jp-mltrack-note-save',
      'Save note'
    );
    save.title = 'Save the note (Ctrl+Enter in the editor)';
    const saveNote = (): void =>
      void this.patch(
        'save the note',
        text.value.trim()
          ? { set_tags: { [NOTE_TAG]: text.value } }
          : { delete_tags: [NOTE_TAG] }
      );
    save.addEventListener('click', saveNote);
    text.addEventListener('input', renderNote);
    text.addEventListener('keydown', event => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        saveNote();
      }
    });
    noteBox.append(text, save, rendered);
    renderNote();

    // the tags
    const table = el('table', 'jp-mltrack-kv jp-mltrack-tags');
    const body = table.createTBody();
    for (const key of Object.keys(tags).sort()) {
      if (key === NOTE_TAG) {
        continue;
      }
      const tr = body.insertRow();
      tr.dataset.key = key;
      tr.insertCell().textContent = key;
      const input = el('input', 'jp-mltrack-tag-value');
      input.value = tags[key];
      input.setAttribute('aria-label', `value of tag ${key}`);
      input.addEventListener('keydown', event => {
        if (event.key === 'Enter' && input.value !== tags[key]) {
          void this.patch('set the tag', { set_tags: { [key]: input.value } });
        } else if (event.key === 'Escape') {
          input.value = tags[key];
        }
      });
      const remove = el(
        'button',
        'jp-mltrack-button jp-mltrack-tag-delete',
        'Delete'
      );
      remove.title = `Delete tag ${key}`;
      remove.addEventListener(
        'click',
        () => void this.patch('delete the tag', { delete_tags: [key] })
      );
      tr.insertCell().append(input);
      tr.insertCell().append(remove);
    }
    const add = el('form', 'jp-mltrack-tag-add');
    const key = el('input', 'jp-mltrack-tag-new-key');
    key.placeholder = 'key';
    key.required = true;
    const value = el('input', 'jp-mltrack-tag-new-value');
    value.placeholder = 'value';
    const submit = el('button', 'jp-mltrack-button', 'Add tag');
    submit.type = 'submit';
    add.append(key, value, submit);
    add.addEventListener('submit', event => {
      event.preventDefault();
      if (key.value.trim()) {
        void this.patch('add the tag', {
          set_tags: { [key.value.trim()]: value.value }
        });
      }
    });
    this.panel.append(
      el('h2', '', 'Note'),
      noteBox,
      el('h2', '', 'Tags'),
      el(
        'div',
        'jp-mltrack-hint',
        'Edit a value and press Enter to save it (Escape undoes).'
      ),
      table,
      add
    );
  }

  private async environment(): Promise<void> {
    const tags = this.detail!.run.data.tags;
    const present = (keys: string[]): [string, string][] =>
      keys.filter(k => k in tags).map(k => [k, tags[k]]);
    const git = present(GIT_TAGS);
    this.panel.append(
      el('h2', '', 'Git'),
      git.length
        ? keyValues(git, 'jp-mltrack-git')
        : el('div', 'jp-mltrack-hint', 'No git state was recorded.'),
      el('h2', '', 'Host'),
      keyValues(present(HOST_TAGS), 'jp-mltrack-host')
    );
    await this.filePreviews('environment', [
      'environment/requirements.txt',
      'environment/git_diff.patch'
    ]);
  }

  private async code(): Promise<void> {
    const tags = this.detail!.run.data.tags;
    const where = present(tags, [
      'mltrack.notebook.path',
      'mltrack.cell.execution_count',
      'mltrack.cell.id',
      'mlflow.source.name'
    ]);
    if (where.length) {
      this.panel.append(keyValues(where, 'jp-mltrack-code-source'));
    }
    await this.filePreviews('code', ['code/cell.py', 'code/history.py']);
  }

  /** Previews of the files of `folder` named in `paths` that the run has. */
  private async filePreviews(folder: string, paths: string[]): Promise<void> {
    let files: IFileInfo[] = [];
    try {
      files = (await this.api.artifacts(this.state.runId, folder)).files;
    } catch {
      files = [];
    }
    const shown = paths
      .map(p => files.find(f => f.path === p))
      .filter((f): f is IFileInfo => f !== undefined);
    if (!shown.length) {
      this.panel.append(
        el(
          'div',
          'jp-mltrack-hint',
          `No ${paths.join(' or ')} artifact in this run.`
        )
      );
    }
    for (const file of shown) {
      const host = el('div', 'jp-mltrack-preview');
      this.panel.append(host);
      await previewArtifact(
        this.api,
        this.rendermime,
        host,
        this.state.runId,
        file.path,
        file.file_size
      );
    }
  }

  private async artifacts(): Promise<void> {
    const layout = el('div', 'jp-mltrack-artifacts');
    const tree = el('ul', 'jp-mltrack-artifact-tree');
    tree.setAttribute('role', 'tree');
    const preview = el('div', 'jp-mltrack-preview');
    preview.textContent = 'Choose a file to preview it.';
    layout.append(tree, preview);
    this.panel.append(layout);
    tree.addEventListener('keydown', event => {
      if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') {
        return;
      }
      const items = [...tree.querySelectorAll<HTMLButtonElement>('button')];
      const at = items.indexOf(document.activeElement as HTMLButtonElement);
      const next = items[at + (event.key === 'ArrowDown' ? 1 : -1)];
      if (next) {
        event.preventDefault();
        next.focus();
      }
    });
    const open = async (
      file: IFileInfo,
      button: HTMLButtonElement
    ): Promise<void> => {
      for (const b of tree.querySelectorAll('.jp-mltrack-selected')) {
        b.classList.remove('jp-mltrack-selected');
      }
      button.classList.add('jp-mltrack-selected');
      this.state.artifact = file.path;
      this.onStateChanged();
      await previewArtifact(
        this.api,
        this.rendermime,
        preview,
        this.state.runId,
        file.path,
        file.file_size
      );
    };
    const list = async (
      path: string,
      into: HTMLElement,
      depth: number
    ): Promise<void> => {
      const { files } = await this.api.artifacts(this.state.runId, path);
      if (!files.length && depth === 0) {
        into.append(el('li', 'jp-mltrack-hint', 'This run has no artifacts.'));
      }
      const sorted = [...files].sort(
        (a, b) =>
          Number(b.is_dir) - Number(a.is_dir) || a.path.localeCompare(b.path)
      );
      for (const file of sorted) {
        const li = el('li');
        li.setAttribute('role', 'treeitem');
        const name = file.path.split('/').pop() ?? file.path;
        const button = el(
          'button',
          `jp-mltrack-artifact ${file.is_dir ? 'jp-mltrack-artifact-dir' : ''}`.trim()
        );
        button.dataset.path = file.path;
        button.style.paddingLeft = `${4 + depth * 14}px`;
        button.textContent = file.is_dir ? `▸ ${name}/` : name;
        if (!file.is_dir) {
          button.append(
            el('span', 'jp-mltrack-size', formatBytes(file.file_size))
          );
        }
        li.append(button);
        into.append(li);
        if (file.is_dir) {
          const children = el('ul');
          children.setAttribute('role', 'group');
          li.append(children);
          let loaded = false;
          button.addEventListener('click', () => {
            const expanded = li.getAttribute('aria-expanded') === 'true';
            li.setAttribute('aria-expanded', String(!expanded));
            button.textContent = `${expanded ? '▸' : '▾'} ${name}/`;
            children.hidden = expanded;
            if (!loaded) {
              loaded = true;
              void list(file.path, children, depth + 1);
            }
          });
          if (this.state.artifact?.startsWith(`${file.path}/`)) {
            button.click();
          }
        } else {
          button.addEventListener('click', () => void open(file, button));
          if (this.state.artifact === file.path) {
            void open(file, button);
          }
        }
      }
      tree.dataset.mltrackListed = String(
        tree.querySelectorAll('button').length
      );
    };
    try {
      await list('', tree, 0);
    } catch (error) {
      tree.append(
        el(
          'li',
          'jp-mltrack-error',
          `Could not list the artifacts: ${(error as Error).message}`
        )
      );
    }
  }

  private readonly tabs = el('div');
  private readonly panel = el('div');
  private chart: MetricChart | null = null;
}

function present(
  tags: Record<string, string>,
  keys: string[]
): [string, string][] {
  return keys.filter(k => k in tags).map(k => [k, tags[k]]);
}
