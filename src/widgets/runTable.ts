/**
 * anywidget ESM of `jupyter_mltrack.widgets.RunTable`: a virtualized table of runs.
 *
 * Only the visible rows exist in the DOM (fixed row height, a spacer as tall as every row);
 * rows are asked from the kernel in blocks (`rows` request: offset, limit, filter, order,
 * columns) and cached until the query changes. Sorting (header click), filtering (the box;
 * an error is shown under it with a caret at its position) and column choice change the
 * synced traitlets `order_by`, `filter_string`, `columns`; a row click toggles its id in
 * `selected_ids` (shift-click adds the range since the last click, in the kernel).
 *
 * State for tests and tools, on the widget element: `data-mltrack-state`
 * (loading | ready | error), `data-mltrack-total`, `data-mltrack-rows-loaded`,
 * `data-mltrack-rendered-rows`, `data-mltrack-first-row`, `data-mltrack-selected`,
 * `data-mltrack-order`, and `data-mltrack-filter-error` (the error's position) while the
 * box holds a filter that does not parse.
 */
import type { Render } from '@anywidget/types';

import { formatValue } from './lib/format';
import {
  Column,
  decodeColumns,
  IEncodedColumns,
  IResponse,
  request,
  RequestError
} from './lib/request';

import { element } from './lib/dom';

import './runTable.css';

/** The traitlets of RunTable that this view reads or writes. */
interface IRunTableModel {
  selected_ids: string[];
  filter_string: string;
  order_by: string[];
  columns: string[];
  _all_columns: string[];
  _generation: number;
}

/** Pixel height of one row: fixed, so the spacer and the row positions are arithmetic. */
export const ROW_HEIGHT = 26;
/** Rows per request. */
export const BLOCK_ROWS = 100;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 10;

interface IRowsResult {
  total: number;
  offset: number;
  ids: string[];
  columns: IEncodedColumns;
  kinds: Record<string, string>;
}

interface IFilterError {
  message: string;
  position: number | null;
}

interface IBlock {
  ids: string[];
  columns: Record<string, Column>;
  kinds: Record<string, string>;
}

interface IQuery {
  filter: string;
  order: string[];
  columns: string[];
}

/** `"metrics.f1 score DESC"` -> `["metrics.f1 score", "DESC"]`. */
export function splitOrder(item: string): [string, 'ASC' | 'DESC'] {
  const text = item.trim();
  const space = text.lastIndexOf(' ');
  const last = text.slice(space + 1).toUpperCase();
  if (space > 0 && (last === 'ASC' || last === 'DESC')) {
    return [text.slice(0, space).trim(), last];
  }
  return [text, 'ASC'];
}

/** Header click: no order -> ascending -> descending -> no order. */
export function nextOrder(current: string[], column: string): string[] {
  const found = current.map(splitOrder).find(([c]) => c === column);
  if (found === undefined) {
    return [`${column} ASC`];
  }
  return found[1] === 'ASC' ? [`${column} DESC`] : [];
}

function columnWidth(name: string): number {
  return name === 'run_id' ? 120 : name === 'start_time' ? 160 : 140;
}

