"""What a fake TWS in another process answers on its control channel (the channel itself
is :mod:`stockfish_core.testing.venue_process`): its control methods and records, each with
JSON-able arguments and results."""

from __future__ import annotations

from typing import Any

from stockfish_core.testing.venue_process import plain_dispatch

from stockfish_ibkr.testing.fake_tws import FakeTWS

__all__ = ["CONTROL_METHODS", "CONTROL_PROPERTIES", "call_control"]

CONTROL_METHODS = frozenset({
    "inject_error", "pending_errors", "clear_errors", "drop_connections", "refuse_connections",
    "restart", "set_reply_delay", "stall", "send_error", "connectivity_lost",
    "connectivity_restored", "farm_lost", "farm_restored", "farm_inactive", "farms",
    "kill_streams",
    "reject_next_order", "set_price", "fill_working_orders", "fill_order",
    "cancel_working_orders", "cancel_order_by_tws", "add_external_order", "publish_bulletin",
    "send_garbage", "orders", "forgotten_orders", "positions", "stats", "pacing",
    "subscription_count", "configure", "instrument", "wait_connected_clients",
})
CONTROL_PROPERTIES = frozenset({
    "orders_received", "executions", "errors_sent", "requests_received", "connected_clients",
    "next_valid_id", "port",
})
_plain = plain_dispatch(CONTROL_METHODS, CONTROL_PROPERTIES)


def call_control(tws: FakeTWS, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run one control call on ``tws``; the result is JSON-able."""
    if method == "instrument":
        return tws.instrument(*args, **kwargs).to_dict()
    return _plain(tws, method, args, kwargs)
