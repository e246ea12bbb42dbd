"""The jspurefix venue survives every fault a client socket can have: a reset before the
Logon, a reset in the middle of a message, a reset or a FIN while market data streams, a
reset right after a Logout, and a reset of a connection whose session the venue had already
stopped (it gave up on a silent client, or a new Logon replaced it) while jspurefix lingers
before destroying the socket. The last two ended the Node process: its parser re-emits the
socket's ECONNRESET, and after a session stops nobody listens (the 100-fault schedule lost
the venue that way). Each fault is counted in the venue's status, none escapes to the
process, and a new client logs on and gets market data after every one."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable, Iterator

import pytest
from stockfish_core.testing import wait_until
from stockfish_fix.testing.js_venue import JSFIXVenue
from stockfish_fix.testing.raw_fix_client import RawFIXClient, md_request

T = 10.0
VERSION = "FIX44"


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as the fault proxy's cut does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _counters(venue: JSFIXVenue) -> dict[str, int]:
    return dict(venue.status()["counters"])


def _streaming(venue: JSFIXVenue) -> RawFIXClient:
    """A logged-on client subscribed to market data, which has started to flow."""
    client = RawFIXClient(venue.port, VERSION, heartbeat=1)
    answer = client.connect(reset=True)
    assert answer.msg_type == "A", answer.pairs
    client.send("V", md_request(f"SF{random.getrandbits(32)}", "AAA"))
    assert client.recv_admin(T, ("W",)) is not None, "no snapshot"
    return client


def _ended_after(venue: JSFIXVenue, action: Callable[[], object]) -> None:
    """Run ``action`` and wait until the venue has ended one more logged-on session."""
    ended = _counters(venue).get("sessions_ended", 0)
    action()
    assert wait_until(lambda: _counters(venue).get("sessions_ended", 0) > ended, T), \
        _counters(venue)


def _refuse(venue: JSFIXVenue) -> None:
    _reset(socket.create_connection(("127.0.0.1", venue.port), timeout=T))


def _half_message_reset(venue: JSFIXVenue) -> None:
    sock = socket.create_connection(("127.0.0.1", venue.port), timeout=T)
    sock.sendall(b"8=FIX.4.4\x019=75\x0135=A\x0134=1\x0149=CLI")
    _reset(sock)


def _reset_while_streaming(venue: JSFIXVenue) -> None:
    client = _streaming(venue)
    assert client.sock is not None
    _ended_after(venue, lambda: _reset(client.sock))  # type: ignore[arg-type]


def _fin_while_streaming(venue: JSFIXVenue) -> None:
    client = _streaming(venue)
    assert client.sock is not None
    _ended_after(venue, lambda: client.sock.shutdown(socket.SHUT_WR))  # type: ignore[union-attr]
    client.sock.close()


def _reset_after_logout(venue: JSFIXVenue) -> None:
    client = _streaming(venue)
    assert client.sock is not None
    client.send("5", [(58, "bye")])
    _reset(client.sock)


def _reset_after_the_venue_gave_up(venue: JSFIXVenue) -> None:
    """The client goes silent (a stalled link): the venue's heartbeat check stops the
    session and ends the transport, which lingers; then the link is reset."""
    client = _streaming(venue)
    assert client.sock is not None
    _ended_after(venue, lambda: None)  # nothing read, nothing answered: it gives up
    _reset(client.sock)


def _reset_after_replaced(venue: JSFIXVenue) -> None:
    """A new Logon for the same CompID replaces the session (a reconnect through a proxy
    that has not yet cut the old link); then both links are reset."""
    first = _streaming(venue)
    second = RawFIXClient(venue.port, VERSION, heartbeat=1)
    _ended_after(venue, lambda: second.connect(reset=True))
    for client in (first, second):
        assert client.sock is not None
        _reset(client.sock)


FAULTS = {"refuse": _refuse, "half_message_reset": _half_message_reset,
          "reset_while_streaming": _reset_while_streaming,
          "fin_while_streaming": _fin_while_streaming,
          "reset_after_logout": _reset_after_logout,
          "reset_after_the_venue_gave_up": _reset_after_the_venue_gave_up,
          "reset_after_replaced": _reset_after_replaced}


@pytest.fixture(scope="module")
def venue() -> Iterator[JSFIXVenue]:
    v = JSFIXVenue(version=VERSION, tick_interval=0.01, spread_symbols=(), heartbeat_interval=1.0)
    v.start()
    yield v
    v.stop()


def _alive(venue: JSFIXVenue) -> None:
    assert venue.running, "the venue died:\n" + "\n".join(venue.stderr_tail[-20:])


def _still_serving(venue: JSFIXVenue) -> None:
    _alive(venue)
    client = _streaming(venue)
    client.close()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_venue_survives_a_socket_fault(venue: JSFIXVenue, fault: str) -> None:
    for _ in range(2):  # the second round meets what the first left lingering
        _alive(venue)
        FAULTS[fault](venue)
        _still_serving(venue)
    assert _counters(venue).get("uncaught", 0) == 0, venue.stderr_tail[-20:]


@pytest.mark.slow
def test_the_venue_survives_a_seeded_mix_of_socket_faults(venue: JSFIXVenue) -> None:
    rng = random.Random(20261206)
    kinds = sorted(FAULTS)
    for _ in range(30):
        FAULTS[rng.choice(kinds)](venue)
        _alive(venue)
    _still_serving(venue)
    counters = _counters(venue)
    assert counters.get("uncaught", 0) == 0, venue.stderr_tail[-20:]
    assert counters.get("socket_errors", 0) >= 1  # the resets were seen, and counted
    # among them, resets of sockets whose session had stopped: what ended the process
    assert counters.get("socket_errors_after_session_stop", 0) >= 1, counters
