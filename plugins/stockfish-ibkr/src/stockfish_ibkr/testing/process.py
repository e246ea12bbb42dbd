"""The fake TWS in a child process, driven from this one: :class:`FakeTWSProcess`.

The child (``python -m stockfish_ibkr.testing``) keeps its orders and executions while the
processes that trade against it crash and restart. This object starts it, reads its config
line, and calls its control methods over the loopback control channel under the same names
as :class:`~stockfish_ibkr.testing.FakeTWS` has. It signals and kills only its own child,
by pid, and every wait it makes is bounded.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

from stockfish_ibkr.testing.book import Instrument
from stockfish_ibkr.testing.control import CONTROL_METHODS, CONTROL_PROPERTIES, ControlClient

__all__ = ["FakeTWSProcess"]


class FakeTWSProcess:
    """A fake TWS in its own process.

    ``options`` are :class:`FakeTWS` keyword options (JSON-able; ``instruments`` as dicts).
    ``lifetime`` bounds how long the child lives if nobody stops it (it also exits when this
    process dies). Control methods (``inject_error``, ``restart``, ``farm_lost``, ``stats``,
    ...) and records (``orders_received``, ``executions``, ...) read like FakeTWS's.
    """

    def __init__(self, *, port: int = 0, control_port: int = 0, startup_timeout: float = 30.0,
                 call_timeout: float = 30.0, lifetime: float = 3600.0,
                 python: str | None = None, **options: Any) -> None:
        self._argv = [python or sys.executable, "-m", "stockfish_ibkr.testing",
                      "--port", str(port), "--control-port", str(control_port),
                      "--parent-pid", str(os.getpid()), "--lifetime", str(lifetime),
                      "--options", json.dumps(options)]
        self.startup_timeout = startup_timeout
        self.call_timeout = call_timeout
        self.entry: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: ControlClient | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, Any]:
        """Start the child; return its config line (host, port, client_id, control_port,
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

    @staticmethod
    def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"the fake TWS process printed no config line in "
                                       f"{timeout:.0f} s")
                if selector.select(left):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"the fake TWS process exited before its config "
                                           f"line (status {proc.wait(5)})")
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
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the child (a crash: it keeps nothing) and reap it."""
        self._close_control()
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            return None
        return proc.returncode

    def _close_control(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None

    def __enter__(self) -> FakeTWSProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control
    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One control call (JSON-able arguments and result)."""
        if self._control is None:
            raise RuntimeError("the fake TWS process is not running")
        return self._control.call(method, *args, **kwargs)

    @property
    def port(self) -> int:
        return int(self.entry["port"])

    def instrument(self, symbol: str) -> Instrument:
        """A copy of the child's instrument ``symbol`` as it is now."""
        return Instrument.from_dict(self.call("instrument", symbol))

    def __getattr__(self, name: str) -> Any:
        if name in CONTROL_PROPERTIES:
            return self.call(name)
        if name in CONTROL_METHODS:
            def method(*args: Any, **kwargs: Any) -> Any:
                return self.call(name, *args, **kwargs)
            method.__name__ = name
            return method
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
