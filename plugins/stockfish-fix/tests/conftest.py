"""Fixtures for the FIX connector tests: a simulated venue per test and connectors on it."""

from __future__ import annotations

import logging
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import Recorder
from stockfish_core.testing.fixtures import connector_factory, fresh_plugins, live_session, router  # noqa: F401 - fixtures
from stockfish_fix.connector import FIXConnector
from stockfish_fix.session_config import dictionary_dir
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST

USED_MESSAGES = frozenset(["8", "9", "D", "F", "G", "H", "V", "W", "X", "Y", "j"])
VERSIONS = ("FIX42", "FIX44", "FIX50SP2")


def _trimmed_dictionaries(folder: Path) -> str:
    """A copy of the installed dictionaries whose FIX 5.0 SP2 file keeps only the messages
    this connector uses: QuickFIX parses the full 5.0 SP2 file in about 1.2 s per session,
    which would dominate a test run. One test keeps the full dictionaries."""
    source = dictionary_dir()
    for name in ("FIX42.xml", "FIX44.xml", "FIXT11.xml"):
        shutil.copy(source / name, folder / name)
    tree = ET.parse(source / "FIX50SP2.xml")
    messages = tree.getroot().find("messages")
    assert messages is not None
    for message in list(messages):
        if message.get("msgtype") not in USED_MESSAGES:
            messages.remove(message)
    tree.write(folder / "FIX50SP2.xml")
    return str(folder)


@pytest.fixture(scope="session")
def test_dictionaries(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _trimmed_dictionaries(tmp_path_factory.mktemp("fixdict"))


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


@pytest.fixture
def live(make_connector: Callable[..., FIXConnector],
         router: DataFeedRouter) -> Iterator[tuple[FIXConnector, Recorder]]:
    yield from live_session(make_connector(), router)
