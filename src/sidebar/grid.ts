/**
 * A virtualized runs table: only the rows in view (plus a margin) exist in the DOM, so
 * 100,000 runs scroll like 100. Rows are `div.jp-mltrack-run` with `data-run-id`,
 * `data-status` and `aria-selected`; cells carry `data-column`. Rows whose block is still
 * loading are drawn as `.jp-mltrack-run-placeholder`. Page state for tests and benchmarks
 * on the grid node: `data-mltrack-rows` (rows in the view), `data-mltrack-drawn` (rows
 * drawn with data), `data-mltrack-placeholders` (rows drawn while loading),
 * `data-mltrack-filter` (the filter of the rows drawn).
 */
import { Widget } from '@lumino/widgets';

import type { IRunRow } from '../api/lab';
import { formatTime, formatValue } from './format';
import { RunsModel } from './model';

export const ROW_HEIGHT = 24;
const OVERSCAN = 10;

/** The fixed columns: [search key for sorting, header, width]. */
const FIXED: [string, string, number][] = [
  ['attributes.run_name', 'Run', 130],
  ['attributes.status', 'Status', 78],
  ['attributes.start_time', 'Started', 70]
];
const VALUE_WIDTH = 72;

export interface IGridActions {
  open(run: IRunRow): void;
  contextMenu(event: MouseEvent, run: IRunRow): void;
  sorted(): void;
}

function cell(className: string, text: string, width: number): HTMLDivElement {
  const node = document.createElement('div');
  node.className = `jp-mltrack-cell ${className}`;
  node.style.width = `${width}px`;
  node.textContent = text;
  node.title = text;
  return node;
}

/** The text of a column value (`params.*`, `tags.*` strings, `metrics.*` numbers). */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' &&
    !['NaN', 'Infinity', '-Infinity'].includes(value)
    ? value
    : formatValue(value as number);
}

export class RunsGrid extends Widget {
  constructor(
    private readonly _model: RunsModel,
    private readonly _actions: IGridActions
  ) {
    super();
    this.addClass('jp-mltrack-grid');
    this.node.setAttribute('role', 'grid');
    this.node.tabIndex = 0;
    this._header = document.createElement('div');
    this._header.className = 'jp-mltrack-grid-header';
    this._header.setAttribute('role', 'row');
    this._body = document.createElement('div');
    this._body.className = 'jp-mltrack-grid-body';
    this._spacer = document.createElement('div');
    this._spacer.className = 'jp-mltrack-grid-spacer';
    this._rows = document.createElement('div');
    this._rows.className = 'jp-mltrack-grid-rows';
    this._spacer.append(this._rows);
    this._body.append(this._spacer);
    this.node.append(this._header, this._body);
    this._body.addEventListener('scroll', () => this._schedule());
    this._body.addEventListener('click', e => this._onClick(e));
    this._body.addEventListener('dblclick', e => {
      const run = this._runAt(e);
      if (run !== null) {
        this._actions.open(run);
      }
    });
    this._body.addEventListener('contextmenu', e => {
      const run = this._runAt(e);
      const index = this._indexAt(e);
      if (run !== null && index !== null) {
        if (!this._model.selected.has(run.run_id)) {
          this._model.select(index);
        }
        this._actions.contextMenu(e, run);
      }
    });
    this.node.addEventListener('keydown', e => this._onKey(e));
    this._header.addEventListener('click', e => this._onHeaderClick(e));
    _model.changed.connect(() => this._schedule(), this);
  }

  /** Index of the row with keyboard focus. */
  get focusIndex(): number {
    return this._focus;
  }

  /** Scroll so that the first rows show (a new query). */
  scrollToTop(): void {
    this._body.scrollTop = 0;
    this._body.scrollLeft = 0;
    this._focus = 0;
  }

  protected onResize(): void {
    this._schedule();
  }

  protected onAfterShow(): void {
    this._schedule();
  }

