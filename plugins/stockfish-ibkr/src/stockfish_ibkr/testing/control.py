"""A loopback control channel for a fake TWS in another process.

One JSON object per line over TCP on 127.0.0.1. A request names a control method of
:class:`~stockfish_ibkr.testing.FakeTWS` and its JSON-able arguments; the answer carries its
JSON-able result or the error it raised::

    -> {"id": 1, "method": "inject_error", "args": ["placeOrder", 201], "kwargs": {}}
    <- {"id": 1, "result": {"request": "placeOrder", "code": 201, ...}}
    <- {"id": 2, "error": {"type": "ValueError", "message": "..."}}
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from typing import Any

from stockfish_ibkr.testing.fake_tws import FakeTWS

__all__ = ["CONTROL_METHODS", "CONTROL_PROPERTIES", "ControlClient", "ControlError",
           "ControlServer", "call_control", "decode_error"]

CONTROL_METHODS = frozenset({
    "inject_error", "pending_errors", "clear_errors", "drop_connections", "refuse_connections",
    "restart", "set_reply_delay", "stall", "send_error", "connectivity_lost",
    "connectivity_restored", "farm_lost", "farm_restored", "farm_inactive", "farms",
    "kill_streams",
    "reject_next_order", "set_price", "fill_working_orders", "fill_order",
    "cancel_working_orders", "cancel_order_by_tws", "add_external_order", "publish_bulletin",
    "send_garbage", "orders", "forgotten_orders", "positions", "stats", "pacing",
    "subscription_count", "configure", "instrument", "wait_connected_clients",
})
CONTROL_PROPERTIES = frozenset({
    "orders_received", "executions", "errors_sent", "requests_received", "connected_clients",
    "next_valid_id", "port",
})
_MAX_LINE = 1 << 20


class ControlError(RuntimeError):
    """The fake TWS refused a control call (its error type and message are kept)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


_RAISED = {"ValueError": ValueError, "KeyError": KeyError, "TypeError": TypeError}


def decode_error(error: dict[str, Any]) -> Exception:
    """The exception a control answer's ``error`` stands for."""
    kind, message = str(error.get("type", "")), str(error.get("message", ""))
    raised = _RAISED.get(kind)
    return raised(message) if raised is not None else ControlError(kind, message)


def call_control(tws: FakeTWS, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run one control call on ``tws``; the result is JSON-able."""
    if method in CONTROL_PROPERTIES:
        if args or kwargs:
            raise TypeError(f"{method} takes no arguments")
        return getattr(tws, method)
    if method not in CONTROL_METHODS:
        raise ValueError(f"unknown control method {method!r}")
    if method == "instrument":
        return tws.instrument(*args, **kwargs).to_dict()
    return getattr(tws, method)(*args, **kwargs)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(_MAX_LINE)
            if not line:
                return
            self.wfile.write(self._answer(line) + b"\n")
            self.wfile.flush()

    def _answer(self, line: bytes) -> bytes:
        call_id: Any = None
        try:
            request = json.loads(line)
            call_id = request.get("id")
            result = call_control(self.server.tws, str(request["method"]),
                                  list(request.get("args") or []),
                                  dict(request.get("kwargs") or {}))
            return json.dumps({"id": call_id, "result": result}).encode()
        except Exception as exc:  # every failure goes back to the caller, none kills us
            return json.dumps({"id": call_id, "error": {"type": type(exc).__name__,
                                                        "message": str(exc)}}).encode()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], tws: FakeTWS) -> None:
        self.tws = tws
        super().__init__(address, _Handler)


class ControlServer:
    """Serves the control channel of ``tws`` on 127.0.0.1 (port 0 = ephemeral)."""

    def __init__(self, tws: FakeTWS, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), tws)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="fake-tws-control",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


class ControlClient:
    """One connection to a control channel; calls are serialized, each bounded in time."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._file = self._sock.makefile("rwb")
        self._lock = threading.Lock()
        self._ids = 0

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._ids += 1
            payload = {"id": self._ids, "method": method, "args": list(args), "kwargs": kwargs}
            self._file.write(json.dumps(payload).encode() + b"\n")
            self._file.flush()
            line = self._file.readline(_MAX_LINE)
        if not line:
            raise ConnectionError("the fake TWS closed its control channel")
        answer = json.loads(line)
        if "error" in answer:
            raise decode_error(answer["error"])
        return answer["result"]

    def close(self) -> None:
        for closable in (self._file, self._sock):
            try:
                closable.close()
            except OSError:
                pass
