"""``%%track`` (a cell becomes a run) and ``%track_experiment`` (the notebook's experiment).

A ``%%track`` cell runs inside a run started with :func:`jupyter_mltrack.start_run`, so the
run has the environment and git state every run gets, plus the notebook path, the cell's
execution count and id, its source (``code/cell.py``) and the cells run before it
(``code/history.py``). Params are the names given with ``--params``, else the cell's simple
literal assignments, with their values after the cell. The run ends FINISHED, FAILED when
the cell raises (the exception reaches the notebook unchanged) or KILLED on an interrupt.

The magics go through the fluent API and the tracking client only (docs/architecture.md).
"""

from __future__ import annotations

import ast
import sys
import warnings
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, output_can_be_silenced

from ..entities import Experiment, Param, RunStatus
from ..errors import InvalidParameter, InvalidState, MltrackError
from ..tracking import fluent, fluent_ops
from ..tracking.capture import jupyter_session_name
from .args import TrackArgs, parse_experiment_line, parse_track_line
from .capture import (
    ARTIFACT_CELL,
    ARTIFACT_HISTORY,
    TAG_CELL_EXECUTION_COUNT,
    TAG_CELL_ID,
    TAG_NOTEBOOK_PATH,
    history_text,
    literal_assignments,
    param_value,
)

__all__ = ["CellEvents", "TrackMagics"]


def _warn(message: str) -> None:
    # Shown as "%%track: UserWarning: ..." without a source line from our internals.
    warnings.warn_explicit(message, UserWarning, filename="%%track", lineno=0)


class CellEvents:
    """IPython's ``pre_run_cell`` / ``post_run_cell`` hooks, for what a magic cannot see.

    ``pre_run_cell`` gives the raw cell and the frontend's cell id. ``post_run_cell`` notes
    the runs that a failed cell started and left active (a ``mt.start_run()`` without
    ``with`` before the line that raised): the next ``%%track`` ends them instead of being
    blocked by them.
    """

    def __init__(self) -> None:
        self.raw_cell: str | None = None
        self.cell_id: str | None = None
        self._before: set[str] = set()
        #: run id -> (status to end it with, execution count of the cell that left it)
        self.abandoned: dict[str, tuple[str, int | None]] = {}

    def pre_run_cell(self, info: Any) -> None:
        self.raw_cell = getattr(info, "raw_cell", None)
        cell_id = getattr(info, "cell_id", None)
        self.cell_id = cell_id if isinstance(cell_id, str) and cell_id else None
        self._before = {r.run_id for r in fluent.active_run_stack()}

    def post_run_cell(self, result: Any) -> None:
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if error is None:
            return
        status = RunStatus.KILLED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
        count = getattr(result, "execution_count", None)
        for run in fluent.active_run_stack():
            if run.run_id not in self._before:
                self.abandoned.setdefault(run.run_id, (status, count))

    def end_abandoned(self) -> None:
        """End the runs failed cells left on top of the stack, saying so on stderr."""
        while (top := fluent.active_run()) is not None and top.run_id in self.abandoned:
            status, count = self.abandoned.pop(top.run_id)
            fluent.end_run(status)
            cell = f"cell [{count}]" if count is not None else "a cell"
            print(
                f"mltrack: run {top.info.run_name!r} ({top.run_id}) was left active by {cell}, "
                f"which failed; it is now ended {status}.",
                file=sys.stderr,
            )
        active = {r.run_id for r in fluent.active_run_stack()}
        for run_id in set(self.abandoned) - active:
            del self.abandoned[run_id]


