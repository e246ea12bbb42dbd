"""HTTP to the venue: one request, its answer, and what an unreachable venue means for
the request (delivered or not)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson

__all__ = ["HTTPAnswer", "VenueUnreachableError", "request"]

# The proxy settings of the environment must never route a venue's loopback traffic.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class VenueUnreachableError(ConnectionError):
    """The request did not get an answer (refused, timed out, HTTP 5xx).

    ``delivered`` is False only when the venue certainly never saw the request (refused)."""

    def __init__(self, message: str, *, delivered: bool | None) -> None:
        super().__init__(message)
        self.delivered = delivered


class HTTPAnswer:
    """A status code and a body."""

    __slots__ = ("body", "code")

    def __init__(self, code: int, body: bytes) -> None:
        self.code = code
        self.body = body


def request(base: str, headers: dict[str, str], timeout: float, method: str, path: str, *,
            body: Any = None) -> HTTPAnswer:
    """One HTTP request; a 4xx is an answer, no answer or a 5xx raises
    :class:`VenueUnreachableError`."""
    data = orjson.dumps(body) if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return HTTPAnswer(resp.status, resp.read())
    except urllib.error.HTTPError as exc:
        body_bytes = exc.read() if exc.fp is not None else b""
        if exc.code >= 500:
            raise VenueUnreachableError(f"{method} {path}: HTTP {exc.code}",
                                        delivered=None) from None
        return HTTPAnswer(exc.code, body_bytes)
    except urllib.error.URLError as exc:
        refused = isinstance(exc.reason, ConnectionRefusedError)
        raise VenueUnreachableError(f"{method} {path}: {exc.reason}",
                                    delivered=False if refused else None) from None
    except (TimeoutError, ConnectionError, OSError) as exc:
        raise VenueUnreachableError(f"{method} {path}: {type(exc).__name__}: {exc}",
                                    delivered=None) from None
