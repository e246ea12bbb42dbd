"""Processes of the scale-out tests, each started and stopped by its pid, every wait bounded,
each ended by the kernel if the test process dies (the parent-death signal):

- :class:`ChildProcess`: a command that prints one JSON line once it is ready;
- :func:`venue_process`: the recording ``sim`` venue (:mod:`stockfish_nats.testing.venue`);
- :func:`gateway_process`: ``stockfish-rt serve``;
- :func:`strategy_process`: the trading script (:mod:`stockfish_nats.testing.strategy`).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from typing import Any

from stockfish_core.testing.processes import kill_process, stop_process

from stockfish_nats.testing.server import die_with_parent

__all__ = ["ChildProcess", "gateway_process", "strategy_process", "venue_process"]


class ChildProcess:
    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None,
                 log_path: str | None = None, ready_line: bool = True) -> None:
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.ready_line = ready_line
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 30.0) -> dict[str, Any]:
        log: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if self.ready_line else log, stderr=log,
                env={**os.environ, **(self.env or {})},
                preexec_fn=die_with_parent)  # noqa: PLW1509
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        if self.ready_line:
            try:
                self.info = json.loads(self._first_line(timeout))
            except BaseException:
                self.kill()
                raise
        return self.info

    def _first_line(self, timeout: float) -> bytes:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.argv[:4]} printed nothing in {timeout:g} s")
                if selector.select(left):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"{self.argv[:4]} exited (status "
                                           f"{proc.wait(5)})")
                    data += chunk
        return data.split(b"\n", 1)[0]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit status."""
        return stop_process(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        kill_process(self.proc)


def venue_process(tick_interval: float = 0.02, log_path: str | None = None) -> ChildProcess:
    return ChildProcess([sys.executable, "-m", "stockfish_nats.testing.venue",
                         "--tick-interval", str(tick_interval),
                         "--parent-pid", str(os.getpid())], log_path=log_path)


def gateway_process(config: str, servers: list[str], *, gateway: str, instance: str,
                    lease_ttl: float = 2.0, replicas: int = 1, bus_config: str | None = None,
                    env: dict[str, str] | None = None,
                    log_path: str | None = None) -> ChildProcess:
    argv = [sys.executable, "-m", "stockfish_core.cli", "serve", config, "--gateway", gateway,
            "--instance", instance, "--lease-ttl", str(lease_ttl), "--replicas",
            str(replicas)]
    for url in servers:
        argv += ["--bus", url]
    if bus_config:
        argv += ["--bus-config", bus_config]
    return ChildProcess(argv, env=env, log_path=log_path)


def strategy_process(config: str, out: str, *, orders: int = 20, rate: float = 10.0,
                     max_seconds: float = 60.0, log_path: str | None = None) -> ChildProcess:
    return ChildProcess([sys.executable, "-m", "stockfish_nats.testing.strategy",
                         "--config", config, "--out", out, "--orders", str(orders),
                         "--rate", str(rate), "--max-seconds", str(max_seconds)],
                        log_path=log_path, ready_line=False)
