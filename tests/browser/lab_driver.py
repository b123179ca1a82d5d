"""Driving JupyterLab in the browser tests: open it, run notebook commands, read the kernel.

Every wait targets state the page exposes, never elapsed time: JupyterLab's ``restored``
promise (``window.jupyterapp``), ``data-mltrack-*`` attributes set by the extension and the
widgets, kernel status, rendered text, a value read from the kernel. ``TIMEOUT_MS`` only
bounds each wait (``MLTRACK_BROWSER_TIMEOUT_S`` raises it on a very slow machine); a fast
machine never waits for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
# An upper bound per wait, not a sleep: generous, so a loaded machine is slow but not failing.
TIMEOUT_MS = int(float(os.environ.get("MLTRACK_BROWSER_TIMEOUT_S", "120")) * 1000)

READY = "data-mltrack-ready"  # on <body>: plugin activated, commands registered

NOTEBOOK = "Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context?.path === path)"


def open_lab(page: Any, lab: Any, path: str = "lab") -> None:
    """Load JupyterLab and wait until it restored its layout and our plugin is active."""
    page.goto(f"{lab.url}{path}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate(
        "() => { window.jupyterapp.restored.then(() => { window.__mltrackLabRestored = true; }); }"
    )
    page.wait_for_function("() => window.__mltrackLabRestored === true")
    page.wait_for_selector(f"body[{READY}='true']", state="attached")


def execute(page: Any, command: str) -> None:
    """Run a JupyterLab command through the app's command registry and await its result."""
    page.evaluate("(id) => window.jupyterapp.commands.execute(id).then(() => true)", command)


def close_all(page: Any) -> None:
    """Close every main-area widget and wait for the launcher JupyterLab puts into the empty
    main area a little later: its commands and its focus would close a command palette
    opened meanwhile (the modal palette hides on any command executed and on focus loss)."""
    execute(page, "application:close-all")
    page.wait_for_function("() => !document.querySelector('.jp-mltrack-view')")
    page.locator(".jp-Launcher").wait_for()


# JavaScript: the computed spelling of a CSS ``value`` for ``property`` (plotly and themes may
# spell one colour differently), passed to the ``colours`` functions of ``colours_per_theme``.
CSS_VALUE = """(property, value) => {
  const probe = document.createElement('span');
  probe.style[property] = value;
  document.body.append(probe);
  const out = getComputedStyle(probe)[property];
  probe.remove();
  return out;
}"""


def colours_per_theme(page: Any, themes: list[str], colours: str, applied: str) -> dict[str, Any]:
    """Switch JupyterLab to each of ``themes`` in turn and, in each, wait until ``applied``
    (a page function of the list ``colours`` returns) holds; return what ``colours`` (a page
    function taking ``CSS_VALUE``) gave in each theme. JupyterLab Light is set again after."""
    read = f"() => ({colours})({CSS_VALUE})"
    seen = {}
    try:
        for theme in themes:
            page.evaluate(
                "(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})",
                theme,
            )
            light = "false" if "Dark" in theme else "true"
            page.wait_for_selector(f"body[data-jp-theme-light='{light}']", state="attached")
            try:
                page.wait_for_function(f"() => ({applied})(({read})())")
            except Exception as exc:
                raise AssertionError(f"{theme}: {page.evaluate(read)}") from exc
            seen[theme] = page.evaluate(read)
    finally:
        page.evaluate(
            "() => window.jupyterapp.commands.execute('apputils:change-theme', "
            "{theme: 'JupyterLab Light'})"
        )
    return seen


def write_notebook(lab: Any, name: str, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, lab.root_dir / name)


def wait_kernel(page: Any, path: str) -> None:
    """Wait until the notebook ``path`` is open and its kernel connected and idle (other
    notebooks restored from the workspace may be the current widget meanwhile)."""
    page.wait_for_function(
        f"""(path) => {{
          const kernel = ({NOTEBOOK})?.sessionContext?.session?.kernel;
          return kernel?.connectionStatus === 'connected' && kernel?.status === 'idle';
        }}""",
        arg=path,
    )


def run(page: Any, path: str, command: str, index: int | None = None) -> None:
    """Run ``command`` on the open notebook ``path``, activated first (other widgets, the
    sidebar too, may hold the focus); ``index`` selects the active cell first."""
    page.evaluate(
        f"""async ([path, command, index]) => {{
          const app = window.jupyterapp;
          const panel = {NOTEBOOK};
          app.shell.activateById(panel.id);
          if (index !== null) {{
            panel.content.activeCellIndex = index;
          }}
          await app.commands.execute(command);
        }}""",
        [path, command, index],
    )


