"""``IBKRConnector``: Interactive Brokers through ib_insync (or ib_async).

The connector is split by role, as NautilusTrader's IB adapter is; this module is the
façade that puts the roles together and wires them to the IB session's events:

- :mod:`~stockfish_ibkr.session`: the IB event loop thread, connect / disconnect, the
  heartbeat, the end of a session;
- :mod:`~stockfish_ibkr.errors`: what each TWS code does (the table is
  :mod:`~stockfish_ibkr.error_codes`), per-farm state (:mod:`~stockfish_ibkr.farms`);
- :mod:`~stockfish_ibkr.instruments`: contract qualification;
- :mod:`~stockfish_ibkr.market_data`: subscriptions, the tick hot path, the normalizers;
  :mod:`~stockfish_ibkr.feed_watch`: per-symbol staleness and requests again;
- :mod:`~stockfish_ibkr.execution`: orders, order events, order errors, pacing recovery,
  order ids; :mod:`~stockfish_ibkr.reports`: TWS's lists applied, external orders adopted;
  :mod:`~stockfish_ibkr.reconciliation`: asking TWS, and the verdicts;
  :mod:`~stockfish_ibkr.recovery`: restarts (restored orders, logon, journaled order ids);
- :mod:`~stockfish_ibkr.account`: positions and account values;
- :mod:`~stockfish_ibkr.history`: historical bars.

Threading: the IB client runs on an asyncio event loop in the connector's own thread. Every
public method is synchronous and thread-safe: it waits while the pacer has a burst queued,
then hands the work to the loop with ``asyncio.run_coroutine_threadsafe`` and waits a
bounded time. Every message to TWS, ours and the library's own, passes one pacer
(:class:`~stockfish_ibkr.pacing.WirePacer`). Nothing waits on the loop: market data, order
events and errors arrive there as ib_insync events and are normalized in place.

Reliability: a missed heartbeat (reqCurrentTime) or a dropped socket starts the base class's
reconnect (backoff, re-qualify, resubscribe, reconcile open orders and executions since the
drop); error 1100 waits for TWS's own 1101/1102; each TWS error code has one effect on the
order, request or feed it names; a feed left silent (by a farm's recovery or otherwise) is
requested again until ticks resume. Order ids are never reused, even when TWS rolls its
next valid id back.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from typing import Any

from stockfish_ibkr.account import AccountMixin
from stockfish_ibkr.errors import ErrorsMixin
from stockfish_ibkr.history import HistoryMixin
from stockfish_ibkr.instruments import InstrumentsMixin
from stockfish_ibkr.market_data import MarketDataMixin
from stockfish_ibkr.plugin import CAPABILITIES
from stockfish_ibkr.recovery import RecoveryMixin
from stockfish_ibkr.session import ClientIdInUseError
from stockfish_ibkr.settings import IBKRSettings, mask_account

__all__ = ["CAPABILITIES", "IB_COUNTERS", "ClientIdInUseError", "IBKRConnector"]

log = logging.getLogger(__name__)

# Reported by get_stats()["ibkr"] from the start (at 0), so that a reader never meets a
# missing key because the event it counts has not happened yet.
IB_COUNTERS = (
    "heartbeats_sent", "heartbeats_missed", "requests_cut_by_disconnect", "reconciliations",
    "reconcile_rechecks", "executions_reconciled", "md_rerequests", "farm_outages",
    "pacing_refusals", "pacing_violations", "qualifications", "unknown_symbols",
    "perm_ids_bound", "foreign_orders", "foreign_executions", "commission_reports",
    "sentinel_values", "empty_quotes", "historical_cache_hits", "historical_pacing_waits",
    "reconcile_busy", "request_timeouts", "orders_dropped_by_pacing", "orders_placed_again",
    "cancels_dropped_by_pacing", "orders_lost_by_tws", "order_id_rollbacks", "verifications",
    "stale_status_reports", "subscriptions_refused", "historical_retries",
    "historical_no_data", "historical_pacing_violations", "errors_unclassified",
    "orders_adopted", "logon_reports",
)


class IBKRConnector(ErrorsMixin, RecoveryMixin, HistoryMixin, AccountMixin,
                    MarketDataMixin, InstrumentsMixin):
    """Connector to TWS / IB Gateway. See the module docstring for the threading model."""

    connector_type = "ibkr"
    capabilities = CAPABILITIES
    # The reqCurrentTime probe (``_heartbeat``) already reports a silent connection within
    # two intervals, from the loop thread that owns the socket; the base watchdog would race
    # it and report the same stall from another thread.
    watchdog = False
    settings_class = IBKRSettings

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: IBKRSettings = self.settings
        if s.readonly:
            self.read_only = True
        self.ib_counters: Counter[str] = Counter(dict.fromkeys(IB_COUNTERS, 0))
        self._init_session()
        self._init_errors()
        self._init_instruments()
        self._init_market_data()
        self._init_feed_watch()
        self._init_execution()
        self._init_reconciliation()
        self._init_recovery()
        self._init_history()
        log.info("%s: IBKR connector for %s:%d client_id=%d account=%s backend=%s", self.name,
                 s.host, s.port, s.client_id, mask_account(s.account), s.backend)

    def _attach(self, ib: Any) -> None:
        """Route a new IB session's events to the roles that handle them."""
        p = functools.partial
        ib.pendingTickersEvent += p(self._on_tickers, ib)
        ib.barUpdateEvent += p(self._on_bar_update, ib)
        ib.newsBulletinEvent += p(self._on_bulletin, ib)
        ib.openOrderEvent += p(self._on_open_order, ib)
        ib.orderStatusEvent += p(self._on_order_status_event, ib)
        ib.execDetailsEvent += p(self._on_exec_details, ib)
        ib.commissionReportEvent += p(self._on_commission, ib)
        ib.errorEvent += p(self._on_error, ib)
        ib.disconnectedEvent += p(self._on_disconnected, ib)

    def get_stats(self) -> dict[str, Any]:
        stats = super().get_stats()
        stats["ibkr"] = {
            "backend": self.settings.backend,
            "server_version": self.server_version,
            "session": self._session,
            "order_id_high_water_mark": self.ibkr_order_map.high_water_mark,
            "orders_mapped": len(self.ibkr_order_map),
            "messages_paced": self._pacer.sent,
            "pacing_waits": self._pacer.delayed,
            "pacing_backpressure_waits": self._pacer.backpressure_waits,
            "pacing_peak_per_second": self._pacer.peak_per_second,
            "pacing_peak_backlog": self._pacer.peak_backlog,
            "pacing_discarded": self._pacer.discarded,
            "order_ids_skipped": self.ibkr_order_map.rollbacks_skipped,
            "link_down": self._link_down,
            "farm_down": self._farm_down,
            "farms": self.farms.snapshot(),
            "stale_symbols": self.stale_symbols(),
            **dict(self.ib_counters),
        }
        return stats

