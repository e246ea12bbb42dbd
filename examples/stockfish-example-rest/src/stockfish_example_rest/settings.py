"""Settings of the ``rest`` connector (attrs only: cheap to import)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
from stockfish_core.settings import ConnectorSettings, Secret, positive

__all__ = ["RestSettings"]


def _port(_: Any, attribute: Any, value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"{attribute.name}: expected a TCP port 1..65535, got {value!r}")


def _at_least_one(_: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name}: must be >= 1, got {value!r}")


def _to_secret(value: Any) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(str(value))


@attrs.frozen(kw_only=True)
class RestSettings(ConnectorSettings):
    """Settings of the ``rest`` connector (a polling HTTP JSON venue).

    - ``host``/``port``: the venue's HTTP endpoint (plain HTTP; loopback in the example).
    - ``api_key``: sent as the ``X-API-Key`` header (masked in logs).
    - ``poll_interval``: seconds between polls of quotes, books and order events.
    - ``request_timeout``: bound on every HTTP request.
    - ``max_failed_polls``: consecutive failed polls (timeout, refused, HTTP 5xx) after which
      the venue is reported lost and the connector reconnects.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8787, validator=_port)
    api_key: Secret | None = attrs.field(default=None, converter=_to_secret)
    poll_interval: float = attrs.field(default=0.1, validator=positive)
    request_timeout: float = attrs.field(default=2.0, validator=positive)
    max_failed_polls: int = attrs.field(default=3, validator=_at_least_one)
    heartbeat_interval: float = attrs.field(default=5.0, validator=positive)

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "REST_HOST": "host", "REST_PORT": "port", "REST_API_KEY": "api_key"}
