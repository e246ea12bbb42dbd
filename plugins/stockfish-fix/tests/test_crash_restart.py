"""The application killed (SIGKILL) and started again: processes with the order journal and
the QuickFIX file store between them (``journal_trader.py``), against one simulated venue
that keeps trading meanwhile.

- ids of the dead process keep working (``get_order_status``, ``cancel_order`` with the
  right OrigClOrdID, ``replace_order``), and every ClOrdID of an order's chain finds it;
- fills made while the process was dead are applied exactly once, whether the session
  resumes its sequence numbers (the venue resends them, PossDupFlag=Y) or resets them (no
  resend: the status requests settle everything);
- no ClOrdID is used twice across restarts (the venue counts reuses);
- an order the venue acknowledged and then forgot (a venue restart) stays of unknown
  outcome, never REJECTED;
- orders placed by someone else are adopted (``mass_status_on_logon``), with their fills,
  and can be cancelled through the manager;
- a restored order gates new orders until the reconciliation ran.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.testing.fixtures import connector_factory
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST

T = 30.0
TRADER = Path(__file__).with_name("journal_trader.py")


@pytest.fixture
def venue(test_dictionaries: str) -> Iterator[FIXVenue]:
    # No market moves: orders fill only when the test says so.
    v = FIXVenue(version="FIX44", market_data=False, data_dictionary=test_dictionaries)
    v.start()
    yield v
    v.stop()


class _Traders:
    """Trading processes against one venue, one journal and one QuickFIX store."""

    def __init__(self, tmp_path: Path, venue: FIXVenue) -> None:
        self.tmp_path = tmp_path
        self.venue = venue
        self.config = tmp_path / "trader.yaml"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.configure()

    def configure(self, **settings: Any) -> None:
        entry = {**self.venue.config_entry(), **FAST, "store": "file",
                 "store_path": str(self.tmp_path / "store"), **settings}
        self.config.write_text(yaml.safe_dump({
            "connectors": {"fix": entry},
            "manager": {"journal": str(self.tmp_path / "journal.sqlite3"),
                        "stop_timeout": 3.0}}))

    def run(self, *, orders: list[dict[str, Any]] | None = None,
            then: list[dict[str, Any]] | None = None, ids: list[str] | None = None,
            report: bool = False) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
        argv = [sys.executable, str(TRADER), str(self.config), "--orders",
                json.dumps(orders or []), "--then", json.dumps(then or []), "--ids",
                json.dumps(ids or [])]
        if report:
            argv.append("--report")
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(proc)
        return proc, self._line(proc)

    @staticmethod
    def _line(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        assert proc.stdout is not None
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                if not selector.select(T):
                    proc.kill()
                    raise AssertionError(f"the trader printed nothing in {T:.0f} s")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    _, err = proc.communicate(timeout=T)
                    raise AssertionError(f"the trader ended ({proc.returncode}): "
                                         f"{err.decode()[-3000:]}")
                data += chunk
        return json.loads(data.split(b"\n", 1)[0])  # type: ignore[no-any-return]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=T)
        assert proc.returncode == -signal.SIGKILL
        assert _wait(lambda: self.venue.sessions_logged_on == 0), "the venue kept the session"

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=T)


def _wait(predicate: Any, timeout: float = T) -> bool:
    from stockfish_core.testing import wait_until
    return wait_until(predicate, timeout)


@pytest.fixture
def traders(tmp_path: Path, venue: FIXVenue) -> Iterator[_Traders]:
    made = _Traders(tmp_path, venue)
    yield made
    made.close()


def _venue_fills(venue: FIXVenue, cid: str) -> list[str]:
    return [f["exec_id"] for f in venue.fills_of(cid)]


@pytest.mark.parametrize("session", ["resumed", "reset"])
def test_dead_process_ids_work_and_missed_fills_are_applied_once(
        traders: _Traders, venue: FIXVenue, session: str) -> None:
    """Run 1 rests two orders and replaces one (a second ClOrdID), then dies. The venue
    fills one in part. Run 2 (the session resumed with the venue's resend, or reset with
    none) replaces the other again and cancels the first, by the dead process's ids, then
    dies. The venue fills the second. Run 3 reports: every fill once, the venue's final
    statuses, no ClOrdID reused, nothing sent twice."""
    rest = [{"cid": "W1", "qty": 10, "price": 1.0}, {"cid": "W2", "qty": 10, "price": 1.0}]
    first, line = traders.run(orders=rest, then=[{"replace": "W2", "qty": 12}])
    assert {o["status"] for o in line["orders"].values()} == {"SUBMITTED"}, line
    assert line["orders"]["W2"]["venue_refs"] == {"cl_ord_ids": "W2-R1",
                                                   "cl_ord_id": "W2-R1"}
    traders.kill(first)
    venue.fill("W1", 4, 1.0)
    if session == "reset":  # our store lost: both sides start again at 1, nothing resent
        traders.configure(reset_on_logon=True)
    second, line = traders.run(then=[{"replace": "W2", "qty": 14}, {"cancel": "W1"}])
    w1, w2 = line["orders"]["W1"], line["orders"]["W2"]
    assert w1["status"] == "CANCELLED" and w1["filled"] == 4, w1
    assert w1["fills"] == _venue_fills(venue, "W1") and not w1["unknown"]
    assert w2["status"] == "SUBMITTED" and w2["quantity"] == 14 and not w2["unknown"], w2
    assert w2["venue_refs"]["cl_ord_ids"] == "W2-R1 W2-R2"
    assert [k for k, cid, _ in line["events"] if cid == "W1"].count("recovered") == 1
    fix = line["fix"]
    if session == "resumed":
        assert fix.get("possdup_reports", 0) >= 1, fix  # the missed fill, resent
    else:
        assert fix.get("possdup_reports", 0) == 0, fix
        assert fix.get("status_requests", 0) >= 2, fix
    traders.kill(second)
    venue.fill("W2", 14, 1.0)
    _, line = traders.run(report=True, ids=["W1", "W2"])
    w1, w2 = line["orders"]["W1"], line["orders"]["W2"]
    assert w1["status"] == "CANCELLED" and w1["fills"] == _venue_fills(venue, "W1")
    assert w2["status"] == "FILLED" and w2["filled"] == 14, w2
    assert w2["fills"] == _venue_fills(venue, "W2") and not w2["unknown"]
    assert venue.duplicate_cl_ord_ids == {}
    assert venue.orders_received_count("W1") == venue.orders_received_count("W2") == 1
    assert venue.order_state("W1")["status"] == "4"  # type: ignore[index]


def test_an_acknowledged_order_the_venue_forgot_stays_of_unknown_outcome(
        traders: _Traders, venue: FIXVenue) -> None:
    """The venue acknowledged two orders, the application died, one was filled in part,
    and the venue lost both (its session store kept the report): the restarted application
    applies the resent fill once and keeps both of unknown outcome with the reason, never
    REJECTED."""
    first, line = traders.run(orders=[{"cid": "K1", "qty": 5, "price": 1.0},
                                      {"cid": "K2", "qty": 5, "price": 1.0}])
    traders.kill(first)
    venue.fill("K2", 2, 1.0)
    assert venue.forget_orders() == 2
    _, line = traders.run(report=True, ids=["K1", "K2"])
    for cid in ("K1", "K2"):
        order = line["orders"][cid]
        assert order["status"] in ("SUBMITTED", "PARTIALLY_FILLED"), order
        assert order["unknown"], order
        reasons = [r for k, c, r in line["events"] if c == cid and k == "unknown_outcome"]
        assert reasons and "no record" in reasons[0], line["events"]
    assert line["orders"]["K2"]["fills"] == _venue_fills(venue, "K2")
    assert line["fix"]["orders_lost_by_venue"] == 2


def test_orders_of_someone_else_are_adopted_and_cancellable(
        traders: _Traders, venue: FIXVenue) -> None:
    """With mass_status_on_logon the venue reports every working order at logon: one
    placed elsewhere (filled in part) is adopted as ``FIX-<OrderID>`` with its fill, and
    cancelled through the manager (OrigClOrdID = its ClOrdID)."""
    placed = venue.add_external_order("AAA", "SELL", 6, 100_000.0, cl_ord_id="THEIRS-1",
                                      fill=2)
    cid = f"FIX-{placed['order_id']}"
    traders.configure(mass_status_on_logon=True)
    _, line = traders.run(then=[{"cancel": cid}], report=True)
    order = line["orders"][cid]
    assert order["external"] and order["status"] == "CANCELLED", order
    assert order["filled"] == 2 and order["fills"] == _venue_fills(venue, "THEIRS-1")
    kinds = [k for k, c, _ in line["events"] if c == cid]
    assert "external_order" in kinds and "external_fill" in kinds, kinds
    state = venue.order_state("THEIRS-1")
    assert state is not None and state["status"] == "4"
    assert state["cl_ord_id"] == f"{cid}-C1"
    assert line["fix"]["mass_status_requests"] == 1 and venue.mass_status_requests == 1


def test_without_mass_status_orders_of_someone_else_are_not_asked_for(
        traders: _Traders, venue: FIXVenue) -> None:
    venue.add_external_order("AAA", "BUY", 3, 1.0, cl_ord_id="THEIRS-2")
    _, line = traders.run(report=True)
    assert line["orders"] == {} and venue.mass_status_requests == 0


def test_a_restored_order_gates_new_orders_until_reconciled(
        venue: FIXVenue, router: Any) -> None:
    """An order of a dead process (tracked again by ``restore_orders``, flagged unknown)
    keeps the connector from taking new orders until the reconciliation settled it; its
    ClOrdID chain maps the venue's answers back to it."""
    at_venue = venue.add_external_order("AAA", "BUY", 5, 1.0, cl_ord_id="OLD-1-R1")
    entry = venue.config_entry()
    entry.pop("type")
    with connector_factory(FIXConnector, router, **{**entry, **FAST}) as make:
        connector = make()
        old = Order("AAA", OrderSide.BUY, 5, OrderType.LIMIT, price=1.0,
                    client_order_id="OLD-1", status=OrderStatus.SUBMITTED,
                    order_id=at_venue["order_id"],
                    venue_refs={"cl_ord_ids": "OLD-1-R1", "cl_ord_id": "OLD-1-R1"})
        assert connector.restore_orders([old]) == 1
        assert connector.recovering
        assert connector.connect()
        fresh = Order("AAA", OrderSide.BUY, 1)
        assert "recovering" in (connector.order_refusal(fresh) or "")
        with pytest.raises(Exception, match="recovering"):
            connector.send_order(fresh)
        report = connector.reconcile_orders(5.0)
        assert report.answered == 1 and not old.unknown_outcome
        assert not connector.recovering and connector.order_refusal(Order("AAA", "BUY", 1)) \
            is None
        assert connector.get_order_status("OLD-1") is OrderStatus.SUBMITTED
        assert connector.cancel_order("OLD-1")
        assert _wait(lambda: old.status is OrderStatus.CANCELLED)
        state = venue.order_state("OLD-1-R1")
        assert state is not None and state["cl_ord_id"] == "OLD-1-C2"  # next in the chain
        assert venue.duplicate_cl_ord_ids == {}


