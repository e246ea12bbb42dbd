"""The simulated FIX venue in a process of its own (``python -m
stockfish_fix.testing.venue_main``), driven from the test process: crash tests kill the
trading process while the venue keeps its orders, fills and session state.

:class:`FIXVenueProcess` starts it (``options`` are :class:`~stockfish_fix.testing.venue.
FIXVenue` keyword options) and calls its control methods by their names on the venue.
"""

from __future__ import annotations

from stockfish_core.testing.venue_process import VenueProcess

__all__ = ["CONTROL_METHODS", "CONTROL_PROPERTIES", "FIXVenueProcess"]

#: Venue methods callable over the control channel (JSON-able arguments and results).
CONTROL_METHODS = frozenset({
    "add_external_order", "drop_connections", "fill", "fills_of", "forget_orders",
    "order_state", "orders_received_count", "refuse_logons", "skip_sequence_number",
    "working_orders",
})
#: Venue values readable over the control channel.
CONTROL_PROPERTIES = frozenset({
    "duplicate_cl_ord_ids", "errors", "external_orders", "fills", "logons",
    "logouts_received", "mass_status_requests", "messages_in", "sessions_logged_on",
})


class FIXVenueProcess(VenueProcess):
    """The simulated FIX venue (QuickFIX acceptor) in its own process."""

    module = "stockfish_fix.testing.venue_main"
    methods = CONTROL_METHODS
    properties = CONTROL_PROPERTIES
