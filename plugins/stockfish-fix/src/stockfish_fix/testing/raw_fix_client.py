"""A raw FIX client (simplefix over a socket, no QuickFIX, not our connector) and a book
built by each model, written apart from the venue: the reference the jspurefix venue's own
record is checked against."""

from __future__ import annotations

import socket
import time
from typing import Any

import simplefix

SOH = b"\x01"
BEGIN = {"FIX42": "FIX.4.2", "FIX44": "FIX.4.4", "FIX50SP2": "FIXT.1.1"}


class RawMessage:
    """A received message: its fields in wire order."""

    def __init__(self, pairs: list[tuple[int, str]]) -> None:
        self.pairs = pairs
        self.fields: dict[int, str] = {}
        for tag, value in pairs:
            self.fields.setdefault(tag, value)

    @property
    def msg_type(self) -> str:
        return self.fields[35]

    @property
    def seq(self) -> int:
        return int(self.fields[34])

    def get(self, tag: int) -> str | None:
        return self.fields.get(tag)

    def entries(self) -> list[dict[int, str]]:
        """The NoMDEntries group: one dict per entry (a new entry at each delimiter)."""
        delimiter = 279 if self.msg_type == "X" else 269
        out: list[dict[int, str]] = []
        inside = False
        for tag, value in self.pairs:
            if tag == 268:
                inside = True
            elif inside and tag == delimiter:
                out.append({tag: value})
            elif inside and out and tag not in (10,):
                out[-1].setdefault(tag, value)
        assert len(out) == int(self.fields.get(268, "0")), self.pairs
        return out


class RawFIXClient:
    """Logon, heartbeats, TestRequest answers, send, receive; nothing else."""

    def __init__(self, port: int, version: str, *, sender: str = "CLIENT",
                 target: str = "VENUE", heartbeat: int = 1, username: str | None = None,
                 password: str | None = None) -> None:
        self.port = port
        self.version = version
        self.sender = sender
        self.target = target
        self.heartbeat = heartbeat
        self.username = username
        self.password = password
        self.seq = 1
        self.sock: socket.socket | None = None
        self.parser = simplefix.FixParser()

    def connect(self, timeout: float = 5.0, reset: bool = True,
                seq: int | None = None) -> RawMessage:
        """Send a Logon; returns the venue's answer (a Logon, or a Logout refusing it)."""
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if seq is not None:
            self.seq = seq
        fields: list[tuple[int, str]] = [(98, "0"), (108, str(self.heartbeat))]
        if reset:
            fields.append((141, "Y"))
        if self.username is not None:
            fields.append((553, self.username))
        if self.password is not None:
            fields.append((554, self.password))
        if self.version == "FIX50SP2":
            fields.append((1137, "9"))
        self.send("A", fields)
        answer = self.recv_admin(timeout, ("A", "5"))
        assert answer is not None, "no answer to the Logon"
        return answer

    def send(self, msg_type: str, fields: list[tuple[int, Any]]) -> int:
        msg = simplefix.FixMessage()
        msg.append_pair(8, BEGIN[self.version], header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, self.sender, header=True)
        msg.append_pair(56, self.target, header=True)
        msg.append_pair(34, self.seq, header=True)
        msg.append_utc_timestamp(52, precision=3, header=True)
        for tag, value in fields:
            msg.append_pair(tag, value)
        assert self.sock is not None
        self.sock.sendall(msg.encode())
        self.seq += 1
        return self.seq - 1

    def recv(self, timeout: float) -> RawMessage | None:
        """The next message (TestRequests answered on the way), or None at the deadline."""
        deadline = time.monotonic() + timeout
        assert self.sock is not None
        while True:
            raw = self.parser.get_message()
            if raw is not None:
                message = RawMessage([(int(t), v.decode("latin-1")) for t, v in raw.pairs])
                if message.msg_type == "1":
                    self.send("0", [(112, message.get(112) or "")])
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not data:
                return None
            self.parser.append_buffer(data)

    def recv_admin(self, timeout: float, types: tuple[str, ...]) -> RawMessage | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.recv(left)
            if message is None:
                return None
            if message.msg_type in types:
                return message
        return None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.send("5", [(58, "bye")])
            except OSError:
                pass
            self.sock.close()
            self.sock = None


