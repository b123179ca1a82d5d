/**
 * anywidget ESM of `jupyter_mltrack.widgets.RunTable`: an HTML table of runs whose
 * rows toggle selection on click (or Enter/Space); the selection is synced back to
 * Python as `selected_ids`.
 */
import type { AnyModel, Render } from '@anywidget/types';

import './runTable.css';

/** The traitlets of RunTable that this view reads or writes. */
interface IRunTableModel {
  _columns: string[];
  _rows: unknown[][];
  _row_ids: string[];
  _total_rows: number;
  selected_ids: string[];
}

type Model = AnyModel<IRunTableModel>;

/** Compact text for one cell: floats to 6 significant digits, null as empty. */
export function formatCell(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return String(
        Number.isInteger(value) ? value : Number(value.toPrecision(6))
      );
    case 'string':
      return value;
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      return value === null || value === undefined ? '' : JSON.stringify(value);
  }
}

function toggle(model: Model, runId: string): void {
  const current = model.get('selected_ids');
  const next = current.includes(runId)
    ? current.filter(id => id !== runId)
    : [...current, runId];
  model.set('selected_ids', next);
  model.save_changes();
}

function buildTable(model: Model): HTMLTableElement {
  const table = document.createElement('table');
  table.className = 'mltrack-runtable-table';
  const headRow = table.createTHead().insertRow();
  for (const column of model.get('_columns')) {
    const th = document.createElement('th');
    th.textContent = column;
    headRow.append(th);
  }
  const body = table.createTBody();
  const ids = model.get('_row_ids');
  model.get('_rows').forEach((values, index) => {
    const row = body.insertRow();
    row.dataset.runId = ids[index];
    row.tabIndex = 0;
    for (const value of values) {
      row.insertCell().textContent = formatCell(value);
    }
  });
  return table;
}

function markSelection(model: Model, table: HTMLTableElement): void {
  const selected = new Set(model.get('selected_ids'));
  for (const row of Array.from(table.tBodies[0].rows)) {
    const isSelected = selected.has(row.dataset.runId ?? '');
    row.classList.toggle('mltrack-runtable-selected', isSelected);
    row.setAttribute('aria-selected', String(isSelected));
  }
}

const render: Render<IRunTableModel> = ({ model, el }) => {
  el.classList.add('mltrack-runtable');
  let table = document.createElement('table');

  const draw = (): void => {
    table = buildTable(model);
    markSelection(model, table);
    const shown = model.get('_rows').length;
    const total = model.get('_total_rows');
    const note = document.createElement('div');
    note.className = 'mltrack-runtable-note';
    note.textContent =
      shown < total
        ? `Showing the first ${shown} of ${total} runs.`
        : `${total} run${total === 1 ? '' : 's'}; click rows to select.`;
    el.replaceChildren(table, note);
  };

  const onClick = (event: MouseEvent): void => {
    const row = (event.target as Element).closest('tr[data-run-id]');
    if (row instanceof HTMLTableRowElement && row.dataset.runId !== undefined) {
      toggle(model, row.dataset.runId);
    }
  };
  const onKey = (event: KeyboardEvent): void => {
    const row = event.target as HTMLElement;
    if (
      (event.key === 'Enter' || event.key === ' ') &&
      row.dataset.runId !== undefined
    ) {
      event.preventDefault();
      toggle(model, row.dataset.runId);
    }
  };
  const onSelection = (): void => markSelection(model, table);

  draw();
  el.addEventListener('click', onClick);
  el.addEventListener('keydown', onKey);
  model.on('change:selected_ids', onSelection);
  model.on('change:_rows', draw);
  return () => {
    el.removeEventListener('click', onClick);
    el.removeEventListener('keydown', onKey);
    model.off('change:selected_ids', onSelection);
    model.off('change:_rows', draw);
  };
};

export default { render };
