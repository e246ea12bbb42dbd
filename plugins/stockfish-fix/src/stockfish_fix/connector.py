"""The ``fix`` connector: a QuickFIX SocketInitiator mapped onto the core contract.

A façade over one role per module, as NautilusTrader's adapters are split:

- :mod:`stockfish_fix.session`: the QuickFIX engine's lifetime, logon/logout, liveness and
  the Application callbacks;
- :mod:`stockfish_fix.execution`: orders out and execution reports in, through the core's
  order path;
- :mod:`stockfish_fix.recovery`: restarts (journaled ClOrdID chains, restored orders,
  reports for ids not held here, external orders, OrderMassStatusRequest);
- :mod:`stockfish_fix.market_data`: market-data requests, books and the normalizers.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

from stockfish_core.connector import BaseConnector

from stockfish_fix.execution import FIXExecution
from stockfish_fix.market_data import FIXMarketData
from stockfish_fix.plugin import CAPABILITIES
from stockfish_fix.recovery import FIXRecovery
from stockfish_fix.session import FIXSession
from stockfish_fix.settings import FIXSettings

__all__ = ["FIXConnector"]

log = logging.getLogger(__name__)


class FIXConnector(FIXSession, FIXRecovery, FIXExecution, FIXMarketData, BaseConnector):
    """Connector to a FIX 4.2 / 4.4 / 5.0 SP2 venue over QuickFIX."""

    connector_type = "fix"
    capabilities = CAPABILITIES
    settings_class = FIXSettings
    # The core's watchdog (see on_silence): QuickFIX alone drops a silent session only
    # after 2.4 HeartBtInt, past the two intervals a stall must be found in.

    def __init__(self, router: Any = None, *, name: str | None = None, settings: Any = None,
                 **overrides: Any) -> None:
        super().__init__(name, router, settings=settings, **overrides)
        s: FIXSettings = self.settings
        self.version = s.version
        self.fix_counters: collections.Counter[str] = collections.Counter()
        self._init_session()
        self._init_execution()
        self._init_recovery()
        self._init_market_data()
        self._handlers: dict[str, Callable[[Any], None]] = {
            "8": self._on_execution_report, "W": self._on_snapshot, "X": self._on_incremental,
            "Y": self._on_md_reject, "9": self._on_cancel_reject,
            "j": self._on_business_reject,
        }
        log.info("%s: FIX connector %s %s->%s at %s:%d (store=%s)", self.name, s.version,
                 s.sender_comp_id, s.target_comp_id, s.host, s.port, s.store)

    def connect(self) -> bool:
        """Log on (:meth:`FIXSession.connect`); then, with ``mass_status_on_logon``, ask
        the venue for every order of the session before the caller reconciles."""
        connected = super().connect()
        if connected:
            self._ask_mass_status()
        return connected

    def get_stats(self) -> dict[str, Any]:
        stats = super().get_stats()
        stats["fix"] = {"version": self.version, **dict(self.fix_counters),
                        "md_resyncs_by_cause": dict(self.md_resyncs_by_cause),
                        "stale_seconds": self.stale_seconds(),
                        "book_models": self.book_models()}
        return stats
