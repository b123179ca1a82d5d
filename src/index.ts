/**
 * jupyter-mltrack's JupyterLab extension: the list of its plugins.
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { sidebarPlugin } from './sidebar';
import { viewsPlugin } from './views';

// the views first: they define mltrack:open-run and mltrack:compare, which the sidebar
// only stands in for when the views are absent
const plugins: JupyterFrontEndPlugin<unknown>[] = [viewsPlugin, sidebarPlugin];

export default plugins;
