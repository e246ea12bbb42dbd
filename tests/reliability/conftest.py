"""Order of the reliability suite for its two pytest-xdist workers (tox runs it with
``-n 2 --dist loadfile --no-loadscope-reorder``)."""

from __future__ import annotations

import pytest

# loadfile hands whole files to the workers in collection order, topping a worker up
# only when it has two tests or fewer left. The long schedules go first: the FIX wire-fault
# schedules (one file per FIX venue, about three minutes each, nearly all of it waiting on
# heartbeats and reconnect intervals) start on the two workers at once, then the IBKR
# schedule and the crash schedule (much of it restarts waiting out IBKR's grace), and then
# both workers share everything else. Serially the suite took the sum of all.
_FIRST = ("test_wire_faults_fix.py", "test_wire_faults_fix_jspurefix.py",
          "test_crash_schedule.py", "test_wire_faults_ibkr.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the long wire-fault schedules first (a stable sort: the rest keep their order)."""
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return _FIRST.index(name) if name in _FIRST else len(_FIRST)

    items.sort(key=rank)
