"""The connector conformance kit.

Subclass :class:`ConnectorConformance` in a test module, give it a simulated venue and a
connector factory, and pytest runs the whole contract against your connector::

    from stockfish_core.testing import ConnectorConformance

    class TestMyConformance(ConnectorConformance):
        symbols = ("AAA", "BBB")          # two symbols the venue streams

        @pytest.fixture
        def venue(self):
            venue = MyVenue(); venue.start()
            yield venue
            venue.stop()

        def make_connector(self, venue, router):
            return MyConnector(router=router, port=venue.port, reconnect_initial_delay=0.05)

        def drop_connection(self, venue, connector):
            venue.drop_connections()

        def send_bad_input(self, venue, connector):
            venue.send_garbage()

Optional hooks: ``market_order()``, ``resting_limit_order()``, ``rejected_order()``,
``partial_fill_order()`` (``None`` skips that test), ``unknown_symbol`` (``None`` when the
venue cannot tell). Tests for orders are skipped for data-only connectors, which must
instead refuse orders.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import math
import textwrap
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from stockfish_core import connector as core_connector
from stockfish_core import order_path as core_order_path
from stockfish_core.connector import BaseConnector, Capabilities, ConnectorStatus
from stockfish_core.errors import (
    ConnectorError,
    OrderRejectedError,
    SubscriptionError,
    UnknownOrderError,
)
from stockfish_core.models import DataType, OrderBookSnapshot, PriceTick
from stockfish_core.orders import Order, OrderSide, OrderStatus, OrderType
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing.waiting import Recorder

__all__ = ["ConnectorConformance"]

REQUIRED_STATS = (
    "name", "type", "status", "connected", "connected_at", "uptime_s", "last_update_time",
    "updates_received", "updates_normalized", "updates_by_type", "data_errors",
    "data_errors_by_kind", "connection_errors", "reconnection_attempts", "reconnections",
    "orders_submitted", "orders_filled", "orders_cancelled", "orders_rejected",
    "order_errors", "fills_applied", "duplicate_fills", "open_orders", "subscriptions",
)
GARBAGE: tuple[Any, ...] = (None, {}, [], "not a message", 42, {"symbol": 1},
                            {"symbol": "X", "bid": "abc"}, b"\xff\xfe", float("nan"))


def _core_private_names() -> set[str]:
    """Every ``_private`` attribute and method name of the core's connector classes."""
    names: set[str] = set()
    for module in (core_connector, core_order_path):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "self":
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_core_names_used(cls: type) -> list[str]:
    """``Class: self._name`` for each use of a private core name in ``cls``'s own classes
    (its MRO minus the core's): a plugin must use the public helpers only."""
    private = _core_private_names()
    found = []
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] in ("stockfish_core", "builtins", "abc"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "self" and node.attr in private:
                found.append(f"{klass.__qualname__}: self.{node.attr}")
    return sorted(set(found))


class ConnectorConformance:
    """Base class of the conformance suite. See the module docstring."""

    symbols: tuple[str, str] = ("AAA", "BBB")
    unknown_symbol: str | None = "UNKNOWNSYM"
    timeout: float = 10.0
    updates_wanted: int = 3

    # -- what a subclass provides ---------------------------------------------------------
    @pytest.fixture
    def venue(self) -> Iterator[Any]:
        pytest.fail(f"{type(self).__name__} must define a `venue` fixture")
        yield None  # pragma: no cover

    def make_connector(self, venue: Any, router: DataFeedRouter) -> BaseConnector:
        raise NotImplementedError(f"{type(self).__name__} must define make_connector()")

    def drop_connection(self, venue: Any, connector: BaseConnector) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define drop_connection()")

    def send_bad_input(self, venue: Any, connector: BaseConnector) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define send_bad_input()")

    def market_order(self) -> Order:
        return Order(self.symbols[0], OrderSide.BUY, 1)

    def resting_limit_order(self) -> Order:
        """A limit order that rests without filling (far below the market)."""
        return Order(self.symbols[0], OrderSide.BUY, 1, OrderType.LIMIT, price=0.01)

    def rejected_order(self) -> Order | None:
        """An order the venue itself rejects (default: an unlisted symbol)."""
        return Order(self.unknown_symbol, OrderSide.BUY, 1) if self.unknown_symbol else None

    def partial_fill_order(self) -> Order | None:
        """An order the venue fills in more than one execution, or ``None``."""
        return None

    # -- fixtures -------------------------------------------------------------------------
    @pytest.fixture
    def router(self) -> DataFeedRouter:
        return DataFeedRouter()

    @pytest.fixture
    def connector(self, venue: Any, router: DataFeedRouter) -> Iterator[BaseConnector]:
        connector = self.make_connector(venue, router)
        yield connector
        connector.close(timeout=self.timeout)

    @pytest.fixture
    def recorder(self, connector: BaseConnector, router: DataFeedRouter) -> Iterator[Recorder]:
        recorder = Recorder(connector, router)
        yield recorder
        recorder.close()

    @pytest.fixture
    def live(self, connector: BaseConnector, recorder: Recorder) -> BaseConnector:
        assert connector.connect(), f"connect() failed: {connector.get_stats()['last_error']}"
        assert connector.is_connected
        return connector

    def _skip_unless_orders(self, connector: BaseConnector) -> None:
        if connector.data_only or connector.capabilities.data_only:
            pytest.skip("data-only connector")

    def _wait_order(self, recorder: Recorder, order: Order, *statuses: OrderStatus) -> None:
        ok = recorder.wait(lambda: order.status in statuses, self.timeout)
        assert ok, f"{order!r} never reached {[s.value for s in statuses]}"

    # -- declaration ----------------------------------------------------------------------
    def test_declares_contract(self, connector: BaseConnector) -> None:
        cls = type(connector)
        assert isinstance(cls.connector_type, str) and cls.connector_type != "base"
        assert isinstance(cls.capabilities, Capabilities)
        assert attrs.has(cls.settings_class)
        assert connector.capabilities.data_types, "declare the data types you deliver"
        stats = connector.get_stats()
        missing = [k for k in REQUIRED_STATS if k not in stats]
        assert not missing, f"get_stats() lacks {missing}"

    def test_uses_only_the_public_core_api(self, connector: BaseConnector) -> None:
        used = private_core_names_used(type(connector))
        assert not used, f"private core names used (use the public helpers): {used}"

    # -- lifecycle ------------------------------------------------------------------------
    def test_starts_disconnected(self, connector: BaseConnector) -> None:
        assert connector.status is ConnectorStatus.DISCONNECTED
        assert not connector.is_connected
        assert connector.get_stats()["connected"] is False

    def test_connect_and_disconnect(self, connector: BaseConnector, recorder: Recorder) -> None:
        assert connector.connect()
        assert recorder.statuses[:2] == [ConnectorStatus.CONNECTING, ConnectorStatus.CONNECTED]
        assert connector.is_connected_check()
        assert connector.get_stats()["connected_at"] is not None
        connector.disconnect()
        assert connector.status is ConnectorStatus.DISCONNECTED
        assert not connector.is_connected_check()
        assert connector.get_stats()["connected"] is False

    def test_connect_twice_is_harmless(self, live: BaseConnector) -> None:
        assert live.connect()
        assert live.is_connected

    # -- market data ----------------------------------------------------------------------
    def test_price_updates_are_normalized(self, live: BaseConnector, recorder: Recorder) -> None:
        symbol = self.symbols[0]
        assert live.subscribe_price(symbol) is not False
        assert recorder.wait_updates(self.updates_wanted, self.timeout, DataType.PRICE_TICK,
                                     symbol), "no price ticks arrived"
        update = next(u for u in recorder.updates if u.data_type is DataType.PRICE_TICK)
        assert update.source == live.name
        assert update.symbol == symbol
        assert isinstance(update.payload, PriceTick)
        assert isinstance(update.ts_event, int) and isinstance(update.ts_recv, int)
        tick = update.payload
        for value in (tick.bid, tick.ask, tick.last):
            assert value is None or (math.isfinite(value) and value > 0)
        stats = live.get_stats()
        assert stats["updates_normalized"] >= self.updates_wanted
        assert stats["updates_by_type"].get("price_tick", 0) >= self.updates_wanted
        assert symbol in live.subscribed_symbols

    def test_orderbook_updates_are_normalized(
        self, live: BaseConnector, recorder: Recorder
    ) -> None:
        if DataType.ORDERBOOK_SNAPSHOT not in live.capabilities.data_types:
            pytest.skip("connector delivers no order books")
        symbol = self.symbols[0]
        assert live.subscribe_orderbook(symbol, 5) is not False
        assert recorder.wait_updates(self.updates_wanted, self.timeout,
                                     DataType.ORDERBOOK_SNAPSHOT, symbol), "no books arrived"
        books = [u.payload for u in recorder.updates
                 if u.data_type is DataType.ORDERBOOK_SNAPSHOT]
        for book in books:
            assert isinstance(book, OrderBookSnapshot)
            assert not book.is_crossed
            assert list(book.bids) == sorted(book.bids, key=lambda lv: -lv.price)
            assert list(book.asks) == sorted(book.asks, key=lambda lv: lv.price)

    def test_unsubscribe_stops_updates(self, live: BaseConnector, recorder: Recorder) -> None:
        first, second = self.symbols
        live.subscribe_price(first)
        live.subscribe_price(second)
        assert recorder.wait_updates(self.updates_wanted, self.timeout, symbol=first)
        assert recorder.wait_updates(self.updates_wanted, self.timeout, symbol=second)
        live.unsubscribe(first)
        assert first not in live.subscribed_symbols
        # Updates already in flight may still land; after that the other symbol keeps
        # flowing and the unsubscribed one must stay silent.
        assert recorder.wait_updates(self.updates_wanted, self.timeout, symbol=second)
        settled = recorder.count(symbol=first)
        assert recorder.wait_updates(2 * self.updates_wanted, self.timeout, symbol=second)
        assert recorder.count(symbol=first) == settled

    def test_unknown_symbol_is_a_clear_error(self, live: BaseConnector) -> None:
        if self.unknown_symbol is None:
            pytest.skip("the venue cannot tell an unknown symbol")
        try:
            result = live.subscribe_price(self.unknown_symbol)
        except SubscriptionError as exc:
            assert self.unknown_symbol in str(exc)
        else:
            assert result is False
        assert live.is_connected

    def test_garbage_is_counted_not_raised(self, live: BaseConnector) -> None:
        before = live.get_stats()["data_errors"]
        rejected = 0
        for normalize in (live.on_price_tick, live.on_orderbook, live.on_news, live.on_macro):
            for garbage in GARBAGE:
                if normalize(garbage) is None:
                    rejected += 1
        assert rejected > 0
        assert live.get_stats()["data_errors"] - before == rejected
        assert live.is_connected

    def test_bad_input_from_venue_is_counted(
        self, venue: Any, live: BaseConnector, recorder: Recorder
    ) -> None:
        symbol = self.symbols[0]
        live.subscribe_price(symbol)
        assert recorder.wait_updates(1, self.timeout, symbol=symbol)
        before = live.get_stats()["data_errors"]
        self.send_bad_input(venue, live)
        assert recorder.wait(lambda: live.get_stats()["data_errors"] > before, self.timeout), \
            "malformed input from the venue was not counted"
        assert recorder.wait_updates(self.updates_wanted, self.timeout, symbol=symbol), \
            "the feed stopped after bad input"
        assert live.is_connected

    # -- orders ---------------------------------------------------------------------------
    def test_data_only_refuses_orders(self, live: BaseConnector) -> None:
        if not (live.data_only or live.capabilities.data_only):
            pytest.skip("connector takes orders")
        order = self.market_order()
        with pytest.raises(OrderRejectedError):
            live.send_order(order)
        assert order.status is OrderStatus.REJECTED
        assert order.reject_reason

    def test_market_order_fills(self, live: BaseConnector, recorder: Recorder) -> None:
        self._skip_unless_orders(live)
        order = self.market_order()
        order_id = live.send_order(order)
        assert order_id == order.client_order_id
        self._wait_order(recorder, order, OrderStatus.FILLED)
        assert math.isclose(sum(f.quantity for f in order.fills), order.quantity)
        assert order.filled_quantity == order.quantity
        assert order.avg_fill_price and order.avg_fill_price > 0
        assert live.get_order_status(order_id) is OrderStatus.FILLED
        assert order.order_id, "the venue's order id was not recorded"
        assert live.get_order_status(order.order_id) is OrderStatus.FILLED
        stats = live.get_stats()
        assert stats["orders_submitted"] >= 1 and stats["orders_filled"] >= 1
        assert stats["fills_applied"] >= 1

    def test_limit_order_rests_and_cancels(self, live: BaseConnector, recorder: Recorder) -> None:
        self._skip_unless_orders(live)
        order = self.resting_limit_order()
        live.send_order(order)
        self._wait_order(recorder, order, OrderStatus.SUBMITTED)
        assert live.cancel_order(order.client_order_id)
        self._wait_order(recorder, order, OrderStatus.CANCELLED)
        assert order.filled_quantity == 0
        assert live.get_stats()["orders_cancelled"] >= 1
        assert live.cancel_order(order.client_order_id) is False

    def test_venue_rejects_bad_order(self, live: BaseConnector, recorder: Recorder) -> None:
        self._skip_unless_orders(live)
        order = self.rejected_order()
        if order is None:
            pytest.skip("no order the venue rejects")
        with contextlib.suppress(OrderRejectedError):
            live.send_order(order)
        self._wait_order(recorder, order, OrderStatus.REJECTED)
        assert order.reject_reason
        assert live.is_connected

    def test_partial_fill(self, live: BaseConnector, recorder: Recorder) -> None:
        self._skip_unless_orders(live)
        order = self.partial_fill_order()
        if order is None:
            pytest.skip("the venue does not fill partially")
        live.send_order(order)
        assert recorder.wait(lambda: len(order.fills) >= 2 or (
            order.status is OrderStatus.PARTIALLY_FILLED), self.timeout)
        seen = [e.status for e in recorder.order_events if e.kind == "fill"
                and e.client_order_id == order.client_order_id]
        assert OrderStatus.PARTIALLY_FILLED in seen
        assert order.filled_quantity <= order.quantity

    def test_same_order_is_sent_once(self, live: BaseConnector, recorder: Recorder) -> None:
        self._skip_unless_orders(live)
        order = self.resting_limit_order()
        first = live.send_order(order)
        submitted = live.get_stats()["orders_submitted"]
        assert live.send_order(order) == first
        assert live.get_stats()["orders_submitted"] == submitted
        self._wait_order(recorder, order, OrderStatus.SUBMITTED)
        live.cancel_order(first)
        self._wait_order(recorder, order, OrderStatus.CANCELLED)

    def test_unsupported_order_type_never_reaches_the_wire(self, live: BaseConnector) -> None:
        self._skip_unless_orders(live)
        unsupported = [t for t in OrderType if t not in live.capabilities.order_types]
        if not unsupported:
            pytest.skip("every order type is supported")
        kind = unsupported[0]
        order = Order(self.symbols[0], OrderSide.BUY, 1, kind,
                      price=1.0 if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                      stop_price=1.0 if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None)
        with pytest.raises(OrderRejectedError):
            live.send_order(order)
        assert order.status is OrderStatus.REJECTED

    def test_order_while_disconnected_is_refused(self, connector: BaseConnector) -> None:
        self._skip_unless_orders(connector)
        order = self.market_order()
        with pytest.raises(ConnectorError):
            connector.send_order(order)
        assert order.status is OrderStatus.REJECTED
        assert "not connected" in (order.reject_reason or "")

    def test_unknown_order_id(self, live: BaseConnector) -> None:
        with pytest.raises((UnknownOrderError, OrderRejectedError)):
            live.cancel_order("no-such-order")
        with pytest.raises((UnknownOrderError, OrderRejectedError)):
            live.get_order_status("no-such-order")

    # -- reconnect ------------------------------------------------------------------------
    def test_reconnects_and_resubscribes_after_a_drop(
        self, venue: Any, live: BaseConnector, recorder: Recorder
    ) -> None:
        symbol = self.symbols[0]
        live.subscribe_price(symbol)
        assert recorder.wait_updates(self.updates_wanted, self.timeout, symbol=symbol)
        before = live.get_stats()
        subscriptions = set(live.subscriptions)
        mark = len(recorder.statuses)
        self.drop_connection(venue, live)
        assert recorder.wait(lambda: any(s is not ConnectorStatus.CONNECTED
                                         for s in recorder.statuses[mark:]), self.timeout), \
            "the drop was not noticed"
        assert recorder.wait(lambda: live.is_connected and ConnectorStatus.CONNECTED in
                             recorder.statuses[mark:], 3 * self.timeout), "did not reconnect"
        assert recorder.wait_updates(self.updates_wanted, self.timeout, symbol=symbol), \
            "updates did not resume after the reconnect"
        after = live.get_stats()
        assert set(live.subscriptions) == subscriptions
        assert after["connection_errors"] > before["connection_errors"]
        assert after["reconnections"] > before["reconnections"]
        assert after["updates_normalized"] > before["updates_normalized"], "stats were reset"

    def test_working_order_survives_a_drop(
        self, venue: Any, live: BaseConnector, recorder: Recorder
    ) -> None:
        self._skip_unless_orders(live)
        order = self.resting_limit_order()
        live.send_order(order)
        self._wait_order(recorder, order, OrderStatus.SUBMITTED)
        mark = len(recorder.statuses)
        self.drop_connection(venue, live)
        assert recorder.wait(lambda: live.is_connected and ConnectorStatus.CONNECTED in
                             recorder.statuses[mark:], 3 * self.timeout), "did not reconnect"
        assert recorder.wait(lambda: not order.unknown_outcome, self.timeout), \
            "the working order was not reconciled after the reconnect"
        assert order.status is OrderStatus.SUBMITTED
        assert live.cancel_order(order.client_order_id)
        self._wait_order(recorder, order, OrderStatus.CANCELLED)
