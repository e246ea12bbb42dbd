"""The unmodified ib_insync / ib_async client, as the fake TWS's own tests drive it."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any


class RawClient:
    """An unmodified ib_insync / ib_async ``IB`` on the main thread's loop, with every error
    TWS sends it kept in ``errors`` as (id, code, text)."""

    def __init__(self, backend: str, port: int, client_id: int = 7) -> None:
        self.mod: Any = importlib.import_module(backend)
        self.ib: Any = self.mod.IB()
        self.errors: list[tuple[int, int, str]] = []
        self.ib.errorEvent += self._on_error
        self.ib.connect("127.0.0.1", port, clientId=client_id, timeout=10)

    def _on_error(self, req_id: int, code: int, text: str, *_: Any) -> None:
        self.errors.append((req_id, code, text))

    def codes(self, req_id: int | None = None) -> list[int]:
        return [c for i, c, _ in self.errors if req_id is None or i == req_id]

    def wait(self, predicate: Callable[[], object], timeout: float = 10.0) -> bool:
        """Run the client's loop until ``predicate()`` holds (False after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self.ib.waitOnUpdate(timeout=min(left, 0.25))
            except ConnectionError:  # ib_async raises it from the loop when TWS hangs up
                return bool(predicate())
        return True

    def contract(self, symbol: str) -> Any:
        mod = self.mod
        spec = {"EUR": mod.Forex("EURUSD"), "SPX": mod.Index("SPX", "CBOE", "USD"),
                "ES": mod.Future("ES", exchange="CME", currency="USD"),
                "SAP": mod.Stock("SAP", "IBIS", "EUR")}.get(symbol) \
            or mod.Stock(symbol, "SMART", "USD")
        qualified = self.ib.qualifyContracts(spec)
        assert qualified, f"{symbol} did not qualify"
        return qualified[0]

    def close(self) -> None:
        self.ib.disconnect()