@magics_class
class TrackMagics(Magics):
    """The ``%%track`` cell magic and the ``%track_experiment`` line magic."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.events = CellEvents()

    @output_can_be_silenced
    @cell_magic
    def track(self, line: str, cell: str) -> Any:
        """Run the cell inside a run; show its live metric plot under the cell.

        Usage::

            %%track [--name N] [--experiment E] [--params a,b,c] [--tags k=v ...]
                    [--no-live] [--nested]

        --name N         run name (``{var}`` expands a notebook variable)
        --experiment E   experiment of this run (created if missing); default: the
                         notebook's (``%track_experiment``, ``mt.set_experiment``)
        --params a,b,c   log exactly these variables (after the cell) as params; by
                         default the cell's top-level literal assignments (``lr = 0.01``)
        --tags k=v ...   extra run tags
        --no-live        no live plot under the cell
        --nested         a child run of the active run

        The run ends FINISHED, FAILED if the cell raises, KILLED on an interrupt; the
        exception still reaches the notebook. The value of the cell's last expression is
        the cell's output, as without the magic. Recorded tags and artifacts:
        docs/notebooks.md.
        """
        __tracebackhide__ = True
        return TrackedCell(self.shell, self.events, parse_track_line(line), cell).run()

    @line_magic
    def track_experiment(self, line: str) -> Experiment:
        """Set the experiment of the notebook's runs: ``%track_experiment NAME``.

        Creates the experiment when it does not exist; the same as
        ``mt.set_experiment("NAME")``. Returns the experiment (shown richly).
        """
        return fluent.set_experiment(parse_experiment_line(line))


class TrackedCell:
    """One execution of a ``%%track`` cell: compile, start the run, run the cell, end it."""

    def __init__(self, shell: Any, events: CellEvents, args: TrackArgs, cell: str) -> None:
        self.shell = shell
        self.events = events
        self.args = args
        self.cell = cell
        self.count: int = shell.execution_count
        self.literal_names: list[str] = []

    def run(self) -> Any:
        __tracebackhide__ = True
        tree, filename = self._compile()  # a syntax error starts no run
        experiment_id = self._experiment_id()
        self.events.end_abandoned()
        active = fluent.active_run()
        if active is not None and not self.args.nested:
            raise InvalidState(
                f"Run {active.info.run_name!r} ({active.run_id}) is active in this kernel, "
                "started outside %%track. End it with mt.end_run(), or use %%track --nested "
                "to make this cell's run its child."
            )
        run = fluent.start_run(
            experiment_id=experiment_id,
            run_name=self.args.name,
            nested=self.args.nested,
            tags=self._tags(),
        )
        try:
            self._log_code()
            if self.args.live:
                self._show_live_plot(run)
            value = self._execute(tree, filename)
        except KeyboardInterrupt:
            self._finish(run, RunStatus.KILLED, failed=True)
            raise
        except BaseException:
            self._finish(run, RunStatus.FAILED, failed=True)
            raise
        self._finish(run, RunStatus.FINISHED, failed=False)
        return value

    # ------------------------------------------------------------------ before the cell
    def _compile(self) -> tuple[ast.Module, str]:
        """Parse the cell (IPython syntax included) with line numbers as in the notebook.

        The source is registered under the notebook cell's own code name, so tracebacks
        say ``Cell In[n], line k`` with the cell's lines and the debugger maps it too.
        """
        shell = self.shell
        python = shell.transform_cell(self.cell)
        raw = self.events.raw_cell
        lines = raw.splitlines() if raw else []
        magic_line = next(
            (i for i, text in enumerate(lines) if text.lstrip().startswith("%%track")), None
        )
        if raw is not None and magic_line is not None and self.cell.rstrip("\n") in raw:
            offset, shown, name_code = magic_line + 1, raw, raw
        else:  # run through run_cell_magic from code, not as a notebook cell
            offset, shown, name_code = 0, python, self.cell
        filename = shell.compile.cache(shown, self.count, raw_code=name_code)
        tree = shell.compile.ast_parse("\n" * offset + python, filename=filename)
        self.literal_names = literal_assignments(tree)
        transformed = shell.transform_ast(tree)
        return (transformed if transformed is not None else tree), filename

    def _experiment_id(self) -> str | None:
        name = self.args.experiment
        if name is None:
            return None
        experiment = fluent.get_client().get_or_create_experiment(name)
        if experiment.lifecycle_stage != "active":
            raise InvalidState(
                f"Experiment {name!r} (id {experiment.experiment_id}) is deleted; restore it "
                f"with mt.restore_experiment('{experiment.experiment_id}') or choose another "
                "name."
            )
        return experiment.experiment_id

    def _tags(self) -> dict[str, str]:
        tags = {TAG_CELL_EXECUTION_COUNT: str(self.count)}
        notebook = jupyter_session_name()
        if notebook:
            tags[TAG_NOTEBOOK_PATH] = notebook
        if self.events.cell_id:
            tags[TAG_CELL_ID] = self.events.cell_id
        tags.update(self.args.tags)
        return tags

    def _log_code(self) -> None:
        fluent_ops.log_text(self.cell, ARTIFACT_CELL)
        # IPython's own list (index n is In[n]); the running cell is its last entry. Its
        # position, not the execution count, marks the end: the count can run ahead of the
        # list (a kernel that counted an execution it did not store).
        raw_history = list(getattr(self.shell.history_manager, "input_hist_raw", []))
        end = len(raw_history)
        if end > 1 and self.cell.strip() and self.cell.strip() in raw_history[-1]:
            end -= 1
        before = raw_history[1 : min(end, self.count)]
        if before:
            fluent_ops.log_text(history_text(before, first_count=1), ARTIFACT_HISTORY)

    def _show_live_plot(self, run: fluent.ActiveRun) -> None:
        try:
            from ..widgets import LivePlot

            plot = LivePlot(run)  # it stops polling when the run ends
        except Exception as exc:  # the plot is an extra: the cell runs without it
            _warn(
                f"No live plot for this run ({type(exc).__name__}: {exc}). The run is "
                "tracked as usual; %%track --no-live skips the plot."
            )
            return
        from IPython.display import display

        display(plot)

    # ---------------------------------------------------------------------- the cell
    def _execute(self, tree: ast.Module, filename: str) -> Any:
        """Run the cell in the user namespace; the last expression's value is returned."""
        __tracebackhide__ = True
        compiler, user_ns = self.shell.compile, self.shell.user_ns
        body = list(tree.body)
        last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
        if last is not None:
            body.pop()
        exec(compiler(ast.Module(body, type_ignores=[]), filename, "exec"), user_ns)
        if last is None:
            return None
        return eval(compiler(ast.Expression(last.value), filename, "eval"), user_ns)

    # ------------------------------------------------------------------- after the cell
    def _finish(self, run: fluent.ActiveRun, status: str, *, failed: bool) -> None:
        """Log the params, end runs the cell left open and the cell's run.

        After a failure nothing raises from here (problems become one warning), so the
        cell's own exception is what the notebook shows.
        """
        __tracebackhide__ = True
        try:
            missing, problems = self._log_params(run)
            self._end(run, status)
        except Exception as exc:
            if not failed:
                raise
            # the cell's own exception is the one to show; this one is said once
            _warn(
                f"Run {run.run_id} could not be completed after the cell failed "
                f"({type(exc).__name__}: {exc})."
            )
            return
        explicit = self.args.params is not None
        if not failed and explicit and (missing or problems):
            what = []
            if missing:
                what.append(
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not defined "
                    "after the cell"
                )
            what += problems
            raise InvalidParameter(
                f"%%track --params: {'; '.join(what)}. The cell ran and run {run.run_id} "
                f"ended {status}; log the value with "
                f"mt.MlflowClient().log_param({run.run_id!r}, key, value)."
            )
        if problems and not explicit:
            _warn("Some params of run " + run.run_id + " were not logged: " + "; ".join(problems))

    def _log_params(self, run: fluent.ActiveRun) -> tuple[list[str], list[str]]:
        """Log the params; return (names not defined, problems as sentences)."""
        user_ns = self.shell.user_ns
        if self.args.params is not None:
            names = list(self.args.params)
        else:
            names = [n for n in self.literal_names if n in user_ns and param_value(user_ns[n])]
        missing = [n for n in names if n not in user_ns]
        params = [Param(n, str(user_ns[n])) for n in names if n in user_ns]
        if not params:
            return missing, []
        try:
            run.client.log_batch(run.run_id, params=params)
            return missing, []
        except MltrackError:
            pass  # one bad param (too long, already logged differently): log the others
        problems = []
        for param in params:
            try:
                run.client.log_batch(run.run_id, params=[param])
            except MltrackError as exc:
                problems.append(f"{param.key}: {exc}")
        return missing, problems

    def _end(self, run: fluent.ActiveRun, status: str) -> None:
        """End the runs the cell started and left open (inner first), then the cell's."""
        if not any(r is run for r in fluent.active_run_stack()):
            return  # the cell ended its run itself (mt.end_run())
        while fluent.active_run() is not run:
            fluent.end_run(status)
        fluent.end_run(status)
