"""Accounts and permissions on a nats-server configured as docs/scale-out.md says: a gateway
account, a strategy with a password and one with an NKey. Strategies trade and read data;
they cannot publish market data, order events or statuses, answer requests in the holder's
place, or touch the leases. Credentials are secrets: masked, and read from the
environment."""

from __future__ import annotations

import asyncio
import os

import nats
import nkeys
import pytest
from stockfish_core.config import dump_config, load_config
from stockfish_core.manager import ExchangeManager
from stockfish_core.orders import Order, OrderStatus
from stockfish_core.sim_venue import SimVenue
from stockfish_core.testing.waiting import wait_until
from stockfish_nats import codec
from stockfish_nats.gateway import Gateway
from stockfish_nats.permissions import gateway_permissions, strategy_permissions
from stockfish_nats.serve import load_gateway_settings
from stockfish_nats.testing import NatsServer


def new_user_seed() -> tuple[str, str]:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    keys = nkeys.from_seed(bytearray(seed))
    return seed.decode(), keys.public_key.decode()


@pytest.fixture
def secured():
    seed, public = new_user_seed()
    users = {
        "gateway": {"password": "gw-secret", "permissions": gateway_permissions("gw")},
        "s1": {"password": "s1-secret", "permissions": strategy_permissions("gw", "s1")},
        "s2": {"nkey": public, "permissions": strategy_permissions("gw", "s2")},
    }
    server = NatsServer(users=users).start()
    venue = "secured-venue"
    manager = ExchangeManager.from_config({
        "connectors": {"simv": {"type": "sim", "venue": venue, "tick_interval": 0.01}},
        "manager": {"journal": "memory", "stop_timeout": 3.0}})
    settings = load_gateway_settings({"user": "gateway", "password": "${GW_PASSWORD}"},
                                     env={"GW_PASSWORD": "gw-secret"}, servers=[server.url],
                                     gateway="gw", instance="a", lease_ttl=2.0)
    assert "gw-secret" not in repr(settings)
    gateway = Gateway(manager, settings)
    gateway.start()
    assert wait_until(lambda: gateway.sessions["simv"].state == "holding", 10)
    yield server, seed
    gateway.stop()
    SimVenue.get(venue).stop()
    server.cleanup()


def strategy(server: NatsServer, client_id: str, **credentials: str) -> ExchangeManager:
    return ExchangeManager.from_config({
        "connectors": {"remote": {"type": "nats", "servers": [server.url], "gateway": "gw",
                                  "connectors": ["simv"], "client_id": client_id,
                                  "inbox_prefix": f"_INBOX_{client_id}", **credentials,
                                  "reconnect_initial_delay": 0.05, "auto_reconnect": False}},
        "manager": {"journal": "memory", "stop_timeout": 3.0}})


def trade(manager: ExchangeManager) -> None:
    assert manager.start_all(timeout=10), manager.get_stats()["remote"]["last_error"]
    ticks = []
    manager.router.subscribe(ticks.append)
    manager.subscribe_price(["SPY"])
    assert wait_until(lambda: len(ticks) >= 3, 10)
    oid = manager.send_order(Order("SPY", "BUY", 2))
    assert manager.wait_orders(lambda: manager.get_order_status(oid) is OrderStatus.FILLED, 10)


def test_strategies_trade_with_a_password_and_with_an_nkey(secured):
    server, seed = secured
    with_password = strategy(server, "s1", user="s1", password="s1-secret")
    with_nkey = strategy(server, "s2", nkey_seed=seed)
    try:
        trade(with_password)
        trade(with_nkey)
    finally:
        with_password.close()
        with_nkey.close()


def test_a_wrong_password_is_a_clear_connect_error(secured):
    server, _ = secured
    manager = strategy(server, "s1", user="s1", password="wrong")
    try:
        assert not manager.start_all(timeout=10)
        error = manager.get_stats()["remote"]["last_error"]
        # The server's -ERR 'Authorization Violation' may be overtaken by its close (a
        # reset): then the error says what the close most likely means.
        assert "uthorization" in error or "wrong credentials" in error, error
        assert "wrong" not in error
    finally:
        manager.close()


