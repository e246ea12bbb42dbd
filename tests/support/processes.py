"""Child processes for command tests: bounded line reads, free ports, clean stops."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

STOCKFISH_RT = Path(sys.executable).with_name("stockfish-rt")


def stockfish_rt(*args: str) -> list[str]:
    """The ``stockfish-rt`` command line (the installed script, else the module)."""
    exe = [str(STOCKFISH_RT)] if STOCKFISH_RT.exists() else \
        [sys.executable, "-m", "stockfish_core.cli"]
    return [*exe, *args]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port_pair() -> int:
    """A port P with P and P + 1 both free (a redundant ZeroMQ feed binds both)."""
    for _ in range(50):
        (port,) = free_ports(1)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def env_without_plugin_limit() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STOCKFISH_PLUGINS"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Child:
    """A command with stdout and stderr piped; lines are read with deadlines."""

    def __init__(self, argv: Sequence[str], *, stdin: int | None = subprocess.DEVNULL,
                 cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(list(argv), stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env_without_plugin_limit(),
                                     cwd=cwd)
        self.out: list[str] = []
        self.err: list[str] = []
        self._buffers = {"out": b"", "err": b""}

    def _read(self, timeout: float) -> None:
        streams = {"out": self.proc.stdout, "err": self.proc.stderr}
        with selectors.DefaultSelector() as selector:
            for name, stream in streams.items():
                if stream is not None and not stream.closed:
                    selector.register(stream, selectors.EVENT_READ, name)
            if not selector.get_map():
                return
            for key, _ in selector.select(timeout):
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
                    continue
                data = self._buffers[key.data] + chunk
                *lines, self._buffers[key.data] = data.split(b"\n")
                target = self.out if key.data == "out" else self.err
                target.extend(line.decode("utf-8", "replace") for line in lines)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self._open()):
                return predicate()
            self._read(min(left, 0.2))
        return True

    def _open(self) -> bool:
        return any(s is not None and not s.closed for s in (self.proc.stdout, self.proc.stderr))

    def wait_line(self, needle: str, timeout: float, stream: str = "out") -> bool:
        lines = self.out if stream == "out" else self.err
        return self.wait_for(lambda: any(needle in line for line in lines), timeout)

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._open() and time.monotonic() < deadline:
            self._read(0.1)
        return self.proc.poll()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if stream is not None and not stream.closed:
                stream.close()
