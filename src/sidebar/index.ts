/**
 * Plugin adding the jupyter-mltrack panel to the left sidebar, the
 * `mltrack:open-sidebar` command that reveals it and `mltrack:refresh-sidebar`.
 * Page state for scripts and tests: `READY_ATTRIBUTE` on the body, `PanelAttributes` on the
 * panel node.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import { getServerInfo, getStoreSnapshot } from '../api';
import { SidebarPanel } from './panel';

export { PanelAttributes } from './panel';

/** Command ids of this plugin. */
export const CommandIDs = {
  openSidebar: 'mltrack:open-sidebar',
  refreshSidebar: 'mltrack:refresh-sidebar'
} as const;

/**
 * Set on `document.body` once the plugin activated: the panel is in the left area and the
 * commands (and their palette items) are registered. Tests wait on it rather than on time.
 */
export const READY_ATTRIBUTE = 'data-mltrack-ready';

/** How many of the most recent runs the sidebar lists. */
export const SIDEBAR_MAX_RUNS = 20;

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

export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mltrack:sidebar',
  description: 'The jupyter-mltrack run browser in the left sidebar.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null
  ): void => {
    const panel = new SidebarPanel({
      info: () => getServerInfo(),
      snapshot: () => getStoreSnapshot(SIDEBAR_MAX_RUNS)
    });
    panel.id = 'jp-mltrack-sidebar';
    panel.title.icon = mltrackIcon;
    panel.title.caption = 'Experiment tracking (jupyter-mltrack)';
    labShell.add(panel, 'left', { rank: 600 });

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Open Experiment Tracking Sidebar',
      caption: 'Show the jupyter-mltrack panel in the left sidebar',
      execute: () => {
        labShell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.refreshSidebar, {
      label: 'Refresh Experiment Tracking Sidebar',
      caption: 'Read the runs of the store again now',
      execute: () => panel.refresh()
    });
    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: 'Experiment Tracking' });
    }
    document.body.setAttribute(READY_ATTRIBUTE, 'true');
  }
};
