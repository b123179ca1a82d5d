/**
 * jupyter-mltrack's JupyterLab extension: the list of its plugins.
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { sidebarPlugin } from './sidebar';

const plugins: JupyterFrontEndPlugin<unknown>[] = [sidebarPlugin];

export default plugins;
