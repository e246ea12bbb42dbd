"""The NATS permissions of the two kinds of accounts, as nats-server configuration blocks.

A gateway is trusted with its gateway's subjects. A strategy account can only read market
data and statuses, send requests to the session holders (orders, subscriptions, pings),
ask for health, and read its order events from the events stream through an ordered
consumer: it can neither publish market data, order events or statuses, nor answer
requests in a holder's place, nor touch the leases. ``docs/scale-out.md`` shows the
resulting configuration; the tests run a server with exactly these.
"""

from __future__ import annotations

from typing import Any

from stockfish_nats.subjects import Subjects, check_name

__all__ = ["gateway_permissions", "strategy_permissions"]


def gateway_permissions(gateway: str) -> dict[str, Any]:
    """A gateway process named ``gateway`` (every instance of it)."""
    s = Subjects(gateway)
    stream = s.events_stream
    bucket = f"sf_leases_{gateway}"
    mine = ["sf.md.{g}.>", "sf.ev.{g}.>", "sf.st.{g}.>", "sf.cmd.{g}.>", "sf.gw.{g}.>"]
    return {
        "publish": {"allow": [p.format(g=gateway) for p in mine] + [
            f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.STREAM.CREATE.{stream}",
            f"$JS.API.STREAM.MSG.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>",
            f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>", f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*", f"$JS.FC.{stream}.>",
            f"$JS.API.STREAM.INFO.KV_{bucket}", f"$JS.API.STREAM.CREATE.KV_{bucket}",
            f"$JS.API.STREAM.MSG.GET.KV_{bucket}", f"$JS.API.DIRECT.GET.KV_{bucket}.>",
            f"$KV.{bucket}.>", "$JS.API.INFO", "_INBOX.>"]},
        "subscribe": {"allow": [f"sf.cmd.{gateway}.>",
                                f"sf.gw.{gateway}.>",
                                f"sf.st.{gateway}.>", "_INBOX.>"]},
        "allow_responses": True,
    }


def strategy_permissions(gateway: str, client_id: str) -> dict[str, Any]:
    """A strategy (``client_id``, with ``inbox_prefix: _INBOX_<client_id>``) using
    ``gateway``'s sessions."""
    check_name("client_id", client_id)
    s = Subjects(gateway)
    stream = s.events_stream
    inbox = f"_INBOX_{client_id}"
    return {
        "publish": {"allow": [
            f"sf.cmd.{gateway}.*.*", f"sf.gw.{gateway}.health", f"sf.gw.{gateway}.stats",
            f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.INFO.{stream}.*", f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.FC.{stream}.>"]},
        "subscribe": {"allow": [f"sf.md.{gateway}.>", f"sf.st.{gateway}.>", f"{inbox}.>"]},
    }
