"""When and how long a client retries a request: exponential backoff with jitter.

Used by the transport of :class:`~.service_store.ServiceStore` (and so of
:class:`~.server_store.ServerStore`). What may be retried at all is decided there
(``_may_retry``: a request that never reached the server, reads, PATCH, heartbeats, and
metric batches carrying a ``(client_id, seq)``, whose ingest is idempotent); this module
decides how often and how long.

- the local store service (``LOCAL_POLICY``): three attempts, no sleep, because each
  retry first finds (or starts) the next owner, which waits by itself;
- a team server (:meth:`RetryPolicy.for_server`): attempts until ``budget_s`` is spent,
  sleeping ``min(cap_s, base_s * 2**n)`` scaled by a random factor in ``[0.5, 1)``
  ("equal jitter"), so clients that lost the server together do not come back in step.
  Answers 429, 500, 502, 503 and 504 are retried too (503 even for a non-idempotent
  write: the server refused it before doing anything).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ...settings import http_retry_timeout_s

__all__ = ["LOCAL_POLICY", "RETRY_STATUSES", "RetryPolicy"]

#: HTTP statuses worth another attempt (the server is restarting, overloaded or sick).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times and how long to retry one request.

    Attributes:
        max_attempts: attempts in all (the first one included); ``None``: no limit.
        budget_s: stop retrying once this long has passed since the first attempt.
        base_s, cap_s: the backoff, ``min(cap_s, base_s * 2**n)`` before attempt ``n + 1``.
        jitter: scale each sleep by a random factor in ``[0.5, 1)``.
        retry_statuses: retry these answers (besides connection errors).
    """

    max_attempts: int | None = 3
    budget_s: float | None = None
    base_s: float = 0.0
    cap_s: float = 0.0
    jitter: bool = False
    retry_statuses: frozenset[int] = frozenset()

    @classmethod
    def for_server(cls, budget_s: float | None = None) -> RetryPolicy:
        """The team-server policy; ``budget_s`` defaults to ``MLTRACK_HTTP_RETRY_TIMEOUT_S``."""
        return cls(
            max_attempts=None,
            budget_s=http_retry_timeout_s() if budget_s is None else budget_s,
            base_s=0.05,
            cap_s=2.0,
            jitter=True,
            retry_statuses=RETRY_STATUSES,
        )

    def schedule(self) -> Iterator[float]:
        """Sleeps before each retry; ends when no retry is left (attempts or budget)."""
        started = time.monotonic()
        attempt = 1
        while self.max_attempts is None or attempt < self.max_attempts:
            delay = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
            if self.jitter:
                delay *= 0.5 + random.random() / 2
            if self.budget_s is not None:
                left = self.budget_s - (time.monotonic() - started)
                if left <= 0:
                    return
                delay = min(delay, left)
            yield delay
            attempt += 1


#: The local store service's policy: three attempts, each on the owner found anew.
LOCAL_POLICY = RetryPolicy()