def open_and_run(page: Any, lab: Any, name: str, cells: list[str]) -> None:
    """Write a notebook, open it, run all its cells once its kernel is ready."""
    write_notebook(lab, name, cells)
    open_lab(page, lab, f"lab/tree/{name}")
    wait_kernel(page, name)
    run(page, name, "notebook:run-all-cells")


def wait_for(page: Any, selector: str) -> Any:
    """The first element matching ``selector``, once visible; fails at once, with the error,
    when a cell of the notebook shows an error instead (e.g. an import that failed)."""
    page.wait_for_function(
        """(selector) => document.querySelector(selector)?.checkVisibility() === true
             || document.querySelector('.jp-OutputArea-output[data-mime-type*="error"]')
                !== null""",
        arg=selector,
    )
    error = page.locator('.jp-OutputArea-output[data-mime-type*="error"]')
    assert error.count() == 0, f"a cell failed: {error.first.inner_text()}"
    return page.locator(selector).first


def wait_until(page: Any, predicate: str, arg: Any = None, polling_ms: int = 250) -> None:
    """Poll the async page function ``predicate`` (JavaScript source taking ``arg``) until it
    resolves to a truthy value, within ``TIMEOUT_MS``. ``page.wait_for_function`` cannot do
    this: it takes the Promise an async function returns as the truthy answer and returns
    after the first call, whatever the Promise resolves to."""
    error = page.evaluate(
        f"""async ([arg, polling, timeout]) => {{
          const predicate = ({predicate});
          const deadline = Date.now() + timeout;
          let last;
          while (!(last = await predicate(arg))) {{
            if (Date.now() > deadline) {{
              return `still ${{JSON.stringify(last)}} after ${{timeout}} ms`;
            }}
            await new Promise(resolve => setTimeout(resolve, polling));
          }}
          return null;
        }}""",
        [arg, polling_ms, TIMEOUT_MS],
    )
    assert error is None, f"{predicate} is {error}"


def kernel_value(page: Any, path: str, expression: str) -> str:
    """``repr``-like text (``text/plain``) of ``expression`` evaluated in the kernel of the
    notebook ``path`` (a silent request: nothing is added to the notebook)."""
    return str(
        page.evaluate(
            f"""async ([path, expression]) => {{
              const kernel = ({NOTEBOOK}).sessionContext.session.kernel;
              const future = kernel.requestExecute({{
                code: '', silent: true, store_history: false,
                user_expressions: {{ value: expression }}
              }});
              const reply = await future.done;
              const value = reply.content.user_expressions.value;
              return value.status === 'ok' ? value.data['text/plain'] : value.evalue;
            }}""",
            [path, expression],
        )
    )


def wait_kernel_value(page: Any, path: str, expression: str, expected: str) -> None:
    """Poll ``expression`` in the kernel until its text is ``expected`` (the widget's
    messages reach the kernel asynchronously), within ``TIMEOUT_MS``."""
    wait_until(
        page,
        f"""async ([path, expression, expected]) => {{
          const kernel = ({NOTEBOOK})?.sessionContext?.session?.kernel;
          if (!kernel || kernel.status !== 'idle') {{
            return false;
          }}
          const future = kernel.requestExecute({{
            code: '', silent: true, store_history: false,
            user_expressions: {{ value: expression }}
          }});
          const reply = await future.done;
          const value = reply.content.user_expressions.value;
          window.__mltrackLastKernelValue = value.status === 'ok'
            ? value.data['text/plain'] : value.evalue;
          return window.__mltrackLastKernelValue === expected;
        }}""",
        [path, expression, expected],
    )


def kernel_execute(page: Any, path: str, code: str) -> None:
    """Run ``code`` silently in the kernel of the notebook ``path``; fails on an error."""
    error = page.evaluate(
        f"""async ([path, code]) => {{
          const kernel = ({NOTEBOOK}).sessionContext.session.kernel;
          const reply = await kernel.requestExecute({{ code, silent: true }}).done;
          return reply.content.status === 'ok' ? null : reply.content.evalue;
        }}""",
        [path, code],
    )
    assert error is None, f"{code!r} failed in the kernel: {error}"
