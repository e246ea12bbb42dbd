"""The fault proxy itself: forwarding, cuts, stalls, latency, refusals."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
from stockfish_core.testing import wait_until
from stockfish_core.testing.fault_proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except ConnectionResetError:
            pass  # the tests cut connections with a reset on purpose


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    out = b""
    while len(out) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def test_forwards_both_ways(echo: int) -> None:
    with FaultProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
        s.settimeout(5)
        assert roundtrip(s, b"hello" * 1000) == b"hello" * 1000
        assert proxy.active_connections == 1


def test_cut_with_reset(echo: int) -> None:
    with FaultProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
        s.settimeout(5)
        assert roundtrip(s, b"x") == b"x"
        proxy.cut(rst=True)
        with pytest.raises((ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            s.recv(1) or s.sendall(b"y") or s.recv(1)
        assert proxy.cuts == 1


def test_cut_with_fin_reads_eof(echo: int) -> None:
    with FaultProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
        s.settimeout(5)
        assert roundtrip(s, b"x") == b"x"
        proxy.cut(rst=False)
        assert s.recv(1) == b""


def test_stall_keeps_the_socket_open_but_silent(echo: int) -> None:
    with FaultProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
        assert roundtrip(s, b"x") == b"x"
        proxy.stall()
        s.settimeout(0.3)
        s.sendall(b"y")
        with pytest.raises(TimeoutError):
            s.recv(1)
        proxy.resume()
        s.settimeout(5)
        assert s.recv(1) == b"y"


def test_latency_delays_delivery(echo: int) -> None:
    with FaultProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
        s.settimeout(5)
        proxy.latency = 0.1
        start = time.monotonic()
        assert roundtrip(s, b"ping") == b"ping"
        assert time.monotonic() - start >= 0.2  # both directions


def test_latency_ending_never_reorders_the_stream(echo: int) -> None:
    # Bytes held back by latency go out before bytes sent after the latency is lifted,
    # as TCP would deliver them: a FIX parser fed a reordered stream drops the session.
    with FaultProxy(echo) as proxy, socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
        s.settimeout(5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        proxy.latency = 0.3
        payload = b""
        for i in range(20):
            chunk = f"<{i:02d}>".encode()
            s.sendall(chunk)
            payload += chunk
            if i == 9:
                assert wait_until(lambda: proxy.chunks_held > 0, 5.0)
                proxy.latency = 0.0
        out = b""
        while len(out) < len(payload):
            data = s.recv(65536)
            assert data, "connection closed"
            out += data
        assert out == payload


def test_refuse_resets_new_connections(echo: int) -> None:
    with FaultProxy(echo) as proxy:
        proxy.refuse(5)

        def attempt() -> None:
            with socket.create_connection(("127.0.0.1", proxy.port), 5) as s:
                s.settimeout(5)
                s.sendall(b"x")
                if not s.recv(1):
                    raise ConnectionResetError("closed without data")

        with pytest.raises(ConnectionError):
            attempt()
        assert proxy.connections_refused >= 1