def test_a_strategy_cannot_impersonate_a_gateway(secured):
    server, _ = secured

    async def attempts() -> dict[str, object]:
        violations: list[str] = []
        errors = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            violations.append(str(exc))
            errors.set()

        spy = await nats.connect(server.url, user="gateway", password="gw-secret")
        got: list[bytes] = []
        async def spied(msg) -> None:
            got.append(msg.data)

        await spy.subscribe("sf.md.gw.>", cb=spied)
        await spy.flush()
        evil = await nats.connect(server.url, user="s1", password="s1-secret",
                                  inbox_prefix="_INBOX_s1", error_cb=on_error)
        outcome: dict[str, object] = {}
        fake = codec.encode({"data_type": "price_tick", "symbol": "SPY", "payload": {}})
        await evil.publish("sf.md.gw.simv.price_tick.SPY", fake)
        await evil.flush()
        await asyncio.wait_for(errors.wait(), 5)
        outcome["publish market data"] = violations[-1]
        errors.clear()
        await evil.subscribe("sf.cmd.gw.simv.submit")
        await evil.flush()
        await asyncio.wait_for(errors.wait(), 5)
        outcome["answer requests"] = violations[-1]
        js = evil.jetstream()
        for what, subject in (("write order events", "sf.ev.gw.simv.s1.FAKE"),
                              ("write statuses", "sf.st.gw.simv"),
                              ("take the lease", "$KV.sf_leases_gw.gw.simv")):
            try:
                await js.publish(subject, b"{}", timeout=1.0)
                outcome[what] = "accepted"
            except Exception as exc:
                outcome[what] = type(exc).__name__
        await spy.flush()
        outcome["fake ticks seen"] = sum(1 for d in got if d == fake)
        await evil.close()
        await spy.close()
        return outcome

    outcome = asyncio.run(attempts())
    assert "permissions violation for publish" in str(outcome["publish market data"]).lower()
    assert "permissions violation for subscription" in str(outcome["answer requests"]).lower()
    for what in ("write order events", "write statuses", "take the lease"):
        assert outcome[what] != "accepted", outcome
    assert outcome["fake ticks seen"] == 0


def test_credentials_are_masked_in_the_checked_configuration():
    config = load_config({"connectors": {"gw": {
        "type": "nats", "servers": ["nats://127.0.0.1:4222"], "gateway": "gw",
        "user": "s1", "password": "${NATS_PASSWORD}", "nkey_seed": "${SEED}"}},
        "manager": {"journal": "off"}}, env={"NATS_PASSWORD": "hunter2", "SEED": "SUABC"})
    dumped = dump_config(config)["connectors"]["gw"]
    assert dumped["password"] == "********" and dumped["nkey_seed"] == "********"
    assert "hunter2" not in repr(config) and "SUABC" not in repr(config)


def test_tls_options_are_passed_through(tmp_path):
    """A server that requires TLS: the gateway and the strategy trade over it with the
    certificate authority from their settings; without it the connection is refused."""
    from stockfish_nats.testing.server import self_signed_certificate

    cert, key = self_signed_certificate(str(tmp_path))
    server = NatsServer(tls=(cert, key)).start()
    venue = "tls-venue"
    manager = ExchangeManager.from_config({
        "connectors": {"simv": {"type": "sim", "venue": venue, "tick_interval": 0.01}},
        "manager": {"journal": "memory", "stop_timeout": 3.0}})
    gateway = Gateway(manager, load_gateway_settings({"tls_ca": cert}, env={},
                                                     servers=[server.url], gateway="gw",
                                                     instance="a", lease_ttl=2.0))
    try:
        gateway.start()
        assert wait_until(lambda: gateway.sessions["simv"].state == "holding", 10)
        strategy_ok = ExchangeManager.from_config({
            "connectors": {"remote": {"type": "nats", "servers": [server.url], "gateway": "gw",
                                      "connectors": ["simv"], "client_id": "t1",
                                      "tls_ca": cert, "auto_reconnect": False}},
            "manager": {"journal": "memory"}})
        no_ca = ExchangeManager.from_config({
            "connectors": {"remote": {"type": "nats", "servers": [server.url], "gateway": "gw",
                                      "connectors": ["simv"], "client_id": "t2",
                                      "auto_reconnect": False}},
            "manager": {"journal": "memory"}})
        try:
            trade(strategy_ok)
            assert not no_ca.start_all(timeout=10)
            assert "cannot reach NATS" in no_ca.get_stats()["remote"]["last_error"]
        finally:
            strategy_ok.close()
            no_ca.close()
    finally:
        gateway.stop()
        SimVenue.get(venue).stop()
        server.cleanup()
