/**
 * Plugin of the main-area views: the compare view (`mltrack:compare`, run ids) and the
 * run detail view (`mltrack:open-run`, a run id), both in the palette (category
 * "Experiment Tracking"), restored after a page reload by the layout restorer (with their
 * tab, chart options and previewed artifact), and reloaded by `mltrack:refresh-view`
 * (Alt R in a view). Sets `data-mltrack-views-ready` on the body once its commands exist.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { refreshIcon } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';
import { ToolbarButton } from '@jupyterlab/apputils';

import { LabApi } from '../api/lab';
import { CommandIDs, runIdsOf } from '../commands';
import { CompareView, type ICompareState } from './compare';
import { RegistryView, type IRegistryState } from './registry';
import {
  RunView,
  type IRunViewState,
  RUN_TABS,
  type RunTab
} from './runDetail';

export { CompareView } from './compare';
export { RunView } from './runDetail';
export { RegistryView } from './registry';

/** Set on `document.body` once the views' commands are registered. */
export const VIEWS_READY_ATTRIBUTE = 'data-mltrack-views-ready';

type View = CompareView | RunView | RegistryView;

/** The sidebar's selection, when the sidebar is there (duck-typed: no import cycle). */
function sidebarSelection(app: JupyterFrontEnd): string[] {
  for (const widget of app.shell.widgets('left')) {
    if (widget.id === 'jp-mltrack-sidebar') {
      const selected = (
        widget as unknown as { model?: { selected?: Iterable<string> } }
      ).model?.selected;
      return selected ? [...selected] : [];
    }
  }
  return [];
}

async function askIds(title: string, label: string): Promise<string[]> {
  const answer = await InputDialog.getText({
    title,
    label,
    placeholder: 'run id, run id, …'
  });
  if (!answer.button.accept || !answer.value) {
    return [];
  }
  return answer.value
    .split(/[\s,]+/)
    .map(s => s.trim())
    .filter(Boolean);
}

