/**
 * anywidget ESM of `jupyter_mltrack.widgets.MetricCompare`: one metric overlaid across runs,
 * the same chart as LivePlot (`lib/seriesChart.ts`) with the legend naming runs.
 */
import type { Render } from '@anywidget/types';

import { renderChart, type IChartModel } from './lib/seriesChart';

const render: Render<IChartModel> = props => renderChart(props);

export default { render };
