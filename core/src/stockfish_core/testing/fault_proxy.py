"""A loopback TCP proxy that injects faults between a connector and its simulated venue.

``FaultProxy(target_port)`` listens on 127.0.0.1 (ephemeral port) and forwards every
accepted connection to ``127.0.0.1:target_port`` on one selector thread. Faults:

- ``cut(rst=True)``: close every proxied connection now, with a TCP reset (or a clean FIN);
  returns once they are closed (so a caller's next check sees the fault in place);
- ``stall()`` / ``resume()``: stop forwarding bytes but keep the sockets open (half-open);
- ``latency = seconds``: delay every chunk in both directions;
- ``throttle = bytes_per_second``: cap the forwarding rate (0 = unlimited);
- ``refuse(seconds)``: accept and immediately reset new connections for a while.

Everything is bounded: ``close()`` stops the thread within a second, and the proxy never
listens on anything but 127.0.0.1.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import struct
import threading
import time
from typing import Any

__all__ = ["FaultProxy"]

_CHUNK = 65536


class _Pipe:
    __slots__ = ("client", "upstream")

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream


class FaultProxy:
    """See the module docstring."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        if target_host not in ("127.0.0.1", "localhost"):
            raise ValueError("the fault proxy only forwards to loopback")
        self.target = (target_host, target_port)
        self.latency = 0.0
        self.throttle = 0
        self.connections_accepted = 0
        self.connections_refused = 0
        self.cuts = 0
        self.stalls = 0
        self.bytes_forwarded = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._pipes: list[_Pipe] = []
        self._peer: dict[socket.socket, socket.socket] = {}
        self._delayed: list[tuple[float, int, socket.socket, bytes]] = []
        # Per destination: chunks still held and when the last one is due. A chunk never
        # overtakes one held before it (TCP delivers a stream in order, however slow).
        self._held: dict[socket.socket, int] = {}
        self._last_due: dict[socket.socket, float] = {}
        self._seq = itertools.count()
        self._stalled = False
        self._refuse_until = 0.0
        self._budget = 0.0
        self._budget_at = time.monotonic()
        self._lock = threading.Lock()
        self._commands: list[Any] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}",
                                        daemon=True)
        self._thread.start()

    # -- faults (any thread) --------------------------------------------------------------
    def cut(self, rst: bool = True, timeout: float = 2.0) -> bool:
        """Close every proxied connection now (RST by default, else a clean FIN); wait up to
        ``timeout`` seconds for the proxy thread to have done it (True once done)."""
        done = threading.Event()
        self._command(("cut", rst, done))
        return done.wait(timeout)

    def stall(self) -> None:
        """Stop forwarding in both directions; the sockets stay open (half-open)."""
        self.stalls += 1
        self._stalled = True

    def resume(self) -> None:
        self._stalled = False
        self._command(("wake",))

    def refuse(self, seconds: float) -> None:
        """Reset new connections for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds

    @property
    def active_connections(self) -> int:
        return len(self._pipes)

    @property
    def chunks_held(self) -> int:
        """Chunks read but held back by latency or throttling."""
        return len(self._delayed)

    def close(self) -> None:
        self._stop.set()
        self._command(("wake",))
        self._thread.join(2.0)
        with self._lock:  # release anyone still waiting on a cut that will never run
            for cmd in self._commands:
                if cmd[0] == "cut":
                    cmd[2].set()
            self._commands.clear()
        for sock in [self._listener, self._wake_r, self._wake_w, *self._peer]:
            try:
                sock.close()
            except OSError:
                pass
        self._sel.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- proxy thread ---------------------------------------------------------------------
    def _command(self, cmd: Any) -> None:
        with self._lock:
            self._commands.append(cmd)
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = 0.2
            if self._delayed:
                timeout = max(0.0, min(timeout, self._delayed[0][0] - time.monotonic()))
            for key, _ in self._sel.select(timeout):
                if key.data is None:
                    self._accept()
                elif key.data == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                elif not self._stalled:
                    self._forward(key.fileobj)  # type: ignore[arg-type]
            self._run_commands()
            self._flush_delayed()

    def _run_commands(self) -> None:
        with self._lock:
            commands, self._commands = self._commands, []
        for cmd in commands:
            if cmd[0] == "cut":
                self.cuts += 1
                for pipe in list(self._pipes):
                    self._close_pipe(pipe, rst=cmd[1])
                cmd[2].set()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        if time.monotonic() < self._refuse_until:
            self.connections_refused += 1
            self._reset(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2.0)
        except OSError:
            self.connections_refused += 1
            self._reset(client)
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipe = _Pipe(client, upstream)
        self._pipes.append(pipe)
        self._peer[client] = upstream
        self._peer[upstream] = client
        self._sel.register(client, selectors.EVENT_READ, pipe)
        self._sel.register(upstream, selectors.EVENT_READ, pipe)
        self.connections_accepted += 1

    def _forward(self, sock: socket.socket) -> None:
        peer = self._peer.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            pipe = next((p for p in self._pipes if sock in (p.client, p.upstream)), None)
            if pipe is not None:
                self._close_pipe(pipe, rst=False)
            return
        if self.latency > 0 or self.throttle > 0 or self._held.get(peer):
            due = max(time.monotonic() + self.latency + self._throttle_delay(len(data)),
                      self._last_due.get(peer, 0.0))
            self._last_due[peer] = due
            self._held[peer] = self._held.get(peer, 0) + 1
            heapq.heappush(self._delayed, (due, next(self._seq), peer, data))
        else:
            self._send(peer, data)

    def _throttle_delay(self, size: int) -> float:
        if self.throttle <= 0:
            return 0.0
        now = time.monotonic()
        self._budget = max(self._budget, now)
        self._budget += size / self.throttle
        return self._budget - now

    def _flush_delayed(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now and not self._stalled:
            _, _, peer, data = heapq.heappop(self._delayed)
            if peer in self._peer:
                self._held[peer] -= 1
                self._send(peer, data)

    def _send(self, peer: socket.socket, data: bytes) -> None:
        try:
            peer.setblocking(True)
            peer.settimeout(2.0)
            peer.sendall(data)
            peer.setblocking(False)
            self.bytes_forwarded += len(data)
        except OSError:
            pipe = next((p for p in self._pipes if peer in (p.client, p.upstream)), None)
            if pipe is not None:
                self._close_pipe(pipe, rst=True)

    def _close_pipe(self, pipe: _Pipe, rst: bool) -> None:
        if pipe in self._pipes:
            self._pipes.remove(pipe)
        for sock in (pipe.client, pipe.upstream):
            self._peer.pop(sock, None)
            self._held.pop(sock, None)
            self._last_due.pop(sock, None)
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            if rst:
                self._reset(sock)
            else:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()
