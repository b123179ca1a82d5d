/**
 * anywidget ESM of `jupyter_mltrack.widgets.LivePlot`: metrics of runs, live. The chart is
 * `lib/seriesChart.ts` (shared with MetricCompare); plotly.js is loaded once per page.
 */
import type { Render } from '@anywidget/types';

import { renderChart, type IChartModel } from './lib/seriesChart';

const render: Render<IChartModel> = props => renderChart(props);

export default { render };
