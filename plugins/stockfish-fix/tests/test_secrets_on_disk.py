"""No secret on disk: after a session with credentials, a file store and session logs, no
file the connector wrote holds the password (or the username), the logs show the Logon
with its credentials masked, every file is 0600 and every directory it made 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from stockfish_core.orders import Order, OrderSide, OrderStatus
from stockfish_core.router import DataFeedRouter
from stockfish_core.testing import wait_until
from stockfish_fix.connector import FIXConnector
from stockfish_fix.settings import FIXSettings
from stockfish_fix.storage import mask_credentials
from stockfish_fix.testing import FIXVenue
from stockfish_fix.testing.messages import FAST

USER, PASSWORD = "trader-7731", "s3cret-pw-42"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _session(venue: FIXVenue, **settings: object) -> FIXConnector:
    entry = venue.config_entry()
    entry.pop("type")
    connector = FIXConnector(DataFeedRouter(), **{**entry, **FAST, **settings})
    assert connector.connect(), connector.get_stats()["last_error"]
    order = Order("AAA", OrderSide.BUY, 1)
    connector.send_order(order)
    assert wait_until(lambda: order.status is OrderStatus.FILLED, 10.0)
    assert connector.subscribe_price("AAA")
    return connector


@pytest.fixture
def venue(test_dictionaries: str) -> FIXVenue:
    venue = FIXVenue(username=USER, password=PASSWORD, data_dictionary=test_dictionaries,
                     store_path="")
    venue.start()
    yield venue
    venue.stop()


def test_no_credential_in_the_store_or_the_logs_and_every_file_private(
        venue: FIXVenue, tmp_path: Path) -> None:
    store, logs = tmp_path / "deep" / "store", tmp_path / "logs"
    first = _session(venue, store="file", store_path=str(store), log_path=str(logs))
    first.close()
    # A second session with a sequence reset: QuickFIX re-creates the store's files.
    second = _session(venue, store="file", store_path=str(store), log_path=str(logs),
                      reset_on_logon=True)
    second.close()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".seqnums") for p in written), written
    assert any(p.name.endswith(".messages.current.log") for p in written), written
    for path in written:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data, path
        assert USER.encode() not in data, path
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
    for directory in (tmp_path / "deep", store, logs):
        assert _mode(directory) == 0o700, (directory, oct(_mode(directory)))
    messages = next(p for p in written if p.name.endswith(".messages.current.log"))
    text = messages.read_text()
    assert "\x01554=********\x01" in text and "\x01553=********\x01" in text
    assert "35=D\x01" in text  # the log is a real log, only the credentials are masked


def test_the_default_store_is_private_too(venue: FIXVenue, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _session(venue, store="file").close()
    base = tmp_path / ".stockfish-rt"
    for directory in (base, base / "fix", base / "fix" / "store"):
        assert _mode(directory) == 0o700, directory
    for path in (base / "fix" / "store").iterdir():
        assert _mode(path) == 0o600 and PASSWORD.encode() not in path.read_bytes(), path


def test_an_existing_shared_directory_is_left_as_it_is(venue: FIXVenue,
                                                       tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    _session(venue, store="file", store_path=str(shared)).close()
    assert _mode(shared) == 0o755  # not ours to change
    assert all(_mode(p) == 0o600 for p in shared.iterdir())


def test_settings_that_would_put_the_logon_on_disk_are_refused() -> None:
    with pytest.raises(ValueError, match="resend_orders"):
        FIXSettings(store="file", password="pw-123456", resend_orders=True)
    FIXSettings(store="memory", password="pw-123456", resend_orders=True)  # nothing on disk
    config = ("[DEFAULT]\nConnectionType=initiator\nFileStorePath=/tmp/x\n[SESSION]\n"
              "BeginString=FIX.4.4\nSenderCompID=C\nTargetCompID=V\n")
    connector = FIXConnector(session_config=config, password="pw-123456")
    assert connector.connect() is False
    assert "PersistMessages" in connector.get_stats()["last_error"]


def test_mask_credentials() -> None:
    raw = "8=FIX.4.4\x0135=A\x01553=bob\x01554=pw\x01925=new\x0110=000\x01"
    assert mask_credentials(raw) == ("8=FIX.4.4\x0135=A\x01553=********\x01554=********\x01"
                                     "925=********\x0110=000\x01")