@pytest.fixture
def version() -> str:
    return "FIX44"  # OrderMassStatusRequest: FIX 4.4 and 5.0 SP2


def _place_elsewhere(venue: Any, cl_ord_id: str) -> str:
    """A resting buy of 5 AAA at 1.00 that no connector sent; its OrderID."""
    if isinstance(venue, FIXVenue):
        return str(venue.add_external_order("AAA", "BUY", 5, 1.0, cl_ord_id=cl_ord_id)
                   ["order_id"])
    view = venue.external_order(cl_ord_id, "AAA", 5, side="1", price=1.0)
    assert view is not None
    return str(view.order_id)


def test_restored_and_external_orders_on_both_venue_engines(
        make_venue: Any) -> None:
    """On the QuickFIX venue and the jspurefix one: at logon the mass status reports an
    order of the dead process (found again by its ClOrdID) and one placed elsewhere
    (adopted as external); the reconciliation settles the first; both are cancelled
    through their ids (OrigClOrdID: the last ClOrdID each had)."""
    venue = make_venue(market_data=False)
    old_id = _place_elsewhere(venue, "OLD-7")
    their_id = _place_elsewhere(venue, "THEIRS-7")
    entry = venue.config_entry()
    entry.pop("type")
    connector = FIXConnector(**{**entry, **FAST, "mass_status_on_logon": True})
    try:
        old = Order("AAA", OrderSide.BUY, 5, OrderType.LIMIT, price=1.0,
                    client_order_id="OLD-7", status=OrderStatus.SUBMITTED, order_id=old_id)
        connector.restore_orders([old])
        assert connector.connect()
        external = connector.find_order(f"FIX-{their_id}")
        assert external.external and external.status is OrderStatus.SUBMITTED
        assert connector.get_stats()["fix"]["mass_status_requests"] == 1
        assert connector.reconcile_orders(5.0).answered == 2
        assert not old.unknown_outcome and not connector.recovering
        for cid in ("OLD-7", f"FIX-{their_id}"):
            assert connector.cancel_order(cid)
        assert _wait(lambda: old.status is OrderStatus.CANCELLED
                     and external.status is OrderStatus.CANCELLED)
        assert connector.get_stats()["data_errors"] == 0, connector.get_stats()
    finally:
        connector.close(timeout=5.0)


