/**
 * Plugin adding the jupyter-mltrack run browser to the left sidebar, with its commands
 * (palette category "Experiment Tracking", ids in `../commands.ts`), its context menu, and
 * its state restored after a page reload (layout restorer + state DB). Page state for
 * scripts and tests: `READY_ATTRIBUTE` on the body, `PanelAttributes` on the panel node.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon } from '@jupyterlab/ui-components';
import { Menu, Widget } from '@lumino/widgets';

import { getServerInfo } from '../api';
import { LabApi } from '../api/lab';
import type { IRunRow } from '../api/lab';
import { CommandIDs, runIdsOf } from '../commands';
import { ISidebarState, SidebarPanel } from './panel';
import { loadRunCode, sourceOf } from './actions';

export { PanelAttributes } from './panel';
export { CommandIDs } from '../commands';

/**
 * Set on `document.body` once the plugin activated: the panel is in the left area and the
 * commands (and their palette items) are registered. Tests wait on it rather than on time.
 */
export const READY_ATTRIBUTE = 'data-mltrack-ready';
/** The state DB key of the panel's view (experiment, filter, sort, columns). */
export const STATE_KEY = 'jupyter-mltrack:sidebar';

/** A line chart in a box: the sidebar tab icon. */
export const mltrackIcon = new LabIcon({
  name: 'jupyter-mltrack:logo',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g fill="none" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">' +
    '<rect class="jp-icon3" stroke="#616161" x="3" y="3" width="18" height="18" rx="2"/>' +
    '<polyline class="jp-icon3" stroke="#616161" points="6,16 10,11 13,14 18,7"/>' +
    '</g></svg>'
});

/** Duck type of a notebook panel (no dependency on @jupyterlab/notebook). */
interface INotebookLike {
  context?: { path: string };
  content?: {
    activeCellIndex: number;
    widgets: readonly {
      model: { id: string; sharedModel: { setSource(s: string): void } };
    }[];
    model?: { sharedModel: { insertCell(i: number, c: object): void } } | null;
  };
}

