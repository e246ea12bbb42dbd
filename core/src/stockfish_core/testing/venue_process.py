"""A simulated venue in a process of its own, driven from the test process.

Crash tests kill the trading process while its venue keeps its orders and fills, then
restart it against the same venue: the venue must live elsewhere. This module gives any
venue class that:

- in the child, :func:`run_venue` (the body of a ``python -m <plugin>.testing`` runner):
  makes the venue from ``--options`` (JSON), starts it, serves its control methods over a
  loopback channel, prints one JSON line (the venue's connector entry plus
  ``control_port`` and ``pid``), and runs until SIGINT or SIGTERM (a clean stop), until
  ``--lifetime`` seconds have passed, or until ``--parent-pid`` is gone. Closing standard
  input does not stop it.
- in the test, :class:`VenueProcess`: starts the child, reads its line, and calls its
  control methods under the venue's own names; it signals and kills only its own child, by
  pid, and every wait is bounded.

The control channel: one JSON object per line over TCP on 127.0.0.1::

    -> {"id": 1, "method": "drop_connections", "args": [], "kwargs": {}}
    <- {"id": 1, "result": 1}
    <- {"id": 2, "error": {"type": "ValueError", "message": "..."}}
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from stockfish_core.testing.processes import kill_process, stop_process

__all__ = ["ControlClient", "ControlError", "ControlServer", "VenueProcess", "decode_error",
           "run_venue"]

_MAX_LINE = 1 << 20
_POLL_S = 0.5  # how often the child checks its parent and lifetime


class ControlError(RuntimeError):
    """The venue refused a control call (its error type and message are kept)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


_RAISED: dict[str, type[Exception]] = {"ValueError": ValueError, "KeyError": KeyError,
                                       "TypeError": TypeError}


def decode_error(error: dict[str, Any]) -> Exception:
    """The exception a control answer's ``error`` stands for."""
    kind, message = str(error.get("type", "")), str(error.get("message", ""))
    raised = _RAISED.get(kind)
    return raised(message) if raised is not None else ControlError(kind, message)


#: ``call(target, method, args, kwargs) -> JSON-able result``
Dispatch = Callable[[Any, str, list[Any], dict[str, Any]], Any]


def plain_dispatch(methods: Collection[str], properties: Collection[str]) -> Dispatch:
    """Call ``methods`` and read ``properties`` of the target, nothing else."""

    def dispatch(target: Any, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if method in properties:
            if args or kwargs:
                raise TypeError(f"{method} takes no arguments")
            return getattr(target, method)
        if method not in methods:
            raise ValueError(f"unknown control method {method!r}")
        return getattr(target, method)(*args, **kwargs)

    return dispatch


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
            result = self.server.dispatch(self.server.target, str(request["method"]),
                                          list(request.get("args") or []),
                                          dict(request.get("kwargs") or {}))
            return json.dumps({"id": call_id, "result": result}).encode()
        except Exception as exc:  # every failure goes back to the caller, none kills us
            return json.dumps({"id": call_id, "error": {"type": type(exc).__name__,
                                                        "message": str(exc)}}).encode()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], target: Any, dispatch: Dispatch) -> None:
        self.target = target
        self.dispatch = dispatch
        super().__init__(address, _Handler)


class ControlServer:
    """Serves ``target``'s control calls through ``dispatch`` on 127.0.0.1 (port 0 =
    ephemeral)."""

    def __init__(self, target: Any, dispatch: Dispatch, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), target, dispatch)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="venue-control",
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
            raise ConnectionError("the venue closed its control channel")
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


