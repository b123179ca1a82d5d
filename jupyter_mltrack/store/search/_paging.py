"""Opaque page tokens for ``search_runs``: an offset bound to the search that produced it.

A token is URL-safe base64 of ``{"v": 1, "offset": <int>, "fp": <fingerprint>}``. The
fingerprint (:func:`search_fingerprint`) hashes what defines the result order: experiment
ids, filter, order-by and run view type. Reusing a token with another search is refused
rather than silently returning a page of a different list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence

from ...errors import InvalidParameter

__all__ = ["decode_page_token", "encode_page_token", "search_fingerprint"]

_VERSION = 1
#: Real tokens are ~80 characters; anything far longer is not one of ours.
_MAX_TOKEN_CHARS = 1024
_GARBLED = (
    "The page token is malformed; pass the next_page_token returned by the previous search "
    "unchanged, or omit it to start from the first page."
)


def search_fingerprint(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[str] | None = None,
    run_view_type: str | int | None = None,
) -> str:
    """A short hash identifying one search; experiment id order does not matter.

    Example::

        fp = search_fingerprint(["1", "2"], "metrics.acc > 0.9", ["metrics.acc DESC"])
        # a 32-character hex string; the same for ["2", "1"]
    """
    payload = json.dumps(
        [
            sorted(str(e) for e in experiment_ids),
            filter_string or "",
            list(order_by or []),
            run_view_type,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def encode_page_token(offset: int, fingerprint: str) -> str:
    """Encode the offset of the next page of the search identified by ``fingerprint``.

    Example::

        token = encode_page_token(100, fp)
        assert decode_page_token(token, fp) == 100
    """
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative int, got {offset!r}")
    body = json.dumps({"v": _VERSION, "offset": offset, "fp": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode("utf-8")).decode("ascii")


def decode_page_token(token: str, fingerprint: str) -> int:
    """Return the offset stored in ``token`` after checking it belongs to this search.

    Raises:
        InvalidParameter: when the token is garbled, or was issued for a different search
            (other experiment ids, filter, order-by or view type).
    """
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise InvalidParameter(_GARBLED)
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidParameter(_GARBLED) from None
    if not isinstance(body, dict) or body.get("v") != _VERSION:
        raise InvalidParameter(_GARBLED)
    offset = body.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameter(_GARBLED)
    if body.get("fp") != fingerprint:
        raise InvalidParameter(
            "The page token was issued for a different search (experiment ids, filter, "
            "order_by or view type changed); repeat the search without a page token."
        )
    return offset
