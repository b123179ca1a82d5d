"""The load run of issue 10 at full length: 8 client processes log through a real
``mltrack server`` for 60 s while 2 others search; zero errors and zero loss are asserted,
and the latency percentiles are printed.

It runs the same code as the CI version (``tests/failure/test_server_load.py``, 15 s),
with ``MLTRACK_LOAD_TEST_S`` set::

    python benchmarks/bench_server_load.py            # 60 s
    python benchmarks/bench_server_load.py --seconds 120
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    env = {**os.environ, "MLTRACK_LOAD_TEST_S": str(args.seconds)}
    test = REPO / "tests" / "failure" / "test_server_load.py"
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(test)]
    return subprocess.call(cmd, cwd=REPO, env=env)


if __name__ == "__main__":
    sys.exit(main())
