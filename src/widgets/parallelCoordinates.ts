/**
 * anywidget ESM of `jupyter_mltrack.widgets.ParallelCoordinates` (drawing in
 * `./lib/parcoords.ts`, shared with the JupyterLab compare view). Brushes are the synced
 * traitlet `brushes` (axis -> [lo, hi], or the list of categories); the kernel computes
 * `selected_ids` from them, and brushes set from Python are drawn here.
 *
 * Data comes on request (`data`: the ids and every axis as a column, numbers as binary
 * buffers), not through traitlets. State for tests, on the widget element:
 * `data-mltrack-state` (loading | ready | error), `data-mltrack-lines`,
 * `data-mltrack-selected` (lines inside every brush, as drawn), `data-mltrack-brushes`
 * (JSON of the brushes drawn).
 */
import type { Render } from '@anywidget/types';

import { createParcoords, type Brush } from './lib/parcoords';
import {
  decodeColumns,
  IEncodedColumns,
  request,
  RequestError
} from './lib/request';

import './parallelCoordinates.css';

export { inBrush, makeScale, viridis } from './lib/parcoords';
export type { IScale } from './lib/parcoords';

interface IParcoordsModel {
  axes: string[];
  axis_types: Record<string, string>;
  color: string;
  brushes: Record<string, Brush>;
  selected_ids: string[];
  _generation: number;
}

interface IDataResult {
  ids: string[];
  columns: IEncodedColumns;
  categories: Record<string, string[]>;
  color_column: string | null;
}

const render: Render<IParcoordsModel> = ({ model, el, signal }) => {
  const chart = createParcoords(el, {
    axes: () => model.get('axes'),
    axisTypes: () => model.get('axis_types'),
    color: () => model.get('color'),
    brushes: () => model.get('brushes'),
    setBrushes: brushes => {
      model.set('brushes', brushes);
      model.save_changes();
    }
  });
  const load = (): void => {
    el.dataset.mltrackState = 'loading';
    request<IDataResult>(model, 'data', {}, { signal })
      .then(({ result, buffers }) => {
        chart.setMessage(
          `${result.ids.length} runs; drag along an axis to brush it, click it to clear.`
        );
        chart.setData({
          ...result,
          columns: decodeColumns(result.columns, buffers)
        });
        el.dataset.mltrackState = 'ready';
      })
      .catch((error: unknown) => {
        if (error instanceof RequestError && error.code === 'ABORTED') {
          return;
        }
        chart.setMessage(
          error instanceof Error ? error.message : String(error)
        );
        el.dataset.mltrackState = 'error';
      });
  };
  model.on('change:brushes', chart.schedule);
  model.on('change:color', load);
  model.on('change:axes', load);
  model.on('change:axis_types', load);
  model.on('change:_generation', load);
  load();
  return () => {
    chart.dispose();
    model.off('change:brushes', chart.schedule);
    model.off('change:color', load);
    model.off('change:axes', load);
    model.off('change:axis_types', load);
    model.off('change:_generation', load);
  };
};

export default { render };
