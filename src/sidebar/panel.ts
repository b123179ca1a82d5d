/**
 * The left-sidebar panel: for now it shows the installed version and the store location.
 */
import { Widget } from '@lumino/widgets';

import { IServerInfo } from '../api';

/** Text nodes of a path with line-break opportunities after each `/` (copy is unchanged). */
function breakablePath(path: string): Node[] {
  return path
    .split(/(?<=\/)/)
    .flatMap(part => [
      document.createTextNode(part),
      document.createElement('wbr')
    ]);
}

/** Loads server info once attached and renders it; `refresh()` loads it again. */
export class SidebarPanel extends Widget {
  constructor(private readonly _load: () => Promise<IServerInfo>) {
    super();
    this.addClass('jp-mltrack-sidebar');
    const title = document.createElement('h2');
    title.className = 'jp-mltrack-sidebar-title';
    title.textContent = 'Experiment tracking';
    this._body = document.createElement('div');
    this._body.className = 'jp-mltrack-sidebar-body';
    this.node.append(title, this._body);
  }

  /** Fetch the info again and re-render; errors are shown in the panel, not thrown. */
  async refresh(): Promise<void> {
    this._showMessage('Loading…', 'jp-mltrack-loading');
    try {
      this._render(await this._load());
    } catch (reason) {
      const text = reason instanceof Error ? reason.message : String(reason);
      this._showMessage(
        `Could not reach the jupyter-mltrack server extension: ${text}`,
        'jp-mltrack-error'
      );
    }
  }

  protected onAfterAttach(): void {
    if (!this._loaded) {
      this._loaded = true;
      void this.refresh();
    }
  }

  private _render(info: IServerInfo): void {
    const list = document.createElement('dl');
    list.className = 'jp-mltrack-info';
    const rows: [string, string, string][] = [
      ['Version', info.version, 'jp-mltrack-version'],
      ['Tracking URI', info.tracking_uri, 'jp-mltrack-tracking-uri'],
      [
        'Store file',
        info.store_path ?? '(remote store)',
        'jp-mltrack-store-path'
      ]
    ];
    for (const [label, value, className] of rows) {
      const term = document.createElement('dt');
      term.textContent = label;
      const detail = document.createElement('dd');
      detail.className = className;
      detail.append(...breakablePath(value));
      detail.title = value;
      list.append(term, detail);
    }
    this._body.replaceChildren(list);
  }

  private _showMessage(text: string, className: string): void {
    const message = document.createElement('p');
    message.className = className;
    message.textContent = text;
    this._body.replaceChildren(message);
  }

  private readonly _body: HTMLDivElement;
  private _loaded = false;
}
