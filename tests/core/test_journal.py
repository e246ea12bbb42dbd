"""The order journal: the intent before the wire, everything after it, one process at a
time, no silent fresh start, compaction, private files, and restarts that know every order."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from stockfish_core.errors import JournalError, OrderRejectedError
from stockfish_core.journal import INTENTS_SUFFIX, OrderJournal
from stockfish_core.manager import ExchangeManager
from stockfish_core.models import now_ns
from stockfish_core.orders import Fill, Order, OrderSide, OrderStatus, OrderType
from stockfish_core.sim import SimConnector
from stockfish_core.testing import wait_until

T = 10.0


def _rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the journal as another process would: its own connection."""
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


class _Probe(SimConnector):
    """A sim connector that looks into the journal's files when the order reaches the
    wire: the intent must be where a restart reads it (the database, or the intent log
    that the next open commits to it)."""

    seen_in_journal: list[bool]
    path: Path

    def submit_order(self, order: Order) -> None:
        rows = _rows(self.path, "SELECT status FROM orders WHERE client_order_id = ?",
                     order.client_order_id)
        logged = [orjson.loads(line) for line in
                  Path(str(self.path) + INTENTS_SUFFIX).read_bytes().splitlines()]
        self.seen_in_journal.append(rows == [("PENDING",)] or any(
            row[0] == order.client_order_id and row[13] == "PENDING" for row in logged))
        super().submit_order(order)


