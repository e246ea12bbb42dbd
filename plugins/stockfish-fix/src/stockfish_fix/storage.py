"""What the connector leaves on disk: private to the user, and never a credential.

- :func:`private_dir` creates the file store's and the session log's directories (and any
  missing parent) with mode 0700; :func:`privatize` sets the files QuickFIX created for a
  session to 0600 (QuickFIX creates them with the process umask, usually 0644).
- :class:`MaskedLogFactory` replaces QuickFIX's ``FileLogFactory``: the same files
  (``<session>.messages.current.log``, ``<session>.event.current.log``), created 0600, with
  the value of every credential field (Username 553, Password 554, NewPassword 925, the
  encrypted ones and RawData) masked before it is written.
- The file store keeps no message bodies (``PersistMessages=N``, see
  :func:`~stockfish_fix.session_config.build_config`) unless ``resend_orders`` needs them,
  so the Logon with its password never reaches it.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from pathlib import Path
from typing import Any

import quickfix as fix

__all__ = ["CREDENTIAL_TAGS", "MaskedLogFactory", "mask_credentials", "private_dir",
           "privatize", "session_prefix"]

log = logging.getLogger(__name__)

#: Fields whose values are credentials: Username, Password, NewPassword,
#: EncryptedPassword(Len), EncryptedNewPassword(Len), RawData(Len) (venue-specific logons).
CREDENTIAL_TAGS = (553, 554, 925, 1400, 1402, 95, 96)
MASK = "********"
_CREDENTIAL = re.compile(
    "(^|\x01)(" + "|".join(str(tag) for tag in CREDENTIAL_TAGS) + ")=[^\x01]*")


def mask_credentials(text: str) -> str:
    """``text`` (raw FIX) with the value of every credential field masked."""
    return _CREDENTIAL.sub(rf"\1\2={MASK}", text)


def private_dir(path: str | os.PathLike[str]) -> str:
    """Create ``path`` and its missing parents with mode 0700; return it. An existing
    directory is left as it is (it may be shared, e.g. ``/tmp``) with a warning when others
    can read it: the connector's own files in it are 0600 all the same."""
    target = Path(path).expanduser()
    missing = []
    probe = target
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # made by another thread meanwhile
            pass
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    mode = stat.S_IMODE(target.stat().st_mode)
    if not missing and mode & 0o077:
        log.warning("%s is open to other users (mode %o): the FIX connector's files in it "
                    "are private (0600), the directory is not", target, mode)
    return str(target)


def session_prefix(settings: dict[str, str]) -> str:
    """QuickFIX's file name prefix of a session: BeginString-Sender-Target[-Qualifier]."""
    parts = [settings["BeginString"], settings["SenderCompID"], settings["TargetCompID"]]
    if settings.get("SessionQualifier"):
        parts.append(settings["SessionQualifier"])
    return "-".join(parts)


def privatize(directory: str, prefix: str) -> int:
    """Set every file of the session (name starting with ``prefix``) in ``directory`` to
    0600; returns how many were changed. Never raises."""
    changed = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False) \
                        and stat.S_IMODE(entry.stat().st_mode) != 0o600:
                    os.chmod(entry.path, 0o600)
                    changed += 1
    except OSError as exc:
        log.warning("cannot make the FIX files in %s private: %s", directory, exc)
    return changed


class _MaskedFileLog(fix.Log):  # type: ignore[misc]
    """One session's message and event logs (QuickFIX calls these from its own thread:
    nothing here may raise into it)."""

    def __init__(self, directory: str, prefix: str) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._messages = os.path.join(directory, f"{prefix}.messages.current.log")
        self._events = os.path.join(directory, f"{prefix}.event.current.log")
        self._files = {path: self._open(path) for path in (self._messages, self._events)}

    @staticmethod
    def _open(path: str) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    def _write(self, path: str, text: str) -> None:
        stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
        line = f"{stamp} : {mask_credentials(text)}\n".encode("utf-8", "replace")
        try:
            with self._lock:
                fd = self._files.get(path)
                if fd is not None:
                    os.write(fd, line)
        except OSError:
            pass  # a full disk must not stop the session

    def onIncoming(self, text: str) -> None:  # noqa: N802 - QuickFIX's names
        self._write(self._messages, text)

    def onOutgoing(self, text: str) -> None:  # noqa: N802
        self._write(self._messages, text)

    def onEvent(self, text: str) -> None:  # noqa: N802
        self._write(self._events, text)

    def clear(self) -> None:
        try:
            with self._lock:
                for fd in self._files.values():
                    os.ftruncate(fd, 0)
        except OSError:
            pass

    def backup(self) -> None:
        self.clear()

    def close(self) -> None:
        with self._lock:
            files, self._files = self._files, {}
        for fd in files.values():
            try:
                os.close(fd)
            except OSError:
                pass


class MaskedLogFactory(fix.LogFactory):  # type: ignore[misc]
    """QuickFIX ``LogFactory`` writing private session logs with credentials masked."""

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory
        self._logs: list[Any] = []  # QuickFIX holds raw pointers to these

    def create(self, *args: Any) -> Any:
        try:
            prefix = "GLOBAL" if not args else session_prefix({
                "BeginString": args[0].getBeginString().getValue(),
                "SenderCompID": args[0].getSenderCompID().getValue(),
                "TargetCompID": args[0].getTargetCompID().getValue(),
                "SessionQualifier": args[0].getSessionQualifier()})
            made = _MaskedFileLog(self.directory, prefix)
        except Exception as exc:  # never into QuickFIX's thread: log nothing instead
            log.error("FIX session log in %s not created: %s", self.directory, exc)
            made = _NullLog()
        self._logs.append(made)
        # Handed to C++ before it is returned: SWIG taking ownership of a director object
        # returned from a director method deadlocks QuickFIX's constructor otherwise.
        made.__disown__()
        return made

    def destroy(self, made: Any) -> None:
        for kept in list(self._logs):
            same = kept is made or getattr(kept, "this", None) == getattr(made, "this", None)
            if same and isinstance(kept, _MaskedFileLog):
                kept.close()

    def close(self) -> None:
        """Close every file (after the engine that used them is gone)."""
        for made in self._logs:
            if isinstance(made, _MaskedFileLog):
                made.close()
        self._logs.clear()


class _NullLog(fix.Log):  # type: ignore[misc]
    def onIncoming(self, text: str) -> None:  # noqa: N802
        pass

    def onOutgoing(self, text: str) -> None:  # noqa: N802
        pass

    def onEvent(self, text: str) -> None:  # noqa: N802
        pass

    def clear(self) -> None:
        pass

    def backup(self) -> None:
        pass
