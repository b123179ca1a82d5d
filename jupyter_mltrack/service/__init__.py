"""The store service: the owner process of a DuckDB store and the HTTP API it serves.

ARCHITECTURE.md section 3 and docs/service-design.md describe the design. Modules:

- ``api`` (+ ``api_base``, ``api_routes``): the tornado handlers of the wire protocol,
  shared by the unix-socket service and the jupyter_server extension;
  ``api_thread`` serves an app from a background thread (tests, benchmarks);
- ``serialize``: entities as JSON, tables as Arrow IPC;
- ``transport``: the stdlib HTTP/1.1 client (unix socket or TCP) used by
  :class:`~jupyter_mltrack.store.remote.RemoteStore`;
- ``owner``, ``process``, ``spool``, ``__main__``: owner election, the detached service
  process, the client spool.

Nothing is imported here, so ``import jupyter_mltrack.store.remote.transport`` in a kernel
does not pull in tornado.
"""