  private _schedule(): void {
    if (this._frame === 0) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this.render();
      });
    }
  }

  /** Draw the header and the rows in view; ask the model for the blocks they need. */
  render(): void {
    const model = this._model;
    const count = model.rowCount;
    const width =
      FIXED.reduce((w, c) => w + c[2], 0) + model.columns.length * VALUE_WIDTH;
    this._renderHeader(width);
    this._spacer.style.height = `${count * ROW_HEIGHT}px`;
    this._spacer.style.width = `${width}px`;
    const height = this._body.clientHeight || 400;
    const first = Math.max(
      0,
      Math.floor(this._body.scrollTop / ROW_HEIGHT) - OVERSCAN
    );
    const last = Math.min(
      count - 1,
      Math.ceil((this._body.scrollTop + height) / ROW_HEIGHT) + OVERSCAN
    );
    const fragment = document.createDocumentFragment();
    let drawn = 0;
    let placeholders = 0;
    for (let i = first; i <= last; i++) {
      const { run, depth } = model.row(i);
      const row =
        run === null ? this._placeholder(i) : this._row(i, run, depth);
      if (run === null) {
        placeholders++;
      } else {
        drawn++;
      }
      fragment.append(row);
    }
    this._rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    this._rows.replaceChildren(fragment);
    this.node.setAttribute('data-mltrack-rows', String(count));
    this.node.setAttribute('data-mltrack-drawn', String(drawn));
    this.node.setAttribute('data-mltrack-placeholders', String(placeholders));
    this.node.setAttribute('data-mltrack-version', String(model.version));
    this.node.setAttribute('data-mltrack-filter', model.filter);
    if (last >= first) {
      void model.show(first, last);
    }
  }

  private _renderHeader(width: number): void {
    const model = this._model;
    const key = [model.sort.key, model.sort.descending, ...model.columns].join(
      '\u0000'
    );
    this._header.style.width = `${width}px`;
    this._header.style.transform = `translateX(${-this._body.scrollLeft}px)`;
    if (key === this._headerKey) {
      return;
    }
    this._headerKey = key;
    const cells = [
      ...FIXED.map(([sortKey, label, w]) => [sortKey, label, w] as const),
      ...model.columns.map(
        c =>
          [c, c.replace(/^(params|metrics|tags)\./, ''), VALUE_WIDTH] as const
      )
    ].map(([sortKey, label, w]) => {
      const sorted = model.sort.key === sortKey;
      const node = cell(
        'jp-mltrack-header-cell',
        `${label}${sorted ? (model.sort.descending ? ' ▾' : ' ▴') : ''}`,
        w
      );
      node.dataset.sortKey = sortKey;
      node.title = `${sortKey}: click to sort`;
      node.setAttribute('role', 'columnheader');
      node.setAttribute(
        'aria-sort',
        sorted ? (model.sort.descending ? 'descending' : 'ascending') : 'none'
      );
      return node;
    });
    this._header.replaceChildren(...cells);
  }

  private _placeholder(i: number): HTMLElement {
    const row = document.createElement('div');
    row.className = 'jp-mltrack-run-placeholder';
    row.dataset.index = String(i);
    row.style.height = `${ROW_HEIGHT}px`;
    return row;
  }

  private _row(i: number, run: IRunRow, depth: number): HTMLElement {
    const model = this._model;
    const row = document.createElement('div');
    row.className = 'jp-mltrack-run';
    row.setAttribute('role', 'row');
    row.dataset.index = String(i);
    row.dataset.runId = run.run_id;
    row.dataset.status = run.status;
    row.style.height = `${ROW_HEIGHT}px`;
    row.setAttribute('aria-selected', String(model.selected.has(run.run_id)));
    if (i === this._focus) {
      row.classList.add('jp-mltrack-focus');
    }
    const name = cell('jp-mltrack-run-name', '', FIXED[0][2]);
    name.style.paddingLeft = `${4 + depth * 14}px`;
    if (run.child_count > 0 && depth === 0 && model.nested) {
      const twisty = document.createElement('span');
      twisty.className = 'jp-mltrack-twisty';
      twisty.textContent = model.isExpanded(run.run_id) ? '▾' : '▸';
      twisty.title = `${run.child_count} child run(s)`;
      name.append(twisty);
    }
    const label = document.createElement('span');
    label.textContent = run.run_name;
    name.append(label);
    name.title = `${run.run_name} (${run.run_id})`;
    const status = cell('jp-mltrack-status-cell', '', FIXED[1][2]);
    const badge = document.createElement('span');
    badge.className = `jp-mltrack-badge jp-mltrack-badge-${run.status.toLowerCase()}`;
    badge.textContent = run.status;
    status.append(badge);
    row.append(
      name,
      status,
      cell('jp-mltrack-run-start', formatTime(run.start_time_ms), FIXED[2][2])
    );
    for (const column of model.columns) {
      const value = cell(
        'jp-mltrack-value',
        valueText(run.values[column]),
        VALUE_WIDTH
      );
      value.dataset.column = column;
      if (column.startsWith('metrics.')) {
        value.classList.add('jp-mltrack-number');
      }
      row.append(value);
    }
    return row;
  }

  private _indexAt(event: Event): number | null {
    const row = (event.target as HTMLElement).closest('[data-index]');
    return row === null ? null : Number((row as HTMLElement).dataset.index);
  }

  private _runAt(event: Event): IRunRow | null {
    const index = this._indexAt(event);
    return index === null ? null : this._model.row(index).run;
  }

  private _onClick(event: MouseEvent): void {
    const index = this._indexAt(event);
    if (index === null) {
      return;
    }
    const run = this._model.row(index).run;
    if (
      run !== null &&
      (event.target as HTMLElement).closest('.jp-mltrack-twisty')
    ) {
      void this._model.toggle(run.run_id);
      return;
    }
    this._focus = index;
    this._model.select(
      index,
      event.shiftKey
        ? 'range'
        : event.ctrlKey || event.metaKey
          ? 'extend'
          : 'only'
    );
  }

  private _onHeaderClick(event: MouseEvent): void {
    const node = (event.target as HTMLElement).closest('[data-sort-key]');
    if (node === null) {
      return;
    }
    const key = (node as HTMLElement).dataset.sortKey!;
    const model = this._model;
    model.sort = {
      key,
      descending: model.sort.key === key ? !model.sort.descending : true
    };
    this.scrollToTop();
    this._actions.sorted();
    void model.reset();
  }

  private _onKey(event: KeyboardEvent): void {
    const count = this._model.rowCount;
    const page = Math.max(
      1,
      Math.floor(this._body.clientHeight / ROW_HEIGHT) - 1
    );
    const moves: Record<string, number> = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: page,
      PageUp: -page,
      Home: -count,
      End: count
    };
    if (event.key in moves) {
      event.preventDefault();
      this._focus = Math.min(
        count - 1,
        Math.max(0, this._focus + moves[event.key])
      );
      this._model.select(this._focus, event.shiftKey ? 'range' : 'only');
      const top = this._focus * ROW_HEIGHT;
      if (top < this._body.scrollTop) {
        this._body.scrollTop = top;
      } else if (
        top + ROW_HEIGHT >
        this._body.scrollTop + this._body.clientHeight
      ) {
        this._body.scrollTop = top + ROW_HEIGHT - this._body.clientHeight;
      }
    } else if (event.key === 'Enter') {
      const run = this._model.row(this._focus).run;
      if (run !== null) {
        this._actions.open(run);
      }
    } else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
      const run = this._model.row(this._focus).run;
      const open = run !== null && this._model.isExpanded(run.run_id);
      if (
        run !== null &&
        run.child_count > 0 &&
        open === (event.key === 'ArrowLeft')
      ) {
        void this._model.toggle(run.run_id);
      }
    }
  }

  private _header: HTMLDivElement;
  private _body: HTMLDivElement;
  private _spacer: HTMLDivElement;
  private _rows: HTMLDivElement;
  private _frame = 0;
  private _focus = 0;
  private _headerKey = '';
}