def test_a_replace_confirmed_while_the_process_was_dead_is_taken_from_the_status(
        venue: FIXVenue, router: Any) -> None:
    """The dead process replaced 5 -> 8 and died before the confirmation: the journal
    holds 5, the venue 8. The status answer amends the order, so the fills of all 8 apply."""
    at_venue = venue.add_external_order("AAA", "BUY", 8, 1.0, cl_ord_id="REP-1-R1")
    entry = venue.config_entry()
    entry.pop("type")
    with connector_factory(FIXConnector, router, **{**entry, **FAST}) as make:
        connector = make()
        old = Order("AAA", OrderSide.BUY, 5, OrderType.LIMIT, price=1.0,
                    client_order_id="REP-1", status=OrderStatus.SUBMITTED,
                    order_id=at_venue["order_id"], venue_refs={"cl_ord_ids": "REP-1-R1"})
        connector.restore_orders([old])
        assert connector.connect()
        assert connector.reconcile_orders(5.0).answered == 1
        assert old.quantity == 8 and not old.unknown_outcome
        venue.fill("REP-1-R1", 8, 1.0)
        assert _wait(lambda: old.status is OrderStatus.FILLED and old.filled_quantity == 8)
        assert connector.get_stats()["fix"]["replaces_from_status"] == 1
