"""``IBKROrderMap``: client order id <-> IB orderId <-> IB permId, and the order-id
high-water mark.

IB's orderId is only unique within one client id and one TWS session: after TWS's nightly
restart the next valid id can roll back. The permId is unique for good, and the client
order id travels as the order's ``orderRef``. Executions are matched on orderRef first, then
permId, and on orderId only for ids this connector itself assigned (never reused).

The high-water mark is the highest order id this client id is known to have used: ids this
connector assigned, and every id of this client seen at connect (open orders, executions).
New ids are always above it, whatever ``nextValidId`` says. It lives here and only here:
:meth:`IBKROrderMap.load_high_water_mark` restores it (from the order journal, across
application restarts); each time it rises ``persist`` is called first (the connector
journals it there, synchronously: a failure there stops the order that needed the id),
then ``on_high_water_mark``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["PERM_ID", "IBKROrderMap"]

#: The key of an order's IB permId in ``Order.venue_refs`` (journaled with the order).
PERM_ID = "perm_id"


class IBKROrderMap:
    """Thread-safe three-way map of order identifiers, with the order-id high-water mark."""

    def __init__(self, persist: Callable[[int], None] | None = None) -> None:
        self._lock = threading.Lock()
        #: Called with the new mark each time it rises, before anything uses an id up to
        #: it (outside the lock); an exception there propagates to the caller.
        self.persist = persist
        self._ids: dict[str, list[int]] = {}  # client id -> [orderId, permId]
        self._by_order_id: dict[int, str] = {}
        self._by_perm_id: dict[int, str] = {}
        self._mark = 0
        #: Called with the new mark each time it rises (outside the lock).
        self.on_high_water_mark: Callable[[int], None] | None = None
        self.rollbacks_skipped = 0  # ids TWS proposed at or below the mark, skipped past

    @property
    def high_water_mark(self) -> int:
        """The highest order id used by this client id, as far as this connector knows."""
        return self._mark

    def load_high_water_mark(self, mark: int) -> None:
        """Restore a saved mark (it only ever rises)."""
        self.observe_order_id(mark)

    def observe_order_id(self, order_id: int) -> bool:
        """An id this client id used (seen at TWS): raise the mark to it; True if raised."""
        if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
            return False
        with self._lock:
            if order_id <= self._mark:
                return False
            self._mark = order_id
        self._mark_raised(order_id)
        return True

    def _mark_raised(self, mark: int) -> None:
        if self.persist is not None:
            self.persist(mark)
        listener = self.on_high_water_mark
        if listener is not None:
            listener(mark)

    def bind_order_id(self, client_order_id: str, order_id: int) -> None:
        with self._lock:
            ids = self._ids.setdefault(client_order_id, [0, 0])
            ids[0] = order_id
            self._by_order_id[order_id] = client_order_id
            raised = order_id > self._mark
            self._mark = max(self._mark, order_id)
        if raised:
            self._mark_raised(order_id)

    def bind_perm_id(self, client_order_id: str, perm_id: int) -> bool:
        """Record ``perm_id``; False when it is 0 or already known."""
        if not perm_id:
            return False
        with self._lock:
            if self._by_perm_id.get(perm_id) == client_order_id:
                return False
            self._ids.setdefault(client_order_id, [0, 0])[1] = perm_id
            self._by_perm_id[perm_id] = client_order_id
            return True

    def next_order_id(self, proposed: int) -> int:
        """An orderId above every id used before (``proposed`` if it already is)."""
        with self._lock:
            if proposed <= self._mark:
                self.rollbacks_skipped += 1
            oid = max(proposed, self._mark + 1)
            self._mark = oid
        self._mark_raised(oid)
        return oid

    def by_order_id(self, order_id: int) -> str | None:
        return self._by_order_id.get(order_id)

    def by_perm_id(self, perm_id: int) -> str | None:
        return self._by_perm_id.get(perm_id)

    def ids(self, client_order_id: str) -> tuple[int, int] | None:
        """(orderId, permId) of a client order id (0 where unknown)."""
        ids = self._ids.get(client_order_id)
        return (ids[0], ids[1]) if ids else None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._ids

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {cid: {"order_id": v[0], "perm_id": v[1]} for cid, v in self._ids.items()}
