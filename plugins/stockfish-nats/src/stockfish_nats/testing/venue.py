"""A ``sim`` venue in a process of its own that also keeps the record of its sessions: every
logon and logoff, and the most sessions it ever had at once (two gateways logged on to one
venue session at the same time would show here as 2).

``python -m stockfish_nats.testing.venue [--port N] [--tick-interval S]`` prints one JSON
line (``{"type": "sim", "address", "pid"}``) and serves until SIGTERM / SIGINT or until its
parent is gone. :class:`VenueRecord` asks it for its record over the same socket
(``session_record``, and the core's ``orders_received``, ``fills``, ``query``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from stockfish_core.sim_remote import VenueServer
from stockfish_core.sim_venue import SimSession, SimVenue

__all__ = ["RecordingVenue", "VenueRecord", "main"]


class RecordingVenue(SimVenue):
    """A :class:`SimVenue` that records its sessions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_sessions = 0
        self.logons = 0
        self.session_log: list[tuple[float, str, int]] = []
        self._record_lock = threading.Lock()

    def connect(self, session: SimSession) -> None:
        super().connect(session)
        with self._record_lock:
            self.logons += 1
            now = len(self.sessions)
            self.max_sessions = max(self.max_sessions, now)
            self.session_log.append((time.time(), "logon", now))

    def disconnect(self, session: SimSession) -> None:
        known = session in self.sessions
        super().disconnect(session)
        if known:
            with self._record_lock:
                self.session_log.append((time.time(), "logoff", len(self.sessions)))

    def record(self) -> dict[str, Any]:
        with self._record_lock:
            return {"max_sessions": self.max_sessions, "logons": self.logons,
                    "sessions": len(self.sessions), "log": list(self.session_log)}


class _RecordingServer(VenueServer):
    def call(self, client: Any, op: str, args: list[Any]) -> Any:
        if op == "session_record":
            venue = self.venue
            assert isinstance(venue, RecordingVenue)
            return venue.record()
        return super().call(client, op, args)


class VenueRecord:
    """Read a venue process's record (one short connection per call)."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self._ids = itertools.count(1)

    def call(self, op: str, *args: Any) -> Any:
        rid = next(self._ids)
        with socket.create_connection((self.host, self.port), self.timeout) as sock:
            sock.settimeout(self.timeout)
            sock.sendall(json.dumps({"id": rid, "op": op, "args": list(args)}).encode() + b"\n")
            stream = sock.makefile("rb")
            while True:
                line = stream.readline(1 << 24)
                if not line:
                    raise ConnectionError("the venue closed the connection")
                message = json.loads(line)
                if message.get("id") == rid:
                    if not message.get("ok"):
                        raise RuntimeError(message.get("error"))
                    return message.get("result")

    def session_record(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("session_record")
        return result

    def orders_received(self) -> dict[str, int]:
        result: dict[str, int] = self.call("orders_received")
        return result

    def fills(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("fills")
        return result

    def query(self, ids: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = self.call("query", ids)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="sim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick-interval", type=float, default=0.02)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    venue = RecordingVenue(args.name, seed=args.seed, tick_interval=args.tick_interval)
    server = _RecordingServer(venue, args.port)
    print(json.dumps({"type": "sim", "address": server.address, "pid": os.getpid()}),
          flush=True)
    while not stop.wait(0.5):
        if args.parent_pid and os.getppid() != args.parent_pid:
            break
    server.stop()
    venue.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
