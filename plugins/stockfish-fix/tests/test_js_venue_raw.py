"""The jspurefix venue itself, checked by a raw client (simplefix over a socket; not QuickFIX,
not our connector): for every book model and every FIX version the book rebuilt from W + X
equals the venue's recorded book after every message; sessions, orders and faults behave as
documented."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stockfish_core.testing import wait_until
from stockfish_fix.testing.js_venue import BOOK_MODELS, JSFIXVenue, JSVenueError
from stockfish_fix.testing.raw_fix_client import ModelBook, RawFIXClient, RawMessage, md_request

VERSIONS = ("FIX42", "FIX44", "FIX50SP2")
DEPTH = 10
T = 10.0
#: One venue per FIX version serves every model, each on a symbol and a spread of its own,
#: each tested by a client CompID of its own (one venue start per version, not per model).
MODEL_SYMBOLS = {model: (model[:3].upper() + "X", model[:3].upper() + "S")
                 for model in BOOK_MODELS}
MODEL_CLIENTS = {model: f"RAW-{model[:3].upper()}" for model in BOOK_MODELS}


@pytest.fixture
def make_venue() -> Iterator[type[JSFIXVenue]]:
    made: list[JSFIXVenue] = []

    def make(**options: object) -> JSFIXVenue:
        venue = JSFIXVenue(**{"tick_interval": 0.02, "depth": DEPTH, **options})  # type: ignore[arg-type]
        made.append(venue)
        venue.start()
        return venue

    yield make  # type: ignore[misc]
    for venue in made:
        venue.stop()


@pytest.fixture(scope="module", params=VERSIONS)
def models_venue(request: pytest.FixtureRequest) -> Iterator[JSFIXVenue]:
    venue = JSFIXVenue(
        version=str(request.param), tick_interval=0.02, depth=DEPTH, seed=7,
        symbols=tuple(s for s, _ in MODEL_SYMBOLS.values()),
        spread_symbols=tuple(s for _, s in MODEL_SYMBOLS.values()),
        clients=("CLIENT", *MODEL_CLIENTS.values()),
        book_model={symbol: model for model, pair in MODEL_SYMBOLS.items() for symbol in pair})
    venue.start()
    yield venue
    venue.stop()


def _stream(client: RawFIXClient, books: dict[str, ModelBook], wanted: int,
            steps: list[tuple[int, str, RawMessage]], until: float, *,
            done: Callable[[], bool] = lambda: True) -> None:
    """Read market data into ``books`` until each symbol has ``wanted`` messages and
    ``done()`` holds (or ``until`` passes)."""
    per_symbol = dict.fromkeys(books, 0)
    while (min(per_symbol.values()) < wanted or not done()) and time.monotonic() < until:
        message = client.recv(max(until - time.monotonic(), 0.01))
        if message is None:
            break
        if message.msg_type not in ("W", "X"):
            continue
        if message.msg_type == "W":
            symbol = message.get(55)
            assert symbol is not None
            books[symbol].snapshot(message.entries())
        else:
            entries = message.entries()
            symbols = {e[55] for e in entries}
            assert len(symbols) == 1, "one symbol per X"
            symbol = symbols.pop()
            books[symbol].incremental(entries)
        per_symbol[symbol] += 1
        steps.append((message.seq, symbol, message))
        # the book is compared later, against the record; keep what it was now
        message.levels = books[symbol].levels()  # type: ignore[attr-defined]
        message.last = books[symbol].last  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", BOOK_MODELS)
def test_raw_client_book_equals_the_venue_record_after_every_message(
        models_venue: JSFIXVenue, model: str) -> None:
    venue = models_venue
    symbol, spread = MODEL_SYMBOLS[model]
    client = RawFIXClient(venue.port, venue.version, sender=MODEL_CLIENTS[model])
    assert client.connect().msg_type == "A"
    books = {s: ModelBook(model, DEPTH) for s in (symbol, spread)}
    client.send("V", md_request("R1", symbol))
    client.send("V", md_request("R2", spread))
    # a trade, so that X carries 269=2 and later snapshots carry it as the last trade
    client.send("D", [(11, f"{model}-1"), (21, "1"), (55, symbol), (54, "1"),
                      (60, "20240101-00:00:00"), (38, 15), (40, "1"), (59, "0")])
    steps: list[tuple[int, str, RawMessage]] = []
    every_action = {"0", "1", "2", "3"}  # 4 and 5 come too, less often
    _stream(client, books, 25, steps, time.monotonic() + T,
            done=lambda: model != "position" or every_action <= (
                books[symbol].actions | books[spread].actions))
    # a second subscription to a symbol already streaming: its snapshot's trade entry is
    # the last trade, not a new one
    client.send("V", md_request("R3", symbol, subscribe=False))
    client.send("V", md_request("R4", symbol))
    _stream(client, books, 5, steps, time.monotonic() + T)
    client.close()
    history = {(r["msg_seq_num"], r["symbol"]): r for r in venue.md_history()
               if r["comp_id"] == MODEL_CLIENTS[model]}
    assert len(steps) >= 50
    rpt: dict[str, int] = {}
    for seq, sym, message in steps:
        record = history[(seq, sym)]
        assert record["msg_type"] == message.msg_type
        assert record["injected"] is None
        assert record["model"] == model
        bids, asks = message.levels  # type: ignore[attr-defined]
        assert (bids, asks) == (record["bids"], record["asks"]), (model, venue.version, seq)
        if model == "top_of_book":
            assert len(bids) <= 1 and len(asks) <= 1
        if model == "position":
            assert len(bids) <= DEPTH and len(asks) <= DEPTH
        if record["last"] is not None and message.msg_type == "W":
            assert list(message.last) == record["last"]  # type: ignore[attr-defined]
        numbers = [int(e[83]) for e in message.entries() if 83 in e]
        assert len(numbers) == len(message.entries()), "RptSeq on every entry"
        if message.msg_type == "X":
            expected = rpt.get(sym, 0) + 1
            assert numbers == list(range(expected, expected + len(numbers))), "RptSeq gap"
            rpt[sym] = numbers[-1]
        else:
            assert set(numbers) <= {record["rpt_seq"]}
            rpt[sym] = record["rpt_seq"]
    assert any(p < 0 for r in history.values() if r["symbol"] == spread
               for p, _ in r["bids"]), "the spread instrument never showed a negative price"
    if model != "snapshot_only":
        assert books[symbol].trades, "no trade entry in X"
        assert books[symbol].last in books[symbol].trades
    else:
        assert not books[symbol].trades and books[symbol].last is not None
    if model == "position":
        assert every_action <= books[symbol].actions | books[spread].actions


@pytest.mark.parametrize("version", VERSIONS)
def test_logon_credentials_sequence_and_resend(make_venue: type[JSFIXVenue],
                                                version: str) -> None:
    venue = make_venue(version=version, username="trader", password="s3cret",
                       market_data=False)
    bad = RawFIXClient(venue.port, version, username="trader", password="wrong")
    answer = bad.connect()
    assert answer.msg_type == "5" and "bad username or password" in (answer.get(58) or "")
    bad.close()

    client = RawFIXClient(venue.port, version, username="trader", password="s3cret")
    assert client.connect().msg_type == "A"
    # TestRequest answered with a Heartbeat carrying its id
    client.send("1", [(112, "PING-1")])
    heartbeat = client.recv_admin(T, ("0",))
    assert heartbeat is not None and heartbeat.get(112) == "PING-1"
    # an order, then a skipped number: the resend replays the report PossDup, gap-fills
    # the rest
    client.send("D", [(11, "R-1"), (21, "1"), (55, "AAA"), (54, "1"), (60, "20240101-00:00:00"),
                      (38, 5), (40, "2"), (44, "1.00"), (59, "1")])
    new = client.recv_admin(T, ("8",))
    assert new is not None and new.get(39) == "0" and new.get(11) == "R-1"
    assert venue.skip_sequence_number() == 1
    client.send("F", [(41, "R-1"), (11, "R-1-C"), (55, "AAA"), (54, "1"),
                      (60, "20240101-00:00:00"), (38, 5)])
    cancelled = client.recv_admin(T, ("8",))
    assert cancelled is not None and cancelled.seq == new.seq + 2  # one number skipped
    client.send("2", [(7, 1), (16, 0)])
    resent: list[RawMessage] = []
    while (message := client.recv(2.0)) is not None and (
            not resent or resent[-1].seq < cancelled.seq):
        resent.append(message)
    assert all(m.get(43) == "Y" for m in resent)
    by_type = [(m.msg_type, m.seq) for m in resent]
    assert ("8", new.seq) in by_type and ("8", cancelled.seq) in by_type
    gap_fills = [m for m in resent if m.msg_type == "4"]
    assert gap_fills and all(m.get(123) == "Y" for m in gap_fills)
    assert any(int(m.get(36) or 0) == cancelled.seq for m in gap_fills), "the skipped one"
    client.close()

    # sequence numbers kept (no reset): a Logon below the expected number is refused
    low = RawFIXClient(venue.port, version, username="trader", password="s3cret")
    answer = low.connect(reset=False, seq=1)
    assert answer.msg_type == "5"
    assert "MsgSeqNum too low, expecting" in (answer.get(58) or "")
    assert "but received 1" in (answer.get(58) or "")
    low.close()
    assert venue.status()["counters"]["bad_credentials"] == 1


def test_faults_refuse_drop_and_market_data_injection(make_venue: type[JSFIXVenue]) -> None:
    venue = make_venue(version="FIX44", symbols=("AAA",), spread_symbols=())
    client = RawFIXClient(venue.port, "FIX44")
    assert client.connect().msg_type == "A"
    assert venue.sessions_logged_on == 1
    assert venue.drop_connections(refuse_for=1.0) == 1
    assert client.recv(T) is None  # the link is cut, no Logout
    client.close()
    refused = RawFIXClient(venue.port, "FIX44")
    answer = refused.connect()
    assert answer.msg_type == "5" and "refused" in (answer.get(58) or "")
    refused.close()
    again = RawFIXClient(venue.port, "FIX44")

    def logged_on() -> bool:  # the refusal ends by itself
        if again.connect().msg_type == "A":
            return True
        again.close()
        return False

    assert wait_until(logged_on, T)
    again.send("V", md_request("M1", "AAA"))
    book = ModelBook("price_level", DEPTH)
    seen: dict[str, int] = {}
    for kind in ("crossed", "change_unknown", "delete_unknown", "rpt_seq_gap"):
        assert venue.inject_market_data("AAA", kind) == 1
        seen[kind] = 0
    deadline = time.monotonic() + T
    gap = False
    last_rpt = None
    while time.monotonic() < deadline and not gap:
        message = again.recv(1.0)
        if message is None or message.msg_type not in ("W", "X"):
            continue
        numbers = [int(e[83]) for e in message.entries()]
        if message.msg_type == "X" and last_rpt is not None and numbers[0] != last_rpt + 1:
            gap = True
        last_rpt = numbers[-1]
    assert gap, "no RptSeq gap seen"
    injected = [r["injected"] for r in venue.md_history("AAA") if r["injected"]]
    assert injected == ["crossed", "change_unknown", "delete_unknown"]
    assert book.model == "price_level"
    again.close()


def _order(cl_ord_id: str, symbol: str = "AAA", qty: int = 5,
           price: str | None = "1.00") -> list[tuple[int, object]]:
    fields: list[tuple[int, object]] = [
        (11, cl_ord_id), (21, "1"), (55, symbol), (54, "1"), (60, "20240101-00:00:00"),
        (38, qty), (40, "2" if price else "1")]
    if price:
        fields.append((44, price))
    return [*fields, (59, "1")]


def test_status_mass_status_external_orders_and_sequence_reset(
        models_venue: JSFIXVenue) -> None:
    venue = models_venue
    version = venue.version
    client = RawFIXClient(venue.port, version)
    assert client.connect().msg_type == "A"
    for cid in ("S-1", "S-2"):
        client.send("D", _order(cid, "PRIX"))
        assert client.recv_admin(T, ("8",)) is not None
    external = venue.external_order("PHONE-1", "PRIX", 3, price=1.0, owner="CLIENT")
    assert external is not None and external.external and external.owner == "CLIENT"
    report = client.recv_admin(T, ("8",))
    assert report is not None and report.get(11) == "PHONE-1" and report.get(39) == "0"
    assert report.get(55) == "PRIX"

    # OrderStatusRequest for an order the venue never had: OrdStatus 8, OrdRejReason 5
    client.send("H", [(11, "NEVER-SENT"), (55, "PRIX"), (54, "1")])
    unknown = client.recv_admin(T, ("8",))
    assert unknown is not None and unknown.get(39) == "8" and unknown.get(103) == "5"
    assert unknown.get(150) == ("8" if version == "FIX42" else "I")
    if version == "FIX42":
        assert unknown.get(20) == "3"  # ExecTransType Status
    assert unknown.get(58) is None, "the answer is in the codes, not in words"
    client.send("H", [(11, "S-1"), (55, "PRIX"), (54, "1")])
    known = client.recv_admin(T, ("8",))
    assert known is not None and known.get(11) == "S-1" and known.get(39) == "0"

    # OrderMassStatusRequest: one report per open order (FIX 4.2 has no such message)
    client.send("AF", [(584, "MS-1"), (585, "7")])
    if version == "FIX42":
        refused = client.recv_admin(T, ("3", "j"))
        assert refused is not None
    else:
        reports = [client.recv_admin(T, ("8",)) for _ in range(3)]
        assert all(r is not None and r.get(584) == "MS-1" for r in reports)
        assert {r.get(11) for r in reports if r} == {"S-1", "S-2", "PHONE-1"}
        assert [r.get(912) for r in reports if r] == ["N", "N", "Y"]
        assert {r.get(911) for r in reports if r} == {"3"}

    # SequenceReset-Reset from the client moves the venue's expected number
    client.send("4", [(123, "N"), (36, client.seq + 10)])
    client.seq += 10
    client.send("1", [(112, "AFTER-RESET")])
    heartbeat = client.recv_admin(T, ("0", "5"))
    assert heartbeat is not None and heartbeat.msg_type == "0"
    assert heartbeat.get(112) == "AFTER-RESET"
    client.close()
    assert venue.orders_received_count("S-1") == 1
    assert {o.cl_ord_id for o in venue.orders() if o.owner == "CLIENT"} == {
        "S-1", "S-2", "PHONE-1"}


def test_mass_status_unsupported_is_a_business_reject(make_venue: type[JSFIXVenue]) -> None:
    venue = make_venue(version="FIX44", market_data=False, mass_status=False)
    client = RawFIXClient(venue.port, "FIX44")
    assert client.connect().msg_type == "A"
    client.send("AF", [(584, "MS-1"), (585, "7")])
    reject = client.recv_admin(T, ("j",))
    assert reject is not None and reject.get(372) == "AF" and reject.get(380) == "3"
    client.close()


def test_file_store_keeps_sequence_numbers_across_a_venue_restart(
        make_venue: type[JSFIXVenue], tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = make_venue(version="FIX44", market_data=False, store="file", store_path=str(store))
    client = RawFIXClient(first.port, "FIX44")
    assert client.connect(reset=False).msg_type == "A"
    client.send("D", _order("F-1"))
    report = client.recv_admin(T, ("8",))
    assert report is not None
    venue_seq = report.seq
    client.sock.close()  # type: ignore[union-attr]  # no Logout: a crash, as it were
    client.sock = None
    first.stop()
    assert any(store.iterdir()), "nothing was written to the file store"

    second = make_venue(version="FIX44", market_data=False, store="file",
                        store_path=str(store))
    again = RawFIXClient(second.port, "FIX44")
    again.seq = client.seq
    logon = again.connect(reset=False)
    assert logon.msg_type == "A"
    assert logon.seq == venue_seq + 1, "the venue's own numbers went on from the store"
    again.close()
    low = RawFIXClient(second.port, "FIX44")
    refused = low.connect(reset=False, seq=1)
    assert refused.msg_type == "5" and "MsgSeqNum too low" in (refused.get(58) or "")
    low.close()


def test_missing_install_is_a_clear_error(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKFISH_JSVENUE_DIR", str(tmp_path))
    venue = JSFIXVenue()
    with pytest.raises(JSVenueError, match="npm ci --prefix plugins/stockfish-fix/venues/jspurefix"):
        venue.start()
    assert venue.pid is None
