"""Reproducible projects: MLproject folders and git repositories run as tracked runs.

``mt.projects.run(uri, entry_point="main", parameters={...})`` (and ``mltrack run``) runs an
entry point -- an ``MLproject`` command, a ``.py``/``.sh`` file or a notebook -- in its
environment and records it as one run. :mod:`.reproduce` writes a project back from a run's
record; :mod:`.templates` starts a new project. See docs/projects.md.
"""

from __future__ import annotations

from .envs import ENV_MANAGERS, Environment, prepare_environment
from .errors import ExecutionFailed
from .fetch import fetch_project
from .runner import SubmittedRun, prepare, run
from .spec import EntryPoint, Parameter, Project, load_project

__all__ = [
    "ENV_MANAGERS",
    "EntryPoint",
    "Environment",
    "ExecutionFailed",
    "Parameter",
    "Project",
    "SubmittedRun",
    "fetch_project",
    "load_project",
    "prepare",
    "prepare_environment",
    "run",
]