const render: Render<IRunTableModel> = ({ model, el, signal }) => {
  el.classList.add('jp-mltrack-runtable');

  // ---------------------------------------------------------------- toolbar
  const toolbar = element('div', 'jp-mltrack-runtable-toolbar');
  const filterBox = element('input', 'jp-mltrack-runtable-filter');
  filterBox.type = 'text';
  filterBox.spellcheck = false;
  filterBox.placeholder =
    "Filter, e.g. metrics.acc > 0.9 AND params.optimizer = 'adam' (Enter applies)";
  filterBox.value = model.get('filter_string');
  const count = element('span', 'jp-mltrack-runtable-count');
  const selectAll = element(
    'button',
    'jp-mltrack-runtable-select-all',
    'Select all'
  );
  const clear = element('button', 'jp-mltrack-runtable-clear', 'Clear');
  const columnsButton = element(
    'button',
    'jp-mltrack-runtable-columns-button',
    'Columns'
  );
  for (const button of [selectAll, clear, columnsButton]) {
    button.type = 'button';
  }
  toolbar.append(filterBox, count, selectAll, clear, columnsButton);

  const filterError = element('div', 'jp-mltrack-runtable-filter-error');
  filterError.hidden = true;
  const columnsMenu = element('div', 'jp-mltrack-runtable-columns-menu');
  columnsMenu.hidden = true;
  const loadError = element('div', 'jp-mltrack-runtable-error');
  loadError.hidden = true;

  // ---------------------------------------------------------------- grid
  const scroller = element('div', 'jp-mltrack-runtable-scroll');
  const header = element('div', 'jp-mltrack-runtable-header');
  const spacer = element('div', 'jp-mltrack-runtable-spacer');
  scroller.append(header, spacer);
  el.replaceChildren(toolbar, filterError, columnsMenu, loadError, scroller);

  let query: IQuery = {
    filter: model.get('filter_string'),
    order: model.get('order_by'),
    columns: model.get('columns')
  };
  let generation = 0; // bumps when the query changes: late answers of older ones are dropped
  let total = -1;
  let blocks = new Map<number, IBlock>();
  const inflight = new Set<number>();
  let anchor: number | null = null; // last clicked row index, for shift-click ranges
  let frame = 0;

  const setState = (state: string): void => {
    el.dataset.mltrackState = state;
  };
  const updateCount = (): void => {
    const selected = model.get('selected_ids').length;
    el.dataset.mltrackSelected = String(selected);
    count.textContent =
      total < 0
        ? 'Loading...'
        : `${total} run${total === 1 ? '' : 's'}` +
          (selected ? `, ${selected} selected` : '');
  };
  const loadedRows = (): number => {
    let n = 0;
    blocks.forEach(block => (n += block.ids.length));
    return n;
  };

  const gridTemplate = (): string =>
    query.columns.map(c => `${columnWidth(c)}px`).join(' ');

  const drawHeader = (): void => {
    const orders = new Map(query.order.map(splitOrder));
    header.style.gridTemplateColumns = gridTemplate();
    header.replaceChildren(
      ...query.columns.map(name => {
        const cell = element('div', 'jp-mltrack-runtable-th', name);
        cell.dataset.column = name;
        cell.title = `${name}: click to sort`;
        const direction = orders.get(name);
        if (direction !== undefined) {
          cell.dataset.sort = direction.toLowerCase();
          cell.append(
            element(
              'span',
              'jp-mltrack-runtable-sort',
              direction === 'ASC' ? ' ▲' : ' ▼'
            )
          );
        }
        return cell;
      })
    );
  };

  const drawRows = (): void => {
    frame = 0;
    const rows = Math.max(total, 0);
    spacer.style.height = `${rows * ROW_HEIGHT}px`;
    const width = query.columns.reduce((w, c) => w + columnWidth(c), 0);
    spacer.style.width = `${width}px`;
    header.style.width = `${width}px`;
    const view = scroller.clientHeight - header.offsetHeight;
    const first = Math.max(
      0,
      Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN
    );
    const last = Math.min(
      rows - 1,
      Math.ceil(
        (scroller.scrollTop + Math.max(view, ROW_HEIGHT)) / ROW_HEIGHT
      ) + OVERSCAN
    );
    const selected = new Set(model.get('selected_ids'));
    const template = gridTemplate();
    const nodes: HTMLElement[] = [];
    for (let index = first; index <= last; index++) {
      const block = blocks.get(Math.floor(index / BLOCK_ROWS));
      const row = element('div', 'jp-mltrack-runtable-row');
      row.style.top = `${index * ROW_HEIGHT}px`;
      row.style.gridTemplateColumns = template;
      row.dataset.rowIndex = String(index);
      if (block === undefined) {
        row.classList.add('jp-mltrack-runtable-pending');
        row.append(element('div', 'jp-mltrack-runtable-td', '…'));
        fetchBlock(Math.floor(index / BLOCK_ROWS));
      } else {
        const at = index % BLOCK_ROWS;
        const id = block.ids[at];
        row.dataset.runId = id;
        row.tabIndex = 0;
        const isSelected = selected.has(id);
        row.classList.toggle('jp-mltrack-runtable-selected', isSelected);
        row.setAttribute('aria-selected', String(isSelected));
        for (const name of query.columns) {
          const values = block.columns[name];
          const text =
            values === undefined
              ? ''
              : formatValue(values[at], block.kinds[name] ?? 'string');
          const cell = element('div', 'jp-mltrack-runtable-td', text);
          cell.title = text;
          row.append(cell);
        }
      }
      nodes.push(row);
    }
    spacer.replaceChildren(...nodes);
    el.dataset.mltrackFirstRow = String(rows ? first : 0);
    el.dataset.mltrackRenderedRows = String(
      nodes.filter(n => n.dataset.runId !== undefined).length
    );
  };

  const schedule = (): void => {
    if (frame === 0) {
      frame = requestAnimationFrame(drawRows);
    }
  };

  const params = (q: IQuery, offset: number): Record<string, unknown> => ({
    offset,
    limit: BLOCK_ROWS,
    filter_string: q.filter,
    order_by: q.order,
    columns: q.columns
  });

  const showLoadError = (error: unknown): void => {
    if (error instanceof RequestError && error.code === 'ABORTED') {
      return;
    }
    loadError.textContent =
      error instanceof Error ? error.message : String(error);
    loadError.hidden = false;
    setState('error');
  };

  const install = (result: IRowsResult, buffers: DataView[]): void => {
    total = result.total;
    blocks.set(Math.floor(result.offset / BLOCK_ROWS), {
      ids: result.ids,
      columns: decodeColumns(result.columns, buffers),
      kinds: result.kinds
    });
    el.dataset.mltrackTotal = String(total);
    el.dataset.mltrackRowsLoaded = String(loadedRows());
    loadError.hidden = true;
    setState('ready');
    updateCount();
    schedule();
  };

  function fetchBlock(block: number): void {
    if (inflight.has(block) || blocks.has(block)) {
      return;
    }
    inflight.add(block);
    const asked = generation;
    request<IRowsResult | { filter_error: IFilterError }>(
      model,
      'rows',
      params(query, block * BLOCK_ROWS),
      { signal }
    )
      .then(({ result, buffers }) => {
        if (asked !== generation || 'filter_error' in result) {
          return;
        }
        install(result, buffers);
      })
      .catch(showLoadError)
      .finally(() => {
        if (asked === generation) {
          inflight.delete(block);
        }
      });
  }

  /** Start over with `next`: drop the cached rows, ask for the first block (or install
   * `first`, its answer already in hand). */
  const reload = (next: IQuery, first?: IResponse<IRowsResult>): void => {
    query = next;
    generation++;
    blocks = new Map();
    inflight.clear();
    total = -1;
    anchor = null;
    setState('loading');
    updateCount();
    drawHeader();
    scroller.scrollTop = 0;
    if (first === undefined) {
      fetchBlock(0);
    } else {
      install(first.result, first.buffers);
    }
  };

  // ---------------------------------------------------------------- filter
  const showFilterError = (text: string, error: IFilterError): void => {
    const position = error.position ?? text.length;
    const [summary] = error.message.split(/ at position \d+:\n/);
    const picture = element('pre', 'jp-mltrack-runtable-filter-caret');
    picture.textContent = `${text}\n${' '.repeat(position)}^`;
    filterError.replaceChildren(
      element('div', 'jp-mltrack-runtable-filter-message', summary),
      picture
    );
    filterError.hidden = false;
    filterBox.classList.add('jp-mltrack-runtable-invalid');
    filterBox.setAttribute('aria-invalid', 'true');
    el.dataset.mltrackFilterError = String(position);
    // put the text cursor where the problem is
    filterBox.setSelectionRange(position, position);
  };
  const clearFilterError = (): void => {
    filterError.hidden = true;
    filterError.replaceChildren();
    filterBox.classList.remove('jp-mltrack-runtable-invalid');
    filterBox.removeAttribute('aria-invalid');
    delete el.dataset.mltrackFilterError;
  };

  /** Try the filter in the box; on success it becomes the query (and the traitlet). */
  const applyFilter = (): void => {
    const text = filterBox.value;
    const next = { ...query, filter: text };
    const asked = ++generation;
    setState('loading');
    request<IRowsResult | { filter_error: IFilterError }>(
      model,
      'rows',
      params(next, 0),
      { signal }
    )
      .then(({ result, buffers }) => {
        if (asked !== generation) {
          return;
        }
        if ('filter_error' in result) {
          showFilterError(text, result.filter_error);
          setState('ready');
          return;
        }
        clearFilterError();
        reload(next, { result, buffers });
        if (model.get('filter_string') !== text) {
          model.set('filter_string', text);
          model.save_changes();
        }
      })
      .catch(showLoadError);
  };

  // ---------------------------------------------------------------- selection
  const setSelection = (ids: string[]): void => {
    model.set('selected_ids', ids);
    model.save_changes();
  };
  const toggle = (id: string): void => {
    const current = model.get('selected_ids');
    setSelection(
      current.includes(id) ? current.filter(i => i !== id) : [...current, id]
    );
  };
  const selectionParams = (): Record<string, unknown> => ({
    filter_string: query.filter,
    order_by: query.order
  });

  // ---------------------------------------------------------------- columns menu
  const drawColumnsMenu = (): void => {
    const shown = new Set(query.columns);
    columnsMenu.replaceChildren(
      ...model.get('_all_columns').map(name => {
        const label = element('label', 'jp-mltrack-runtable-column-choice');
        const box = element('input', '');
        box.type = 'checkbox';
        box.checked = shown.has(name);
        box.dataset.column = name;
        label.append(box, document.createTextNode(` ${name}`));
        return label;
      })
    );
  };

  // ---------------------------------------------------------------- events
  const onClick = (event: MouseEvent): void => {
    const target = event.target as Element;
    const th = target.closest<HTMLElement>('.jp-mltrack-runtable-th');
    if (th?.dataset.column !== undefined) {
      const order = nextOrder(query.order, th.dataset.column);
      reload({ ...query, order }); // first, so the change event below finds it done
      model.set('order_by', order);
      model.save_changes();
      return;
    }
    const row = target.closest<HTMLElement>('.jp-mltrack-runtable-row');
    if (row?.dataset.runId !== undefined) {
      const index = Number(row.dataset.rowIndex);
      if (event.shiftKey && anchor !== null) {
        void request(
          model,
          'select_range',
          { start: anchor, stop: index, ...selectionParams() },
          { signal }
        ).catch(showLoadError);
      } else {
        toggle(row.dataset.runId);
      }
      anchor = index;
    }
  };
  const onKey = (event: KeyboardEvent): void => {
    const row = event.target as HTMLElement;
    if (
      (event.key === 'Enter' || event.key === ' ') &&
      row.dataset.runId !== undefined
    ) {
      event.preventDefault();
      toggle(row.dataset.runId);
    }
  };
  const onFilterKey = (event: KeyboardEvent): void => {
    if (event.key === 'Enter') {
      event.preventDefault();
      applyFilter();
    } else if (event.key === 'Escape') {
      filterBox.value = query.filter;
      clearFilterError();
    }
  };
  const onColumnChoice = (event: Event): void => {
    const box = event.target as HTMLInputElement;
    const name = box.dataset.column;
    if (name === undefined) {
      return;
    }
    const chosen = new Set(query.columns);
    if (box.checked) {
      chosen.add(name);
    } else {
      chosen.delete(name);
    }
    const columns = model.get('_all_columns').filter(c => chosen.has(c));
    reload({ ...query, columns });
    model.set('columns', columns);
    model.save_changes();
  };

  const onSelectAll = (): void => {
    void request(model, 'select_all', selectionParams(), { signal }).catch(
      showLoadError
    );
  };
  const onClear = (): void => setSelection([]);
  const onColumnsButton = (): void => {
    columnsMenu.hidden = !columnsMenu.hidden;
    if (!columnsMenu.hidden) {
      drawColumnsMenu();
    }
  };

  // changes made from Python
  const onPythonFilter = (): void => {
    const text = model.get('filter_string');
    if (text !== query.filter) {
      filterBox.value = text;
      clearFilterError();
      reload({ ...query, filter: text });
    }
  };
  const onPythonOrder = (): void => {
    const order = model.get('order_by');
    if (order.join('\n') !== query.order.join('\n')) {
      reload({ ...query, order });
    }
  };
  const onPythonColumns = (): void => {
    const columns = model.get('columns');
    if (columns.join('\n') !== query.columns.join('\n')) {
      reload({ ...query, columns });
      if (!columnsMenu.hidden) {
        drawColumnsMenu();
      }
    }
  };
  const onGeneration = (): void => reload({ ...query });
  const onSelection = (): void => {
    updateCount();
    schedule();
  };

  el.addEventListener('click', onClick);
  el.addEventListener('keydown', onKey);
  filterBox.addEventListener('keydown', onFilterKey);
  columnsMenu.addEventListener('change', onColumnChoice);
  selectAll.addEventListener('click', onSelectAll);
  clear.addEventListener('click', onClear);
  columnsButton.addEventListener('click', onColumnsButton);
  scroller.addEventListener('scroll', schedule, { passive: true });
  model.on('change:selected_ids', onSelection);
  model.on('change:filter_string', onPythonFilter);
  model.on('change:order_by', onPythonOrder);
  model.on('change:columns', onPythonColumns);
  model.on('change:_all_columns', drawColumnsMenu);
  model.on('change:_generation', onGeneration);
  // the element has its size once attached: redraw then (and when it is resized)
  const resize = new ResizeObserver(schedule);
  resize.observe(scroller);

  reload(query);
  return () => {
    cancelAnimationFrame(frame);
    resize.disconnect();
    el.removeEventListener('click', onClick);
    el.removeEventListener('keydown', onKey);
    model.off('change:selected_ids', onSelection);
    model.off('change:filter_string', onPythonFilter);
    model.off('change:order_by', onPythonOrder);
    model.off('change:columns', onPythonColumns);
    model.off('change:_all_columns', drawColumnsMenu);
    model.off('change:_generation', onGeneration);
  };
};

export default { render };