# =========================================================================== the child
def run_venue(make: Callable[[dict[str, Any]], Any], dispatch: Dispatch, *,
              description: str = "", argv: list[str] | None = None,
              add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
              options_from_args: Callable[[argparse.Namespace], dict[str, Any]] | None = None,
              ) -> int:
    """The body of a venue's ``__main__``: ``make(options)`` builds the venue (with
    ``start() -> dict`` and ``stop()``), served until a signal, ``--lifetime`` or the parent's
    end. ``add_arguments`` / ``options_from_args`` add the venue's own flags."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="the venue's port (0: ephemeral)")
    parser.add_argument("--control-port", type=int, default=0,
                        help="control channel port (0: ephemeral)")
    parser.add_argument("--options", type=json.loads, default={},
                        help="more keyword options of the venue, as a JSON object")
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="exit when this process is no longer our parent")
    parser.add_argument("--lifetime", type=float, default=0.0,
                        help="exit after this many seconds (0: no limit)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if not isinstance(args.options, dict):
        parser.error("--options must be a JSON object")
    options = {**(options_from_args(args) if options_from_args else {}), **args.options,
               "port": args.port}
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    venue = make(options)
    entry = venue.start()
    control = ControlServer(venue, dispatch, args.control_port)
    control.start()
    print(json.dumps({**entry, "control_host": "127.0.0.1", "control_port": control.port,
                      "pid": os.getpid()}), flush=True)
    deadline = time.monotonic() + args.lifetime if args.lifetime > 0 else None
    reason = "signal"
    while not stop.wait(_POLL_S):
        if args.parent_pid and os.getppid() != args.parent_pid:
            reason = "parent gone"
            break
        if deadline is not None and time.monotonic() >= deadline:
            reason = "lifetime over"
            break
    control.stop()
    venue.stop()
    print(f"venue on port {entry.get('port', '?')} stopped ({reason})", file=sys.stderr,
          flush=True)
    return 0


# =========================================================================== the parent
class VenueProcess:
    """A venue in its own process (``python -m <module>`` running :func:`run_venue`).

    ``options`` are the venue's keyword options (JSON-able). ``lifetime`` bounds how long
    the child lives if nobody stops it (it also exits when this process dies). Names in
    ``methods`` are control calls, names in ``properties`` read values, as on the venue.
    """

    module: str = ""
    methods: frozenset[str] = frozenset()
    properties: frozenset[str] = frozenset()

    def __init__(self, *, port: int = 0, control_port: int = 0, startup_timeout: float = 30.0,
                 call_timeout: float = 30.0, lifetime: float = 3600.0,
                 python: str | None = None, **options: Any) -> None:
        self._argv = [python or sys.executable, "-m", self.module,
                      "--port", str(port), "--control-port", str(control_port),
                      "--parent-pid", str(os.getpid()), "--lifetime", str(lifetime),
                      "--options", json.dumps(options)]
        self.startup_timeout = startup_timeout
        self.call_timeout = call_timeout
        self.entry: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: ControlClient | None = None

    def start(self) -> dict[str, Any]:
        """Start the child; return its config line (the connector entry, control_port,
        pid). Raises RuntimeError when it does not come up within ``startup_timeout``."""
        if self._proc is not None:
            return self.entry
        proc = subprocess.Popen(self._argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self._proc = proc
        try:
            line = self._first_line(proc, self.startup_timeout)
            self.entry = json.loads(line)
            self._control = ControlClient(int(self.entry["control_port"]), self.call_timeout)
        except BaseException:
            self.kill()
            raise
        return self.entry

    def _first_line(self, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.module} printed no config line in "
                                       f"{timeout:.0f} s")
                if selector.select(left):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"{self.module} exited before its config line "
                                           f"(status {proc.wait(5)})")
                    data += chunk
        proc.stdout.close()
        return data.split(b"\n", 1)[0]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the child to exit by itself; its status, or None."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the child (by its pid) if it still runs."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the child and wait up to ``timeout`` for it to exit cleanly (then
        SIGKILL it). Returns its exit status."""
        self._close_control()
        return stop_process(self._proc, timeout)

    def kill(self) -> int | None:
        """SIGKILL the child (a crash: it keeps nothing) and reap it."""
        self._close_control()
        return kill_process(self._proc)

    def _close_control(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None

    def __enter__(self) -> VenueProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One control call (JSON-able arguments and result)."""
        if self._control is None:
            raise RuntimeError(f"{self.module} is not running")
        return self._control.call(method, *args, **kwargs)

    @property
    def port(self) -> int:
        return int(self.entry["port"])

    def __getattr__(self, name: str) -> Any:
        cls = type(self)
        if name in cls.properties:
            return self.call(name)
        if name in cls.methods:
            def method(*args: Any, **kwargs: Any) -> Any:
                return self.call(name, *args, **kwargs)
            method.__name__ = name
            return method
        raise AttributeError(f"{cls.__name__} has no attribute {name!r}")
