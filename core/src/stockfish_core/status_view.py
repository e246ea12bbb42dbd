"""The live status table shared by ``stockfish-rt run`` and ``stockfish-rt demo``."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from stockfish_core.manager import ExchangeManager

__all__ = ["StatusView"]

COLUMNS = ("connector", "type", "status", "upd/s", "updates", "errors", "orders", "fills",
           "reconn")


class StatusView:
    """Renders the manager's state as a table: with ``rich`` on a terminal, plain text
    otherwise. Updates per second are computed between two renders."""

    def __init__(self, manager: ExchangeManager, out: TextIO | None = None,
                 use_rich: bool | None = None) -> None:
        self.manager = manager
        self.out = out or sys.stdout
        self._last: dict[str, tuple[float, int]] = {}
        if use_rich is None:
            use_rich = self.out.isatty()
        self._console: Any = None
        if use_rich:
            try:
                from rich.console import Console

                self._console = Console(file=self.out)
            except ImportError:
                self._console = None

    def rows(self) -> list[tuple[str, ...]]:
        stats = self.manager.get_stats()
        now = time.monotonic()
        rows: list[tuple[str, ...]] = []
        for name in self.manager.list_connectors():
            s = stats[name]
            then, count = self._last.get(name, (now, s["updates_normalized"]))
            rate = (s["updates_normalized"] - count) / (now - then) if now > then else 0.0
            self._last[name] = (now, s["updates_normalized"])
            mark = "*" if name == self.manager.primary_connector else ""
            rows.append((name + mark, s["type"], s["status"], f"{rate:,.0f}",
                         f"{s['updates_normalized']:,}", str(s["data_errors"]),
                         str(s["orders_submitted"]), str(s["fills_applied"]),
                         str(s["reconnections"])))
        return rows

    def footer(self) -> str:
        m = self.manager.get_stats()["manager"]
        last = m["last_failover"]
        text = (f"strategy {m['failover_strategy']}, order route {m['order_route'] or '-'}, "
                f"failovers {m['failovers']}, reconnects {m['reconnects']}, "
                f"reconciliations {m['reconciliations']}")
        if last:
            text += (f"; last failover: {last['kind']} {last['from_connector']} -> "
                     f"{last['to_connector']} ({last['reason']})")
        return text

    def render(self, title: str = "") -> None:
        rows = self.rows()
        if self._console is not None:
            from rich.table import Table

            table = Table(title=title or None)
            for col in COLUMNS:
                table.add_column(col, justify="right" if col not in ("connector", "type",
                                                                     "status") else "left")
            for row in rows:
                table.add_row(*row)
            self._console.print(table)
            self._console.print(self.footer())
            return
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
                  for i, c in enumerate(COLUMNS)]
        if title:
            print(title, file=self.out)
        print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)),
              file=self.out)
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)),
                  file=self.out)
        print(self.footer(), file=self.out, flush=True)
