"""Fixtures for the FIX connector tests: a simulated venue per test and connectors on it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fixtures import connector_factory, fresh_plugins, live_session, router  # noqa: F401 - fixtures
from stockfish_fix.connector import FIXConnector
from stockfish_fix.testing import FIXVenue, JSFIXVenue
from stockfish_fix.testing.dictionaries import extend_dictionaries
from stockfish_fix.testing.messages import FAST

USED_MESSAGES = frozenset(["8", "9", "AF", "D", "F", "G", "H", "V", "W", "X", "Y", "j"])
VERSIONS = ("FIX42", "FIX44", "FIX50SP2")


@pytest.fixture(scope="session")
def test_dictionaries(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The installed dictionaries with the market-data fields venues add to 4.2 / 4.4
    (RptSeq, MDPriceLevel, MDEntryID in W, actions 3/4/5), and a FIX 5.0 SP2 file keeping
    only the messages this connector uses: QuickFIX parses the full 5.0 SP2 file in about
    1.2 s per session, which would dominate a test run."""
    return extend_dictionaries(tmp_path_factory.mktemp("fixdict"),
                               keep_messages=USED_MESSAGES)


@pytest.fixture(autouse=True)
def _quiet_warnings() -> None:
    logging.getLogger("stockfish_core.orders").setLevel(logging.ERROR)


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def venue(version: str, test_dictionaries: str) -> Iterator[FIXVenue]:
    v = FIXVenue(version=version, tick_interval=0.02, data_dictionary=test_dictionaries)
    v.start()
    yield v
    v.stop()


@pytest.fixture
def make_connector(venue: FIXVenue,
                   router: DataFeedRouter) -> Iterator[Callable[..., FIXConnector]]:
    entry = venue.config_entry()
    entry.pop("type")
    with connector_factory(FIXConnector, router, **{**entry, **FAST}) as make:
        yield make


@pytest.fixture(params=["quickfix", "jspurefix"])
def venue_kind(request: pytest.FixtureRequest) -> str:
    """The simulated venue's engine: QuickFIX, or jspurefix (Node.js), written apart."""
    return str(request.param)


#: Options only the QuickFIX venue has (the jspurefix venue always sends RptSeq).
_QUICKFIX_ONLY = ("rpt_seq", "snapshot_requests")


@pytest.fixture
def make_venue(version: str, test_dictionaries: str,
               venue_kind: str) -> Iterator[Callable[..., Any]]:
    """``make_venue(**options)``: a started simulated venue of ``venue_kind`` speaking
    ``version`` with RptSeq on every market-data entry; stopped after the test. Both kinds
    take the same options (book model, depth, spread symbols, start prices...)."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        if venue_kind == "jspurefix":
            options = {k: v for k, v in options.items() if k not in _QUICKFIX_ONLY}
            options.setdefault("spread_symbols", ())
            venue: Any = JSFIXVenue(version=version, tick_interval=0.02,
                                    data_dictionary=test_dictionaries, **options)
        else:
            venue = FIXVenue(version=version, tick_interval=0.02, rpt_seq=True,
                             data_dictionary=test_dictionaries, **options)
        venue.start()
        made.append(venue)
        return venue

    yield make
    for venue in made:
        venue.stop()


@pytest.fixture
def connect_to() -> Iterator[Callable[..., tuple[FIXConnector, Recorder]]]:
    """``connect_to(venue, **settings)``: a logged-on connector on ``venue`` with its own
    router and a Recorder of what it publishes; closed after the test."""
    made: list[tuple[FIXConnector, Recorder]] = []

    def make(venue: Any, **overrides: Any) -> tuple[FIXConnector, Recorder]:
        entry = venue.config_entry()
        entry.pop("type")
        router = DataFeedRouter()
        connector = FIXConnector(router, **{**entry, **FAST, **overrides})
        recorder = Recorder(connector, router)
        made.append((connector, recorder))
        assert connector.connect(), connector.get_stats()["last_error"]
        return connector, recorder

    yield make
    for connector, recorder in made:
        recorder.close()
        connector.close(timeout=5.0)


@pytest.fixture
def live(make_connector: Callable[..., FIXConnector],
         router: DataFeedRouter) -> Iterator[tuple[FIXConnector, Recorder]]:
    yield from live_session(make_connector(), router)