export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mltrack:sidebar',
  description: 'The jupyter-mltrack run browser in the left sidebar.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, ILayoutRestorer, IStateDB],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    state: IStateDB | null
  ): void => {
    const api = new LabApi();
    const { commands } = app;
    let lastNotebook: INotebookLike | null = null;
    labShell.currentChanged.connect((_, change) => {
      const widget = change.newValue as INotebookLike | null;
      if (
        widget?.content?.model !== undefined &&
        widget.context !== undefined
      ) {
        lastNotebook = widget;
      }
    });
    const menu = new Menu({ commands });
    menu.addClass('jp-mltrack-context-menu');
    const panel: SidebarPanel = new SidebarPanel(
      {
        info: () => getServerInfo(),
        experiments: () => api.experiments(),
        columns: ids => api.columns(ids),
        runs: q => api.runs(q),
        count: q => api.count(q),
        listen: (onEvent, signal) => api.listen(onEvent, signal)
      },
      {
        open: run =>
          void commands.execute(CommandIDs.openRun, { runId: run.run_id }),
        contextMenu: (event, run) => {
          event.preventDefault();
          menu.open(event.clientX, event.clientY);
          void run;
        },
        selectionChanged: () => commands.notifyCommandChanged(),
        openRegistry: () => void commands.execute(CommandIDs.openRegistry),
        stateChanged: () =>
          void state?.save(STATE_KEY, panel.state as unknown as never)
      }
    );
    panel.id = 'jp-mltrack-sidebar';
    panel.title.icon = mltrackIcon;
    panel.title.caption = 'Experiment tracking (jupyter-mltrack)';
    labShell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, 'jupyter-mltrack-sidebar');
    if (state !== null) {
      void state.fetch(STATE_KEY).then(saved => {
        if (saved && typeof saved === 'object') {
          panel.restore(saved as Partial<ISidebarState>);
        }
      });
    }

    const selectedIds = (args: Record<string, unknown>): string[] => {
      const given = runIdsOf(args);
      return given.length > 0 ? given : [...panel.model.selected];
    };
    const rowOf = (id: string): IRunRow | undefined =>
      panel.model.selectedRuns().find(r => r.run_id === id);
    const afterChange = async (
      what: string,
      work: Promise<unknown>
    ): Promise<void> => {
      try {
        await work;
      } catch (reason) {
        Notification.error(`Could not ${what}: ${(reason as Error).message}`);
      }
      await panel.refresh();
    };

    commands.addCommand(CommandIDs.openSidebar, {
      label: 'Open Experiment Tracking Sidebar',
      caption: 'Show the jupyter-mltrack panel in the left sidebar',
      execute: () => labShell.activateById(panel.id)
    });
    commands.addCommand(CommandIDs.refreshSidebar, {
      label: 'Refresh Experiment Tracking Sidebar',
      caption: 'Read the runs of the store again now',
      execute: () => panel.refresh()
    });
    commands.addCommand(CommandIDs.searchRuns, {
      label: 'Search Runs',
      caption: 'Focus the run filter of the sidebar',
      execute: () => {
        labShell.activateById(panel.id);
        panel.focusSearch();
      }
    });
    // the run detail view registers this command when it is installed (its plugin may
    // activate after this one); without it, the sidebar shows the run's facts in a dialog
    void app.restored.then(() => {
      if (!commands.hasCommand(CommandIDs.openRun)) {
        commands.addCommand(CommandIDs.openRun, {
          label: 'Open Run',
          isEnabled: args => selectedIds(args).length === 1,
          execute: async args => {
            const [id] = selectedIds(args);
            const detail = await api.run(id);
            const body = document.createElement('pre');
            body.className = 'jp-mltrack-run-facts';
            body.textContent = JSON.stringify(detail.run, null, 2);
            await showDialog({
              title: `Run ${detail.run.info.run_name}`,
              body: new Widget({ node: body }),
              buttons: [Dialog.okButton()]
            });
          }
        });
      }
    });
    commands.addCommand(CommandIDs.renameRun, {
      label: 'Rename Run…',
      isEnabled: args => selectedIds(args).length === 1,
      execute: async args => {
        const [id] = selectedIds(args);
        let name = typeof args.name === 'string' ? args.name : null;
        if (name === null) {
          const answer = await InputDialog.getText({
            title: 'Rename run',
            text: rowOf(id)?.run_name ?? ''
          });
          name = answer.button.accept ? answer.value : null;
        }
        if (name) {
          await afterChange(
            'rename the run',
            api.patchRun(id, { run_name: name })
          );
        }
      }
    });
    commands.addCommand(CommandIDs.tagRuns, {
      label: 'Set Tag on Runs…',
      isEnabled: args => selectedIds(args).length > 0,
      execute: async args => {
        const ids = selectedIds(args);
        let text =
          typeof args.key === 'string'
            ? `${args.key}=${typeof args.value === 'string' ? args.value : ''}`
            : null;
        if (text === null) {
          const answer = await InputDialog.getText({
            title: `Set a tag on ${ids.length} run(s)`,
            placeholder: 'key=value'
          });
          text = answer.button.accept ? answer.value : null;
        }
        const at = text?.indexOf('=') ?? -1;
        if (text && at > 0) {
          const tags = { [text.slice(0, at).trim()]: text.slice(at + 1) };
          await afterChange(
            'set the tag',
            Promise.all(ids.map(id => api.patchRun(id, { set_tags: tags })))
          );
        } else if (text) {
          Notification.warning('Write the tag as key=value.');
        }
      }
    });
    commands.addCommand(CommandIDs.deleteRuns, {
      label: 'Delete Runs',
      caption:
        'Delete the selected runs (restorable: show deleted runs, then Restore)',
      isEnabled: args =>
        selectedIds(args).length > 0 && !panel.model.showDeleted,
      execute: async args => {
        const ids = selectedIds(args);
        panel.model.selected.clear();
        await afterChange(
          'delete the runs',
          Promise.all(
            ids.map(id => api.patchRun(id, { lifecycle_stage: 'deleted' }))
          )
        );
      }
    });
    commands.addCommand(CommandIDs.restoreRuns, {
      label: 'Restore Runs',
      isEnabled: args =>
        selectedIds(args).length > 0 && panel.model.showDeleted,
      execute: async args => {
        const ids = selectedIds(args);
        panel.model.selected.clear();
        await afterChange(
          'restore the runs',
          Promise.all(
            ids.map(id => api.patchRun(id, { lifecycle_stage: 'active' }))
          )
        );
      }
    });
    commands.addCommand(CommandIDs.insertRunCode, {
      label: 'Insert Code Loading This Run',
      caption:
        'Add a cell to the active notebook that loads the run with mt.get_run',
      isEnabled: args =>
        selectedIds(args).length === 1 && lastNotebook !== null,
      execute: args => {
        const [id] = selectedIds(args);
        const notebook = lastNotebook?.content;
        if (!notebook?.model) {
          Notification.warning(
            'Open a notebook first: the code goes into its active cell.'
          );
          return;
        }
        const index = notebook.activeCellIndex + 1;
        notebook.model.sharedModel.insertCell(index, {
          cell_type: 'code',
          source: loadRunCode(id)
        });
        notebook.activeCellIndex = index;
      }
    });
    commands.addCommand(CommandIDs.openRunSource, {
      label: 'Open the Notebook That Produced This Run',
      isEnabled: args => selectedIds(args).length === 1,
      execute: async args => {
        const [id] = selectedIds(args);
        const source = sourceOf((await api.run(id)).run);
        if (source === null) {
          Notification.info(
            'This run records no notebook (it was not started by %%track in JupyterLab).'
          );
          return;
        }
        const widget = (await commands.execute('docmanager:open', {
          path: source.path
        })) as INotebookLike;
        const content = widget?.content;
        if (content && source.cellId !== null) {
          const at = content.widgets.findIndex(
            c => c.model.id === source.cellId
          );
          if (at >= 0) {
            content.activeCellIndex = at;
          }
        }
      }
    });
    if (!commands.hasCommand(CommandIDs.compare)) {
      // the compare view defines this command; without it, say so instead of failing
      void app.restored.then(() => {
        if (!commands.hasCommand(CommandIDs.compare)) {
          commands.addCommand(CommandIDs.compare, {
            label: 'Compare Runs',
            isEnabled: args => selectedIds(args).length >= 2,
            execute: () =>
              Notification.info(
                'The compare view is not installed in this JupyterLab.'
              )
          });
        }
      });
    }
    for (const command of [
      CommandIDs.openRun,
      CommandIDs.compare,
      CommandIDs.renameRun,
      CommandIDs.tagRuns,
      CommandIDs.insertRunCode,
      CommandIDs.openRunSource,
      CommandIDs.deleteRuns,
      CommandIDs.restoreRuns
    ]) {
      menu.addItem({ command });
    }
    for (const command of [
      CommandIDs.openSidebar,
      CommandIDs.refreshSidebar,
      CommandIDs.searchRuns,
      CommandIDs.renameRun,
      CommandIDs.tagRuns,
      CommandIDs.deleteRuns,
      CommandIDs.restoreRuns,
      CommandIDs.insertRunCode,
      CommandIDs.openRunSource
    ]) {
      palette?.addItem({ command, category: 'Experiment Tracking' });
    }
    app.commands.addKeyBinding({
      command: CommandIDs.searchRuns,
      keys: ['Accel Shift F'],
      selector: '.jp-mltrack-sidebar'
    });
    document.body.setAttribute(READY_ATTRIBUTE, 'true');
  }
};
