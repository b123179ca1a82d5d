"""plotly.js for the chart widgets: one file shipped with the package, loaded once per page.

The file is ``vendor/plotly.min.js`` (:mod:`._vendor`). Widgets never embed it in
their ESM (4.7 MB per instance in a saved notebook). ``src/widgets/lib/plotly.ts`` loads it:

1. from the server extension's route ``<base_url>mltrack/vendor/plotly.min.js`` (JupyterLab,
   Notebook 7 with our server extension);
2. else from the kernel, once per page, through the ``plotly_js`` request that
   :class:`PlotlyAssets` answers (VS Code, Colab, a server without our extension): the bytes
   travel as a comm buffer and are not saved in the widget state;
3. with no kernel at all (static HTML), the chart widgets draw their saved snapshot as SVG.
"""

from __future__ import annotations

from ._base import Reply, handles
from ._vendor import PLOTLY_JS, VENDOR_DIR, plotly_js_path

__all__ = ["PLOTLY_JS", "VENDOR_DIR", "PlotlyAssets", "plotly_js_path"]


class PlotlyAssets:
    """Mixin of the chart widgets: answers the frontend's ``plotly_js`` request with the
    bundle as one binary buffer, for pages where the server route is absent.

    ``class MyChart(PlotlyAssets, MltrackWidget, bundle="myChart")``; the TS side is
    ``loadPlotly(model)`` in ``src/widgets/lib/plotly.ts``.
    """

    @handles("plotly_js")
    def _plotly_js(self) -> Reply:
        data = plotly_js_path().read_bytes()
        return Reply({"bytes": len(data)}, [data])
