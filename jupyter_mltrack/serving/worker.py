"""One scoring worker: ``python -m jupyter_mltrack.serving.worker LISTEN_FD READY_FD GRACE_S``.

Started by :func:`.server.serve` only. Loads the model, writes one byte to ``READY_FD``,
then runs the :class:`~.app.ScoringApp` under uvicorn on the inherited listening socket.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys

from ..errors import MltrackError


def main(argv: list[str]) -> int:
    from .app import ScoringApp, ServeOptions
    from .server import ENV_OPTIONS, EXIT_LOAD_FAILED

    listen_fd, ready_fd, grace_s = int(argv[0]), int(argv[1]), float(argv[2])
    logging.basicConfig(level=logging.INFO, format="[worker %(process)d] %(message)s")
    options = ServeOptions(**json.loads(os.environ[ENV_OPTIONS]))
    app = ScoringApp(options)
    try:
        app.load()
    except MltrackError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return EXIT_LOAD_FAILED
    except Exception as exc:  # the model's own import or load error, in one line
        line = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"error: could not load {options.model_uri}: {line}", file=sys.stderr, flush=True)
        return EXIT_LOAD_FAILED

    import uvicorn

    config = uvicorn.Config(
        app,
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(grace_s) or None,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)

    def recycle() -> None:  # a prediction is stuck in its thread: finish the rest, then go
        server.should_exit = True

    app.on_stuck = recycle
    sock = socket.socket(fileno=listen_fd)
    os.write(ready_fd, b"R")
    os.close(ready_fd)
    server.run(sockets=[sock])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # a stuck prediction thread must not keep the process alive


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