def md_request(req_id: str, symbol: str, subscribe: bool = True) -> list[tuple[int, Any]]:
    return [(262, req_id), (263, "1" if subscribe else "2"), (264, 0), (265, 1), (267, 3),
            (269, 0), (269, 1), (269, 2), (146, 1), (55, symbol)]


class ModelBook:
    """One symbol's book kept by a book model, from W and X entries."""

    def __init__(self, model: str, depth: int) -> None:
        self.model = model
        self.depth = depth
        self.levels_by_side: dict[str, dict[float, float]] = {"0": {}, "1": {}}
        self.lists: dict[str, list[list[float]]] = {"0": [], "1": []}
        self.entries: dict[str, tuple[str, float, float]] = {}
        self.last: tuple[float, float] | None = None
        self.trades: list[tuple[float, float]] = []
        self.actions: set[str] = set()

    def snapshot(self, entries: list[dict[int, str]]) -> None:
        self.levels_by_side = {"0": {}, "1": {}}
        self.lists = {"0": [], "1": []}
        self.entries = {}
        for e in entries:
            kind = e[269]
            if kind == "2":
                self.last = (float(e[270]), float(e[271]))
                continue
            price, size = float(e[270]), float(e[271])
            if self.model == "entry_id":
                self.entries[e[278]] = (kind, price, size)
            elif self.model == "position":
                assert int(e[1023]) == len(self.lists[kind]) + 1
                self.lists[kind].append([price, size])
            else:
                self.levels_by_side[kind][price] = size

    def incremental(self, entries: list[dict[int, str]]) -> None:
        for e in entries:
            action, kind = e[279], e[269]
            self.actions.add(action)
            if kind == "2":
                self.last = (float(e[270]), float(e[271]))
                self.trades.append(self.last)
                continue
            getattr(self, f"_{self.model}")(action, kind, e)

    def _top_of_book(self, action: str, kind: str, e: dict[int, str]) -> None:
        assert 278 not in e
        side = self.levels_by_side[kind]
        side.clear()  # a quote replaces the side's quote, whatever its price
        if action != "2":
            side[float(e[270])] = float(e[271])

    def _price_level(self, action: str, kind: str, e: dict[int, str]) -> None:
        side = self.levels_by_side[kind]
        price = float(e[270])
        if action == "2":
            del side[price]
        elif action == "1":
            assert price in side
            side[price] = float(e[271])
        else:
            assert price not in side
            side[price] = float(e[271])

    def _entry_id(self, action: str, kind: str, e: dict[int, str]) -> None:
        entry_id = e[278]
        if action == "2":
            assert 270 not in e
            del self.entries[entry_id]
        elif action == "1":
            old = e.get(280, entry_id)
            del self.entries[old]
            self.entries[entry_id] = (kind, float(e[270]), float(e[271]))
        else:
            assert entry_id not in self.entries
            self.entries[entry_id] = (kind, float(e[270]), float(e[271]))

    def _position(self, action: str, kind: str, e: dict[int, str]) -> None:
        side = self.lists[kind]
        index = int(e[1023]) - 1
        if action == "0":
            side.insert(index, [float(e[270]), float(e[271])])
            del side[self.depth:]
        elif action in ("1", "5"):
            side[index] = [float(e[270]), float(e[271])]
        elif action == "2":
            del side[index]
        elif action == "3":
            del side[:index + 1]
        elif action == "4":
            del side[index:]

    def levels(self) -> tuple[list[list[float]], list[list[float]]]:
        if self.model == "position":
            return [list(x) for x in self.lists["0"]], [list(x) for x in self.lists["1"]]
        sides: dict[str, dict[float, float]] = self.levels_by_side
        if self.model == "entry_id":
            sides = {"0": {}, "1": {}}
            for kind, price, size in self.entries.values():
                sides[kind][price] = sides[kind].get(price, 0.0) + size
        return ([[p, s] for p, s in sorted(sides["0"].items(), reverse=True)],
                [[p, s] for p, s in sorted(sides["1"].items())])
