"""Asking gateways how they are, from a test or a script (a :class:`Bus` of its own)."""

from __future__ import annotations

from typing import Any

from stockfish_nats import codec
from stockfish_nats.bus import Bus
from stockfish_nats.settings import BusSettings
from stockfish_nats.subjects import Subjects

__all__ = ["GatewayProbe"]


class GatewayProbe:
    def __init__(self, servers: list[str], gateway: str, **bus_options: Any) -> None:
        self.subjects = Subjects(gateway)
        settings = BusSettings(servers=tuple(servers), **bus_options)  # type: ignore[arg-type]
        self.bus = Bus(settings, "probe")
        self.bus.connect()

    def ask(self, op: str, instance: str | None = None, timeout: float = 2.0) -> Any:
        """``health`` or ``stats`` of one instance (or of whichever answers first); None
        when none answers."""
        subject = self.subjects.gateway_request(f"{instance}.{op}" if instance else op)
        try:
            return codec.decode(self.bus.request(subject, b"", timeout).data)
        except Exception:
            return None

    def session_state(self, instance: str, connector: str) -> str | None:
        health = self.ask("health", instance)
        if health is None:
            return None
        return str(health["sessions"][connector]["state"])

    def close(self) -> None:
        self.bus.close()
