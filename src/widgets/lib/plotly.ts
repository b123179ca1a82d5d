/**
 * plotly.js, loaded once per page and shared by every chart widget (each widget bundle has
 * its own copy of this module, so the shared promise lives on `window`).
 *
 *   1. `window.Plotly` when something already loaded it;
 *   2. the server extension's route `<baseUrl>mltrack/vendor/plotly.min.js`, where the page
 *      has a `#jupyter-config-data` (JupyterLab, Notebook 7);
 *   3. else, or when that fails, the kernel: the widget's `plotly_js` request
 *      (`PlotlyAssets` in `jupyter_mltrack/widgets/_plotly.py`) sends the file as one buffer,
 *      not saved with the notebook (VS Code, Colab, a server without our extension).
 *
 * Rejects when none works (e.g. static HTML without a kernel): draw something else then.
 */
import type { AnyModel } from '@anywidget/types';

import { request } from './request';

/** The parts of plotly.js the widgets use (plotly.js-dist-min ships no types). */
export interface IPlotly {
  react(
    el: HTMLElement,
    data: Record<string, unknown>[],
    layout: Record<string, unknown>,
    config?: Record<string, unknown>
  ): Promise<unknown>;
  purge(el: HTMLElement): void;
  Plots: { resize(el: HTMLElement): unknown };
}

/** The route of the server extension that serves the file (under the server's base URL). */
export const PLOTLY_ROUTE = 'mltrack/vendor/plotly.min.js';

interface IPlotlyWindow {
  Plotly?: IPlotly;
  __mltrackPlotly?: Promise<IPlotly>;
}

/** The server's base URL from the page's `#jupyter-config-data`, or null outside Jupyter. */
export function pageBaseUrl(): string | null {
  const node = document.getElementById('jupyter-config-data');
  if (node === null) {
    return null;
  }
  try {
    const base = (JSON.parse(node.textContent ?? '{}') as { baseUrl?: unknown })
      .baseUrl;
    return typeof base === 'string' ? (base.endsWith('/') ? base : `${base}/`) : null;
  } catch {
    return null;
  }
}

function loadScript(src: string): Promise<IPlotly> {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.dataset.mltrackPlotly = 'true';
    script.onload = () => {
      const plotly = (window as IPlotlyWindow).Plotly;
      if (plotly) {
        resolve(plotly);
      } else {
        reject(new Error(`${src} loaded but did not define Plotly.`));
      }
    };
    script.onerror = () => {
      script.remove();
      reject(new Error(`Could not load ${src}.`));
    };
    document.head.append(script);
  });
}

async function fromKernel(model: AnyModel): Promise<IPlotly> {
  const { buffers } = await request(model, 'plotly_js', {}, { timeoutMs: 120_000 });
  const view = buffers[0];
  if (view === undefined) {
    throw new Error('The kernel sent no plotly.js.');
  }
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const url = URL.createObjectURL(new Blob([bytes], { type: 'text/javascript' }));
  try {
    return await loadScript(url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function load(model: AnyModel | undefined): Promise<IPlotly> {
  const base = pageBaseUrl();
  if (base !== null) {
    try {
      return await loadScript(`${base}${PLOTLY_ROUTE}`);
    } catch (error) {
      if (model === undefined) {
        throw error;
      }
    }
  }
  if (model === undefined) {
    throw new Error('plotly.js is not served on this page and no kernel was given.');
  }
  return fromKernel(model);
}

/**
 * plotly.js for this page, loaded at most once (concurrent callers share one load).
 * Pass the widget's `model` so that a page without our server route can get it from the
 * kernel. A failed load is forgotten, so a later call may try again.
 */
export function loadPlotly(model?: AnyModel): Promise<IPlotly> {
  const win = window as IPlotlyWindow;
  if (win.Plotly !== undefined) {
    return Promise.resolve(win.Plotly);
  }
  if (win.__mltrackPlotly === undefined) {
    const loading = load(model);
    win.__mltrackPlotly = loading;
    loading.catch(() => {
      if (win.__mltrackPlotly === loading) {
        win.__mltrackPlotly = undefined;
      }
    });
  }
  return win.__mltrackPlotly;
}
