"""Keep secret values out of every log record in the process.

Third-party libraries log what they send and receive (ib_insync logs raw API messages at
DEBUG, QuickFIX logs Logon messages), and those carry credentials and account ids. Every
:class:`~stockfish_core.settings.Secret` registers its value here; a log-record factory then
replaces any registered value in a record's message with a mask before any handler sees it.
The check costs one string search per registered secret per log record, and nothing at all
while no secret is registered; the market-data path does not log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["MASK", "redact", "register_secret"]

MASK = "********"
_MIN_LENGTH = 4  # shorter values would mask ordinary words
_secrets: frozenset[str] = frozenset()
_lock = threading.Lock()
_installed = False


def register_secret(value: str) -> None:
    """Mask ``value`` in every log record from now on."""
    global _secrets
    if len(value) < _MIN_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets = _secrets | {value}
        _install()


def redact(text: str) -> str:
    """``text`` with every registered secret masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _install() -> None:
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed log call: leave it to logging to report
                return record
            masked = redact(message)
            if masked is not message and masked != message:
                record.msg, record.args = masked, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