export const viewsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mltrack:views',
  description:
    'The jupyter-mltrack compare and run detail views in the main area.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const api = new LabApi();
    const { commands, shell } = app;
    const runs = new WidgetTracker<MainAreaWidget<RunView>>({
      namespace: 'mltrack-run'
    });
    const compares = new WidgetTracker<MainAreaWidget<CompareView>>({
      namespace: 'mltrack-compare'
    });
    const registries = new WidgetTracker<MainAreaWidget<RegistryView>>({
      namespace: 'mltrack-registry'
    });

    const wrap = <
      T extends Widget & { load(): Promise<void>; onStateChanged: () => void }
    >(
      content: T,
      tracker: WidgetTracker<MainAreaWidget<T>>,
      id: string
    ): MainAreaWidget<T> => {
      const widget = new MainAreaWidget({ content });
      widget.id = id;
      widget.title.label = content.title.label;
      widget.title.closable = true;
      content.title.changed.connect(() => {
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
      });
      widget.toolbar.addItem(
        'refresh',
        new ToolbarButton({
          icon: refreshIcon,
          tooltip: 'Read the run(s) again (Alt R)',
          onClick: () => void content.load()
        })
      );
      content.onStateChanged = () => void tracker.save(widget);
      void tracker.add(widget);
      shell.add(widget, 'main');
      return widget;
    };
    const openRun = (runId: string): void =>
      void commands.execute(CommandIDs.openRun, { runId });

    commands.addCommand(CommandIDs.openRun, {
      label: args => (runIdsOf(args).length ? 'Open Run' : 'Open Run…'),
      caption:
        'Open the run detail view (asks for a run id when none is selected)',
      execute: async args => {
        let [runId] = runIdsOf(args);
        if (runId === undefined) {
          const selected = sidebarSelection(app);
          runId =
            selected.length === 1
              ? selected[0]
              : (await askIds('Open run', 'Run id'))[0];
        }
        if (!runId) {
          return;
        }
        const id = `mltrack-run-${runId}`;
        const open = runs.find(w => w.id === id);
        if (open) {
          shell.activateById(id);
          return open;
        }
        const tab = RUN_TABS.includes(args.tab as RunTab)
          ? (args.tab as RunTab)
          : undefined;
        const state: IRunViewState = {
          runId,
          tab,
          artifact:
            typeof args.artifact === 'string' ? args.artifact : undefined,
          chart: (args.chart as IRunViewState['chart']) ?? undefined
        };
        const widget = wrap(
          new RunView(
            api,
            rendermime,
            state,
            openRun,
            name =>
              void commands.execute(CommandIDs.openRegistry, { model: name })
          ),
          runs,
          id
        );
        shell.activateById(widget.id);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.compare, {
      label: 'Compare Runs',
      caption: 'Compare the runs selected in the sidebar (or asks for run ids)',
      execute: async args => {
        let ids = runIdsOf(args);
        if (ids.length === 0) {
          ids = sidebarSelection(app);
        }
        if (ids.length < 2) {
          ids = await askIds('Compare runs', 'Two or more run ids');
        }
        ids = [...new Set(ids)];
        if (ids.length < 2) {
          if (ids.length) {
            Notification.warning('Choose two or more runs to compare.');
          }
          return;
        }
        const id = `mltrack-compare-${ids.join('-')}`.slice(0, 200);
        const open = compares.find(w => w.id === id);
        if (open) {
          shell.activateById(id);
          return open;
        }
        const state: ICompareState = {
          runIds: ids,
          chart: (args.chart as ICompareState['chart']) ?? undefined,
          showAll: args.showAll === true
        };
        const widget = wrap(new CompareView(api, state, openRun), compares, id);
        shell.activateById(widget.id);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.openRegistry, {
      label: 'Open Model Registry',
      caption:
        'Registered models, their versions and aliases (set an alias, copy the loading code)',
      execute: async args => {
        const model = typeof args.model === 'string' ? args.model : undefined;
        const open = registries.currentWidget ?? registries.find(() => true);
        if (open) {
          shell.activateById(open.id);
          if (model) {
            await open.content.showModel(model);
          }
          return open;
        }
        const state: IRegistryState = {
          model,
          filter: typeof args.filter === 'string' ? args.filter : undefined
        };
        const widget = wrap(
          new RegistryView(api, state, openRun),
          registries,
          'mltrack-registry'
        );
        shell.activateById(widget.id);
        return widget;
      }
    });

    commands.addCommand(CommandIDs.refreshView, {
      label: 'Refresh Run View',
      caption: 'Read the runs of the current compare or run view again',
      isEnabled: () => current() !== null,
      execute: () => current()?.load()
    });
    const current = (): View | null => {
      const widget = shell.currentWidget;
      const content = (widget as MainAreaWidget | null)?.content;
      return content instanceof RunView ||
        content instanceof CompareView ||
        content instanceof RegistryView
        ? content
        : null;
    };
    commands.addKeyBinding({
      command: CommandIDs.refreshView,
      keys: ['Alt R'],
      selector: '.jp-mltrack-view'
    });

    if (restorer) {
      void restorer.restore(runs, {
        command: CommandIDs.openRun,
        args: w => ({ ...w.content.state }),
        name: w => w.content.state.runId
      });
      void restorer.restore(registries, {
        command: CommandIDs.openRegistry,
        args: w => ({ ...w.content.state }),
        name: () => 'registry'
      });
      void restorer.restore(compares, {
        command: CommandIDs.compare,
        args: w => ({ ...w.content.state }),
        name: w => w.content.state.runIds.join(',')
      });
    }
    for (const command of [
      CommandIDs.openRun,
      CommandIDs.compare,
      CommandIDs.openRegistry,
      CommandIDs.refreshView
    ]) {
      palette?.addItem({ command, category: 'Experiment Tracking' });
    }
    document.body.setAttribute(VIEWS_READY_ATTRIBUTE, 'true');
  }
};
