"""``python -m jupyter_mltrack.service --store PATH``: the detached store service."""

from __future__ import annotations

import sys

from .process import main

if __name__ == "__main__":
    sys.exit(main())
