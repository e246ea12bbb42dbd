"""The ``sim`` venue over TCP, so that it can live in another process (crash tests, the
``stockfish-rt venues`` command).

The wire is the in-process model itself, as JSON lines: a client request
``{"id": n, "op": "subscribe", "args": [...]}`` is answered ``{"id": n, "ok": true,
"result": ...}`` (or ``"error"``); the venue's callbacks arrive as ``{"ev": "market" |
"report" | "heartbeat" | "disconnect", ...}``. :class:`RemoteVenue` is what the ``sim``
connector talks to instead of a :class:`~stockfish_core.sim_venue.SimVenue` when its
``address`` setting is set; :func:`serve` runs a venue behind a listening socket, and
``python -m stockfish_core.sim_remote --port N`` runs one in its own process. A test
process can ask the venue for its record (``orders_received``, ``query``, ``fills``) and
inject faults (``drop``, ``refuse_connections``) through :class:`RemoteVenue` too.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import queue
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from stockfish_core.sim_venue import SimSession, SimVenue

__all__ = ["NoAnswerError", "RemoteVenue", "VenueServer", "main", "serve"]

log = logging.getLogger(__name__)

_MAX_LINE = 1 << 20
_OUTBOX = 100_000  # messages queued to a client that stopped reading before it is dropped
#: Venue methods a client may call with its session, and without one.
_SESSION_OPS = frozenset({"connect", "disconnect", "ping", "subscribe", "unsubscribe",
                          "submit", "cancel", "attach"})
_PLAIN_OPS = frozenset({"query", "is_listed", "drop", "drop_after", "refuse_connections",
                        "hang", "inject_malformed", "set_latency", "orders_received",
                        "fills", "order_state", "open_order_ids", "info"})


class NoAnswerError(Exception):
    """A request reached the venue's socket but no answer came back (the link failed or
    the venue hung): whether it was carried out is not known."""


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# =========================================================================== server side
class _Client:
    """One accepted connection: a :class:`SimSession` for the venue, requests for us."""

    def __init__(self, server: VenueServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.outbox: queue.Queue[bytes | None] = queue.Queue(_OUTBOX)
        self.closed = threading.Event()
        self.writer = threading.Thread(target=self._write, daemon=True, name="sim-remote-out")
        self.reader = threading.Thread(target=self._read, daemon=True, name="sim-remote-in")

    def start(self) -> None:
        self.writer.start()
        self.reader.start()

    # -- SimSession (venue thread) ---------------------------------------------------------
    def on_venue_market(self, kind: str, data: dict[str, Any]) -> None:
        self._send({"ev": "market", "kind": kind, "data": data})

    def on_venue_report(self, report: dict[str, Any]) -> None:
        self._send({"ev": "report", "report": report})

    def on_venue_heartbeat(self) -> None:
        self._send({"ev": "heartbeat"})

    def on_venue_disconnect(self, reason: str) -> None:
        self._send({"ev": "disconnect", "reason": reason})
        self.close()

    # -- I/O ---------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        if self.closed.is_set():
            return
        try:
            self.outbox.put_nowait(_dumps(message))
        except queue.Full:  # a client that stopped reading: cut it, as a venue would
            log.warning("sim venue: dropping a client that stopped reading")
            self.close()

    def _write(self) -> None:
        while True:
            data = self.outbox.get()
            if data is None:
                break
            try:
                self.sock.sendall(data)
            except OSError:
                break
        self.close()

    def _read(self) -> None:
        buffer = self.sock.makefile("rb")
        try:
            while not self.closed.is_set():
                line = buffer.readline(_MAX_LINE)
                if not line:
                    break
                self._handle(line)
        except OSError:
            pass
        finally:
            self.close()

    def _handle(self, line: bytes) -> None:
        try:
            request = json.loads(line)
            rid, op, args = request["id"], request["op"], list(request.get("args", []))
        except (ValueError, KeyError, TypeError):
            self._send({"ev": "error", "error": "malformed request"})
            return
        try:
            result = self.server.call(self, op, args)
        except Exception as exc:  # answered to the caller, whatever it is
            self._send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                        "kind": type(exc).__name__})
            return
        self._send({"id": rid, "ok": True, "result": result})

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.server.forget(self)
        try:
            self.outbox.put_nowait(None)
        except queue.Full:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class VenueServer:
    """A :class:`SimVenue` behind a listening socket on 127.0.0.1."""

    def __init__(self, venue: SimVenue, port: int = 0, host: str = "127.0.0.1") -> None:
        self.venue = venue
        self.listener = socket.create_server((host, port), reuse_port=False)
        self.listener.settimeout(0.2)
        self.host, self.port = self.listener.getsockname()[:2]
        self.clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True,
                                        name=f"sim-remote-{venue.name}")
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = _Client(self, sock)
            with self._lock:
                self.clients.add(client)
            client.start()

    def forget(self, client: _Client) -> None:
        with self._lock:
            self.clients.discard(client)
        self.venue.disconnect(client)

    def call(self, client: _Client, op: str, args: list[Any]) -> Any:
        venue = self.venue
        if op in _SESSION_OPS:
            return getattr(venue, op)(client, *args)
        if op not in _PLAIN_OPS:
            raise ValueError(f"unknown operation {op!r}")
        if op == "set_latency":
            venue.latency = float(args[0])
            return None
        if op == "orders_received":
            return dict(venue.orders_received)
        if op == "fills":
            return list(venue.fills)
        if op == "info":
            return {"name": venue.name, "connects": venue.connects,
                    "sessions": len(venue.sessions)}
        return getattr(venue, op)(*args)

    def stop(self) -> None:
        self._stopped.set()
        self.listener.close()
        self._thread.join(2.0)
        with self._lock:
            clients = list(self.clients)
        for client in clients:
            client.close()


def serve(name: str = "sim", port: int = 0, **options: Any) -> VenueServer:
    """Start a venue (``SimVenue.get(name, **options)``) behind a socket; returns it."""
    return VenueServer(SimVenue.get(name, **options), port)


# =========================================================================== client side
class RemoteVenue:
    """A :class:`SimVenue` in another process, with the methods the ``sim`` connector and
    tests call. One TCP connection per :meth:`connect`ed session; plain calls (the record,
    faults) use a connection of their own."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.timeout = timeout
        self._links: dict[int, _Link] = {}  # id(session) -> its link
        self._plain: _Link | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def _plain_link(self) -> _Link:
        with self._lock:
            link = self._plain
            if link is None or link.closed.is_set():
                link = self._plain = _Link(self, None)
            return link

    # -- session methods -----------------------------------------------------------------
    def connect(self, session: SimSession) -> None:
        link = _Link(self, session)
        try:
            link.call("connect")
        except BaseException:
            link.close("connect failed")
            raise
        with self._lock:
            self._links[id(session)] = link

    def disconnect(self, session: SimSession) -> None:
        with self._lock:
            link = self._links.pop(id(session), None)
        if link is not None:
            try:
                link.call("disconnect")
            except (ConnectionError, NoAnswerError):
                pass
            link.close("disconnected by the client", notify=False)

    def _session_call(self, session: SimSession, op: str, *args: Any) -> Any:
        with self._lock:
            link = self._links.get(id(session))
        if link is None:
            raise ConnectionError("not connected to the sim venue")
        return link.call(op, *args)

    def ping(self, session: SimSession) -> bool:
        try:
            return bool(self._session_call(session, "ping"))
        except (ConnectionError, NoAnswerError):
            return False

    def subscribe(self, session: SimSession, kind: str, symbol: str = "") -> bool:
        return bool(self._session_call(session, "subscribe", kind, symbol))

    def unsubscribe(self, session: SimSession, symbol: str) -> None:
        self._session_call(session, "unsubscribe", symbol)

    def submit(self, session: SimSession, msg: dict[str, Any]) -> None:
        self._session_call(session, "submit", msg)

    def cancel(self, session: SimSession, client_order_id: str) -> bool:
        return bool(self._session_call(session, "cancel", client_order_id))

    def attach(self, session: SimSession, client_order_ids: list[str]) -> None:
        self._session_call(session, "attach", client_order_ids)

    # -- plain methods ---------------------------------------------------------------------
    def query(self, client_order_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        result: dict[str, dict[str, Any] | None] = self._plain_link().call("query",
                                                                          client_order_ids)
        return result

    def order_state(self, client_order_id: str) -> dict[str, Any] | None:
        return self.query([client_order_id])[client_order_id]

    def orders_received_count(self, client_order_id: str) -> int:
        received: dict[str, int] = self._plain_link().call("orders_received")
        return int(received.get(client_order_id, 0))

    def orders_received(self) -> dict[str, int]:
        received: dict[str, int] = self._plain_link().call("orders_received")
        return received

    def fills(self) -> list[dict[str, Any]]:
        fills: list[dict[str, Any]] = self._plain_link().call("fills")
        return fills

    def open_order_ids(self) -> list[str]:
        ids: list[str] = self._plain_link().call("open_order_ids")
        return ids

    def drop(self, reason: str = "venue dropped the connection") -> int:
        return int(self._plain_link().call("drop", reason))

    def refuse_connections(self, seconds: float) -> None:
        self._plain_link().call("refuse_connections", seconds)

    def close(self) -> None:
        with self._lock:
            links = [*self._links.values(), *([self._plain] if self._plain else [])]
            self._links.clear()
            self._plain = None
        for link in links:
            link.close("closed", notify=False)


class _Link:
    """One TCP connection to the venue: requests with replies, and (for a session) the
    venue's callbacks dispatched on this link's reader thread."""

    def __init__(self, venue: RemoteVenue, session: SimSession | None) -> None:
        self.venue = venue
        self.session = session
        self.closed = threading.Event()
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._send_lock = threading.Lock()
        try:
            self.sock = socket.create_connection((venue.host, venue.port), venue.timeout)
        except OSError as exc:
            raise ConnectionRefusedError(f"sim venue at {venue.name}: {exc}") from exc
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"sim-remote-link-{venue.port}")
        self._reader.start()

    def call(self, op: str, *args: Any) -> Any:
        if self.closed.is_set():
            raise ConnectionError(f"sim venue at {self.venue.name}: connection closed")
        rid = next(self._ids)
        done = threading.Event()
        slot: list[Any] = []
        self._waiting[rid] = (done, slot)
        try:
            with self._send_lock:
                self.sock.sendall(_dumps({"id": rid, "op": op, "args": list(args)}))
        except OSError as exc:  # a line the venue did not read whole is never carried out
            self._waiting.pop(rid, None)
            self.close(f"send failed: {exc}")
            raise ConnectionError(f"sim venue at {self.venue.name}: {exc}") from exc
        try:
            if not done.wait(self.venue.timeout):
                raise NoAnswerError(f"sim venue at {self.venue.name}: no answer to {op} "
                                    f"within {self.venue.timeout:g}s")
        finally:
            self._waiting.pop(rid, None)
        if not slot:
            raise NoAnswerError(f"sim venue at {self.venue.name}: connection lost during {op}")
        reply = slot[0]
        if reply.get("ok"):
            return reply.get("result")
        kind, error = reply.get("kind"), reply.get("error", "venue error")
        raise _ERRORS.get(kind, RuntimeError)(error)

    def _read(self) -> None:
        reason = "the sim venue closed the connection"
        buffer = self.sock.makefile("rb")
        try:
            while True:
                line = buffer.readline(_MAX_LINE)
                if not line:
                    break
                message = json.loads(line)
                if "id" in message:
                    waiting = self._waiting.get(message["id"])
                    if waiting is not None:
                        waiting[1].append(message)
                        waiting[0].set()
                    continue
                if message.get("ev") == "disconnect":
                    reason = str(message.get("reason", reason))
                    break
                self._dispatch(message)
        except (OSError, ValueError) as exc:
            reason = f"sim venue connection failed: {exc}"
        self.close(reason)

    def _dispatch(self, message: dict[str, Any]) -> None:
        session = self.session
        if session is None:
            return
        ev = message.get("ev")
        if ev == "market":
            session.on_venue_market(message["kind"], message["data"])
        elif ev == "report":
            session.on_venue_report(message["report"])
        elif ev == "heartbeat":
            session.on_venue_heartbeat()

    def close(self, reason: str, notify: bool = True) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for done, _slot in list(self._waiting.values()):
            done.set()  # an empty slot: "connection lost"
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if notify and self.session is not None:
            self.session.on_venue_disconnect(reason)


_ERRORS: dict[str, Callable[[str], Exception]] = {
    "ConnectionRefusedError": ConnectionRefusedError, "ConnectionError": ConnectionError,
    "ValueError": ValueError, "KeyError": KeyError, "TimeoutError": TimeoutError,
}


# =========================================================================== process runner
def main(argv: list[str] | None = None) -> int:
    """``python -m stockfish_core.sim_remote``: a sim venue on 127.0.0.1 until SIGINT or
    SIGTERM. Prints one JSON line: the ``sim`` connector's configuration entry."""
    from stockfish_core.lifecycle import StopRequested, handle_stop_signals

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--name", default="sim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick-interval", type=float, default=0.02)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--top-size", type=float, default=100.0)
    args = parser.parse_args(argv)
    stop = handle_stop_signals(bound=5.0)
    server = serve(args.name, args.port, seed=args.seed, tick_interval=args.tick_interval,
                   top_size=args.top_size)
    server.venue.latency = args.latency
    print(json.dumps({"type": "sim", "address": server.address, "pid": os.getpid()}),
          flush=True)
    try:
        stop.wait()
    except StopRequested:
        pass
    finally:
        server.stop()
        server.venue.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
