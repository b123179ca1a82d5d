"""Where the third-party browser assets live (light: the server extension imports it).

``vendor/plotly.min.js`` is copied from the npm package ``plotly.js-dist-min`` (a
devDependency pinned by ``yarn.lock``) by ``jlpm build:widgets``, shipped in the wheel, and
served by the server extension at ``/mltrack/vendor/``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PLOTLY_JS", "VENDOR_DIR", "plotly_js_path"]

#: Third-party browser assets, served at ``/mltrack/vendor/`` by the server extension.
VENDOR_DIR = Path(__file__).parent / "vendor"
#: The plotly.js bundle the chart widgets load once per page.
PLOTLY_JS = VENDOR_DIR / "plotly.min.js"


def plotly_js_path() -> Path:
    """The path of the shipped ``plotly.min.js``.

    Raises:
        FileNotFoundError: it was not copied, e.g. in a source checkout built without
            ``jlpm build:widgets``.
    """
    if not PLOTLY_JS.is_file():
        raise FileNotFoundError(
            f"{PLOTLY_JS} is missing. In a source checkout, run `jlpm install && jlpm "
            "build:widgets` (or `pip install -e .`), which copies it from the npm package "
            "plotly.js-dist-min."
        )
    return PLOTLY_JS