def test_the_intent_is_committed_before_the_wire(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with OrderJournal(str(path)) as journal:
        connector = _Probe(name="p", venue=f"probe-{now_ns()}")
        connector.seen_in_journal, connector.path = [], path
        connector.journal = journal
        try:
            assert connector.connect()
            order = Order("SPY", OrderSide.BUY, 2)
            connector.send_order(order)
            assert wait_until(lambda: order.status is OrderStatus.FILLED, T)
        finally:
            connector.close()
        assert connector.seen_in_journal == [True]
        assert journal.flush()
        [(status, filled, unknown)] = _rows(
            path, "SELECT status, filled_quantity, unknown_outcome FROM orders")
        assert (status, filled, unknown) == ("FILLED", 2.0, 0)
        fills = _rows(path, "SELECT exec_id, quantity FROM fills")
        assert sorted(f[0] for f in fills) == sorted(f.exec_id for f in order.fills)


def test_an_order_that_cannot_be_journaled_is_never_sent(tmp_path: Path) -> None:
    journal = OrderJournal(str(tmp_path / "j.sqlite3"))
    connector = SimConnector(name="p", venue=f"nojournal-{now_ns()}")
    connector.journal = journal
    try:
        assert connector.connect()
        first = Order("SPY", OrderSide.BUY, 1, client_order_id="REUSED-1")
        connector.send_order(first)
        assert wait_until(lambda: first.is_terminal, T)
        # The same client order id in a later run: the journal refuses it, nothing is sent.
        connector.orders.clear()
        again = Order("SPY", OrderSide.BUY, 1, client_order_id="REUSED-1")
        with pytest.raises(OrderRejectedError, match="already in the journal"):
            connector.send_order(again)
        assert again.status is OrderStatus.REJECTED
        assert connector.venue.orders_received["REUSED-1"] == 1
        journal.close()
        closed = Order("SPY", OrderSide.BUY, 1)
        with pytest.raises(OrderRejectedError, match="journal is closed"):
            connector.send_order(closed)
        assert connector.venue.orders_received[closed.client_order_id] == 0
    finally:
        connector.close()
        journal.close()


def test_one_process_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with OrderJournal(str(path)):
        code = ("import sys; from stockfish_core.journal import INTENTS_SUFFIX, OrderJournal; "
                "from stockfish_core.errors import JournalError\n"
                f"try: OrderJournal({str(path)!r})\n"
                "except JournalError as e: print(e); sys.exit(3)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, check=False)
        assert out.returncode == 3, out.stderr
        assert f"is in use by pid {os.getpid()}" in out.stdout
        with pytest.raises(JournalError, match="in use"):
            OrderJournal(str(path))
    OrderJournal(str(path)).close()  # released with the first one


def test_an_intent_the_writer_never_committed_is_replayed_at_the_next_open(
        tmp_path: Path) -> None:
    """The process dies after the intent reached the log (so the order may be at the
    venue) but before its writer committed it: the next open commits it."""
    path = tmp_path / "j.sqlite3"
    code = ("import os; from stockfish_core.journal import OrderJournal\n"
            "from stockfish_core.orders import Order\n"
            f"j = OrderJournal({str(path)!r})\n"
            "j._lock.acquire()  # the writer thread cannot commit: the crash comes first\n"
            "j.record_intent(Order('SPY', 'BUY', 3, client_order_id='LOGGED-1', "
            "connector='x'))\n"
            "os._exit(9)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 9, out.stderr
    assert _rows(path, "SELECT client_order_id FROM orders") == []
    # a line cut short by a crash in the middle of a write is skipped, not fatal
    with open(str(path) + INTENTS_SUFFIX, "ab") as log_file:
        log_file.write(b'["TORN-1", "x", "SP')
    with OrderJournal(str(path)) as journal:
        assert journal.stats()["intents_replayed"] == 1
        order = journal.find("LOGGED-1")
        assert order is not None
        assert (order.status, order.quantity, order.connector) == (OrderStatus.PENDING, 3, "x")
        assert [o.client_order_id for o in journal.open_orders("x")] == ["LOGGED-1"]
        with pytest.raises(JournalError, match="already in the journal"):
            journal.record_intent(Order("SPY", OrderSide.BUY, 1, client_order_id="LOGGED-1",
                                        connector="x"))
    assert Path(str(path) + INTENTS_SUFFIX).read_bytes() == b""


def test_an_id_is_refused_while_its_intent_waits_for_the_writer(tmp_path: Path) -> None:
    with OrderJournal(str(tmp_path / "j.sqlite3")) as journal:
        with journal._lock:  # the writer is held: the first intent is in the log only
            journal.record_intent(Order("SPY", OrderSide.BUY, 1, client_order_id="TWICE-1",
                                        connector="x"))
            with pytest.raises(JournalError, match="already in the journal"):
                journal.record_intent(Order("SPY", OrderSide.BUY, 1,
                                            client_order_id="TWICE-1", connector="x"))
        assert journal.flush()
        assert journal.stats()["uncommitted_intents"] == 0
        assert journal.count() == {"open": 1, "terminal": 0, "fills": 0}


def test_reused_ids_are_refused_past_the_ids_kept_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to a bound the journal checks a new id against the ids it keeps in memory; past
    it (this run's intents, or a journal opened with more), it asks the database."""
    import stockfish_core.journal as journal_module

    monkeypatch.setattr(journal_module, "_KNOWN_IDS_MAX", 2)
    path = str(tmp_path / "j.sqlite3")

    def intent(cid: str) -> Order:
        return Order("SPY", OrderSide.BUY, 1, client_order_id=cid, connector="x")

    with OrderJournal(path) as journal:
        for cid in ("ID-1", "ID-2", "ID-3"):  # the third goes past the bound
            journal.record_intent(intent(cid))
        for cid in ("ID-1", "ID-3"):
            with pytest.raises(JournalError, match="already in the journal"):
                journal.record_intent(intent(cid))
    with OrderJournal(path) as journal:  # three ids: opened without the set
        assert journal._known_ids is None
        with pytest.raises(JournalError, match="already in the journal"):
            journal.record_intent(intent("ID-2"))
        journal.record_intent(intent("ID-4"))
    monkeypatch.setattr(journal_module, "_KNOWN_IDS_MAX", 10)
    with OrderJournal(path) as journal:  # four ids: kept in memory
        assert journal._known_ids == {"ID-1", "ID-2", "ID-3", "ID-4"}
        with pytest.raises(JournalError, match="already in the journal"):
            journal.record_intent(intent("ID-4"))


def test_a_corrupt_journal_is_a_clear_error_not_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"this is not a database " * 100)
    with pytest.raises(JournalError, match="cannot be used|corrupt"):
        OrderJournal(str(path))
    assert path.read_bytes().startswith(b"this is not a database")  # left for the user


def test_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "j.sqlite3"
    with OrderJournal(str(path)) as journal:
        journal.record_intent(Order("SPY", OrderSide.BUY, 1, connector="x"))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for name in os.listdir(path.parent):
        assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name


def test_terminal_orders_are_compacted_after_the_retention(tmp_path: Path) -> None:
    with OrderJournal(str(tmp_path / "j.sqlite3"), retention=3600.0) as journal:
        old = Order("SPY", OrderSide.BUY, 1, connector="x")
        journal.record_intent(old)
        old.apply_fill(Fill("E1", 1.0, 10.0))
        old.updated_ns = now_ns() - int(7200e9)
        journal.record_order(old)
        young = Order("SPY", OrderSide.BUY, 1, connector="x")
        journal.record_intent(young)
        young.apply_status(OrderStatus.CANCELLED)
        journal.record_order(young)
        resting = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=1.0, connector="x")
        resting.created_ns = resting.updated_ns = now_ns() - int(9000e9)
        journal.record_intent(resting)
        assert journal.compact() == 1
        assert journal.find(old.client_order_id) is None
        assert journal.find(young.client_order_id) is not None
        assert journal.find(resting.client_order_id) is not None  # open: never compacted
        assert journal.count() == {"open": 1, "terminal": 1, "fills": 0}


def test_what_the_journal_gives_back(tmp_path: Path) -> None:
    with OrderJournal(str(tmp_path / "j.sqlite3")) as journal:
        order = Order("SPY", OrderSide.SELL, 10, OrderType.LIMIT, price=12.5, account="ACC1",
                      connector="x", tags={"strategy": "s1"})
        journal.record_intent(order)
        order.order_id = "V-7"
        order.venue_refs["cl_ord_id"] = "C-2"
        order.apply_status(OrderStatus.SUBMITTED)
        order.apply_fill(Fill("E1", 4.0, 12.5, venue_order_id="V-7"))
        journal.record_order(order)
        journal.record_order(order)  # fills are kept once per execution id
        [back] = journal.open_orders("x")
        assert journal.open_orders("other") == []
        assert back.client_order_id == order.client_order_id
        assert (back.symbol, back.side, back.quantity, back.price, back.account) == \
            ("SPY", OrderSide.SELL, 10.0, 12.5, "ACC1")
        assert back.status is OrderStatus.PARTIALLY_FILLED
        assert back.filled_quantity == 4.0 and back.order_id == "V-7"
        assert [f.exec_id for f in back.fills] == ["E1"] and back.has_fill("E1")
        assert back.tags == {"strategy": "s1"} and back.venue_refs == {"cl_ord_id": "C-2"}
        journal.save_state("x", "next_order_id", "1234")
    with OrderJournal(str(tmp_path / "j.sqlite3")) as journal:
        assert journal.load_state("x", "next_order_id") == "1234"
        assert journal.load_state("x", "nothing") is None


def _manager(path: Path, venue: str, **kwargs: Any) -> ExchangeManager:
    kwargs.setdefault("health_check_interval", 0.5)
    manager = ExchangeManager("primary_backup", journal=str(path), stop_timeout=3.0, **kwargs)
    manager.add_connector(SimConnector(name="paper", venue=venue, tick_interval=0.005,
                                       reconnect_initial_delay=0.02), "paper", primary=True)
    return manager


def test_a_restart_knows_every_order_of_the_last_run(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    venue = f"restart-{now_ns()}"
    first = _manager(path, venue)
    assert first.start_all()
    resting = Order("SPY", OrderSide.BUY, 3, OrderType.LIMIT, price=0.5)
    filled = Order("SPY", OrderSide.BUY, 2)
    first.send_order(resting)
    first.send_order(filled)
    assert first.wait_orders(lambda: resting.status is OrderStatus.SUBMITTED
                             and filled.status is OrderStatus.FILLED, T)
    # The process "dies": its connector stops without any order being cancelled, and the
    # venue keeps the resting order working.
    first.get_connector("paper").close()
    first.journal.close()  # type: ignore[union-attr]

    second = _manager(path, venue)
    events: list[Any] = []
    second.add_order_listener(events.append)
    try:
        assert second.start_all()
        back = second.get_order(resting.client_order_id)
        assert back is not resting and back.status is OrderStatus.SUBMITTED
        assert not back.unknown_outcome
        assert back.order_id == resting.order_id
        assert second.get_order_status(resting.order_id) is OrderStatus.SUBMITTED
        kinds = [e.kind for e in events if e.client_order_id == resting.client_order_id]
        assert kinds[:1] == ["recovered"] and "reconciled" in kinds
        # Terminal orders are not reloaded into the connector, yet their ids keep answering
        # (from the journal): status, fills, and a cancel that is simply too late.
        old = second.get_order(filled.client_order_id)
        assert old is not filled and old.status is OrderStatus.FILLED
        assert [f.exec_id for f in old.fills] == [f.exec_id for f in filled.fills]
        assert second.get_order_status(filled.order_id) is OrderStatus.FILLED
        assert second.cancel_order(filled.client_order_id) is False
        assert filled.client_order_id not in second.get_connector("paper").orders
        assert second.cancel_order(resting.client_order_id)
        assert second.wait_orders(lambda: back.status is OrderStatus.CANCELLED, T)
        assert second.get_stats()["paper"]["orders_recovered"] == 1
    finally:
        second.close()


def test_new_orders_wait_for_the_reconciliation_of_the_last_run(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with OrderJournal(str(path)) as journal:
        ghost = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5, connector="paper")
        journal.record_intent(ghost)  # journaled, then the process died before the wire
    manager = _manager(path, f"gate-{now_ns()}")
    connector = manager.get_connector("paper")
    try:
        connector.restore_orders(manager.journal.open_orders("paper"))  # type: ignore[union-attr]
        assert connector.connect()
        refused = Order("SPY", OrderSide.BUY, 1)
        with pytest.raises(OrderRejectedError, match="recovering"):
            manager.send_order(refused, "paper")
        report = connector.reconcile_orders()
        assert report.answered == 1 and not connector.recovering
        back = connector.find_order(ghost.client_order_id)
        assert back.status is OrderStatus.REJECTED  # the venue never received it
        assert "never received" in (back.reject_reason or "")
        ok = Order("SPY", OrderSide.BUY, 1)
        manager.send_order(ok, "paper")
        assert manager.wait_orders(lambda: ok.status is OrderStatus.FILLED, T)
    finally:
        manager.close()


def test_a_failed_reconciliation_at_start_is_retried_by_the_health_check(
        tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with OrderJournal(str(path)) as journal:
        journal.record_intent(Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5,
                                    connector="paper"))
    manager = _manager(path, f"retry-{now_ns()}", health_check_interval=3600.0)
    connector = manager.get_connector("paper")
    calls: list[int] = []
    ask = connector.request_order_states

    def flaky(orders: list[Order], timeout: float) -> set[str]:
        calls.append(len(orders))
        if len(calls) == 1:
            raise TimeoutError("the venue did not answer")
        return ask(orders, timeout)

    connector.request_order_states = flaky  # type: ignore[method-assign]
    try:
        manager.start_all()
        assert connector.is_connected and connector.recovering  # the first try failed
        assert manager.monitor.check_once() == 0
        assert not connector.recovering and len(calls) == 2
    finally:
        manager.close()


def test_external_orders_are_journaled_listed_and_cancellable(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    manager = _manager(path, f"external-{now_ns()}")
    events: list[Any] = []
    manager.add_order_listener(events.append)
    try:
        assert manager.start_all()
        connector = manager.get_connector("paper")
        # Placed at the venue by someone else; the connector finds it and adopts it.
        other = SimConnector(name="other", venue=connector.venue.name)
        assert other.connect()
        theirs = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5)
        other.send_order(theirs)
        assert wait_until(lambda: theirs.status is OrderStatus.SUBMITTED, T)
        other.close()
        seen = Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5,
                     client_order_id=theirs.client_order_id)
        adopted = connector.adopt_external_order(seen, "found at the venue")
        assert adopted.external and manager.get_order(theirs.client_order_id) is adopted
        assert [e.kind for e in events if e.client_order_id == adopted.client_order_id] \
            == ["external_order"]
        assert manager.get_stats()["paper"]["orders_external"] == 1
        assert manager.journal.find(adopted.client_order_id).external  # type: ignore[union-attr]
        connector.reconcile_orders(orders=[adopted])  # the venue routes its reports here
        assert manager.cancel_order(adopted.client_order_id)
        assert manager.wait_orders(lambda: adopted.status is OrderStatus.CANCELLED, T)
    finally:
        manager.close()


def test_on_stop_cancel_open_cancels_and_waits(tmp_path: Path) -> None:
    manager = _manager(tmp_path / "j.sqlite3", f"onstop-{now_ns()}", on_stop="cancel_open")
    assert manager.start_all()
    resting = [Order("SPY", OrderSide.BUY, 1, OrderType.LIMIT, price=0.5) for _ in range(3)]
    for order in resting:
        manager.send_order(order)
    assert manager.wait_orders(lambda: all(o.status is OrderStatus.SUBMITTED
                                           for o in resting), T)
    manager.close()
    assert all(o.status is OrderStatus.CANCELLED for o in resting)
    with OrderJournal(str(tmp_path / "j.sqlite3")) as journal:
        assert journal.count()["open"] == 0
