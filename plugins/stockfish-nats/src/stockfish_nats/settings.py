"""Settings: how to reach the bus (:class:`BusSettings`, shared by gateways and remote
connectors), the ``nats`` connector's (:class:`NatsSettings`) and a gateway's
(:class:`GatewaySettings`). attrs only: cheap to import at discovery.

Credentials are :class:`~stockfish_core.settings.Secret` values: masked in reprs, logs and
``stockfish-rt check``, revealed only when the connection is made. Use ``${VAR}`` in the
file (or the ``NATS_*`` environment variables) so that none is written down.
"""

from __future__ import annotations

import os
import socket
from typing import Any, ClassVar

import attrs
from stockfish_core.settings import ConnectorSettings, Secret, positive

from stockfish_nats.subjects import check_name

__all__ = ["BusSettings", "GatewaySettings", "NatsSettings", "connect_options"]

_SCHEMES = ("nats", "tls", "ws", "wss")


def _to_secret(value: Any) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(str(value))


def _servers(_: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:  # type: ignore[type-arg]
    if not value:
        raise ValueError(f"{attribute.name}: at least one server is needed")
    for url in value:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in _SCHEMES or not rest or any(c.isspace() for c in url):
            raise ValueError(f"{attribute.name}: {url!r} is not a NATS server URL (expected "
                             f"e.g. 'nats://127.0.0.1:4222')")


def _name(kind: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
        if value:
            check_name(kind, value)
    return check


def _names(_: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:  # type: ignore[type-arg]
    for name in value:
        check_name("connector", name)


def _file(_: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if value and not os.path.isfile(os.path.expanduser(value)):
        raise ValueError(f"{attribute.name}: no such file: {value}")


@attrs.frozen(kw_only=True)
class BusSettings:
    """How to reach the NATS servers.

    - ``servers``: every server of the cluster (the client fails over between them).
    - ``user`` / ``password``, ``token``, ``nkey_seed`` (an NKey seed, ``SU...``) or
      ``creds_file`` (a JWT + seed credentials file): the account; secrets as ``${VAR}``.
    - ``tls_ca``, ``tls_cert``, ``tls_key``: PEM files for TLS (a ``tls://`` server, or a
      server that requires TLS); ``tls_hostname`` overrides the name checked.
    - ``connect_timeout``: seconds per connection attempt.
    - ``inbox_prefix``: the prefix of this client's reply subjects (``_INBOX_<client_id>``
      lets a server's permissions give each strategy its own replies only).
    """

    servers: tuple[str, ...] = attrs.field(default=("nats://127.0.0.1:4222",),
                                           converter=tuple, validator=_servers)
    user: str = ""
    password: Secret | None = attrs.field(default=None, converter=_to_secret)
    token: Secret | None = attrs.field(default=None, converter=_to_secret)
    nkey_seed: Secret | None = attrs.field(default=None, converter=_to_secret)
    creds_file: str = attrs.field(default="", validator=_file)
    tls_ca: str = attrs.field(default="", validator=_file)
    tls_cert: str = attrs.field(default="", validator=_file)
    tls_key: str = attrs.field(default="", validator=_file)
    tls_hostname: str = ""
    connect_timeout: float = attrs.field(default=2.0, validator=positive)
    inbox_prefix: str = ""

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {
        "NATS_SERVERS": "servers", "NATS_USER": "user", "NATS_PASSWORD": "password",
        "NATS_TOKEN": "token", "NATS_NKEY_SEED": "nkey_seed", "NATS_CREDS": "creds_file",
    }


@attrs.frozen(kw_only=True)
class NatsSettings(ConnectorSettings):
    """Settings of the ``nats`` connector: a gateway's venue sessions, reached over NATS.

    - ``gateway``: the gateway's name (``stockfish-rt serve --gateway NAME``).
    - ``connectors``: the gateway's connectors this one stands for (empty: all of them).
      Market data comes from each; a new order goes to the first of them the gateway
      reports connected and order-capable.
    - ``client_id``: this strategy's name on the bus: its orders' events are kept under it
      and replayed to it after a restart. Keep it stable and unique per strategy process
      (default: the host name and the connector's name).
    - ``request_timeout``: seconds per request attempt; ``order_timeout``: seconds a
      submission is retried (the same client order id: never traded twice) before its
      outcome is declared unknown.
    - ``heartbeat_interval``: seconds between pings of the session holder; two silent
      intervals mean the link is lost.
    - ``servers``: every NATS server of the cluster (the client fails over between them).
    - ``user``: the account's user name, with ``password`` (a secret: ``${VAR}``).
    - ``password``: the account's password (a secret).
    - ``token``: an authentication token instead (a secret).
    - ``nkey_seed``: an NKey seed (``SU...``) instead (a secret).
    - ``creds_file``: a JWT + seed credentials file instead.
    - ``tls_ca``: PEM file of the certificate authority for TLS.
    - ``tls_cert``: PEM client certificate (with ``tls_key``) for TLS.
    - ``tls_key``: PEM key of ``tls_cert``.
    - ``tls_hostname``: the server name TLS checks, when not the URL's host.
    - ``connect_timeout``: seconds per connection attempt.
    - ``inbox_prefix``: the prefix of this client's reply subjects (``_INBOX_<client_id>``
      lets the server's permissions give each strategy its own replies only).
    """

    servers: tuple[str, ...] = attrs.field(default=("nats://127.0.0.1:4222",),
                                           converter=tuple, validator=_servers)
    user: str = ""
    password: Secret | None = attrs.field(default=None, converter=_to_secret)
    token: Secret | None = attrs.field(default=None, converter=_to_secret)
    nkey_seed: Secret | None = attrs.field(default=None, converter=_to_secret)
    creds_file: str = attrs.field(default="", validator=_file)
    tls_ca: str = attrs.field(default="", validator=_file)
    tls_cert: str = attrs.field(default="", validator=_file)
    tls_key: str = attrs.field(default="", validator=_file)
    tls_hostname: str = ""
    connect_timeout: float = attrs.field(default=2.0, validator=positive)
    inbox_prefix: str = ""

    gateway: str = attrs.field(default="gateway", validator=_name("gateway"))
    connectors: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_names)
    client_id: str = attrs.field(default="", validator=_name("client_id"))
    request_timeout: float = attrs.field(default=2.0, validator=positive)
    order_timeout: float = attrs.field(default=10.0, validator=positive)
    heartbeat_interval: float = attrs.field(default=1.0, validator=positive)

    ENV_OVERRIDES: ClassVar[dict[str, str]] = {**BusSettings.ENV_OVERRIDES,
                                               "NATS_GATEWAY": "gateway"}

    def bus(self) -> BusSettings:
        """The :class:`BusSettings` part."""
        return BusSettings(**{f.name: getattr(self, f.name) for f in attrs.fields(BusSettings)})

    def owner(self, connector_name: str) -> str:
        """The ``client_id``, or one made of the host and connector names."""
        if self.client_id:
            return self.client_id
        host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())
        return f"{host}-{connector_name}"[:64]


@attrs.frozen(kw_only=True)
class GatewaySettings:
    """A gateway's own settings (``stockfish-rt serve`` flags, or ``--bus-config``).

    - ``gateway``: its name on the bus; ``instance``: this process's name among the
      gateways of that name (default: host and pid).
    - ``lease_ttl``: seconds a venue session's lease lives without renewal; the holder
      renews it every ``lease_ttl / 4`` and stops using the session (logs out) once
      ``lease_ttl - lease_guard`` seconds passed since its last confirmed renewal was sent.
      A standby takes the session over within about ``lease_ttl`` (plus its logon).
    - ``duplicate_window``: seconds the events stream remembers a client order id (a
      submission retried within it is recognized even by another gateway instance).
    - ``replicas``: JetStream replicas of the events stream and the lease bucket (1 on a
      single server, 3 on a three-node cluster).
    - ``stream_max_age``: seconds order events are kept for replay (0: forever).
    - ``client_timeout``: a strategy silent for this long loses its market-data
      subscriptions at the gateway (it pings every ``heartbeat_interval``).
    """

    gateway: str = attrs.field(default="gateway", validator=_name("gateway"))
    instance: str = attrs.field(default="", validator=_name("instance"))
    lease_ttl: float = attrs.field(default=3.0, validator=positive)
    lease_guard: float = attrs.field(default=0.5, validator=positive)
    duplicate_window: float = attrs.field(default=3600.0, validator=positive)
    replicas: int = attrs.field(default=1, validator=positive)
    stream_max_age: float = 0.0
    client_timeout: float = attrs.field(default=10.0, validator=positive)
    bus: BusSettings = attrs.field(factory=BusSettings)

    def __attrs_post_init__(self) -> None:
        if self.lease_guard >= self.lease_ttl / 2:
            raise ValueError(f"lease_guard ({self.lease_guard:g} s) must be under half the "
                             f"lease_ttl ({self.lease_ttl:g} s)")

    def instance_name(self) -> str:
        if self.instance:
            return self.instance
        host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())
        return f"{host}-{os.getpid()}"[:64]


def connect_options(bus: BusSettings, name: str) -> dict[str, Any]:
    """Keyword arguments of ``nats.connect`` for ``bus`` (secrets revealed here only)."""
    options: dict[str, Any] = {"servers": list(bus.servers), "name": name,
                               "connect_timeout": bus.connect_timeout}
    if bus.user:
        options["user"] = bus.user
    if bus.password is not None:
        options["password"] = bus.password.reveal()
    if bus.token is not None:
        options["token"] = bus.token.reveal()
    if bus.nkey_seed is not None:
        options["nkeys_seed_str"] = bus.nkey_seed.reveal()
    if bus.inbox_prefix:
        options["inbox_prefix"] = bus.inbox_prefix
    if bus.creds_file:
        options["user_credentials"] = os.path.expanduser(bus.creds_file)
    if bus.tls_ca or bus.tls_cert or any(u.startswith("tls://") for u in bus.servers):
        import ssl

        context = ssl.create_default_context(cafile=bus.tls_ca or None)
        if bus.tls_cert:
            context.load_cert_chain(bus.tls_cert, bus.tls_key or None)
        options["tls"] = context
        if bus.tls_hostname:
            options["tls_hostname"] = bus.tls_hostname
    return options
