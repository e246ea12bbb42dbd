"""A program on a pseudo-terminal, and the screen it draws.

:class:`Terminal` starts a command on a pty of a fixed size (stdlib ``pty``), reads what it
writes into :class:`Screen`, a small VT100 model (enough for rich's Live refresh and plain
output: cursor moves, erase in line / display, carriage return, line feed, scrolling;
colours are ignored), and types keys such as Ctrl-C. Every wait is bounded; the process is
signalled and killed only by its own pid.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Sequence

_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z@])")
_OSC = re.compile(r"\x1b\].*?(?:\x07|\x1b\\)")
_OTHER_ESC = re.compile(r"\x1b[()][A-Za-z0-9]|\x1b[=>78]")
_TAKE_TERMINAL = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                  "os.execvp(sys.argv[1], sys.argv[1:])")


class Screen:
    """Rows of characters as a terminal of ``rows`` x ``cols`` would show them."""

    def __init__(self, rows: int = 40, cols: int = 140) -> None:
        self.rows = rows
        self.cols = cols
        self.lines = [[" "] * cols for _ in range(rows)]
        self.row = 0
        self.col = 0
        self._pending = ""

    def text(self) -> str:
        return "\n".join("".join(line).rstrip() for line in self.lines).rstrip("\n")

    def feed(self, data: str) -> None:
        data = self._pending + data
        self._pending = ""
        cut = data.rfind("\x1b")
        if cut >= 0 and not _complete(data[cut:]):
            data, self._pending = data[:cut], data[cut:]
        data = _OSC.sub("", data)
        data = _OTHER_ESC.sub("", data)
        pos = 0
        for match in _CSI.finditer(data):
            self._write(data[pos:match.start()])
            self._control(match.group(1), match.group(2))
            pos = match.end()
        self._write(data[pos:])

    def _write(self, text: str) -> None:
        for char in text:
            if char == "\r":
                self.col = 0
            elif char == "\n":
                self._line_feed()
            elif char == "\b":
                self.col = max(self.col - 1, 0)
            elif char == "\t":
                self.col = min((self.col // 8 + 1) * 8, self.cols - 1)
            elif char >= " " and char != "\x7f":
                if self.col >= self.cols:
                    self.col = 0
                    self._line_feed()
                self.lines[self.row][self.col] = char
                self.col += 1

    def _line_feed(self) -> None:
        if self.row == self.rows - 1:
            self.lines.pop(0)
            self.lines.append([" "] * self.cols)
        else:
            self.row += 1

    def _control(self, params: str, command: str) -> None:
        if params.startswith("?"):
            return  # private modes: cursor visibility, alternate screen
        numbers = [int(p) if p else 0 for p in params.split(";")] if params else []
        n = numbers[0] if numbers else 0
        if command == "A":
            self.row = max(self.row - max(n, 1), 0)
        elif command == "B":
            self.row = min(self.row + max(n, 1), self.rows - 1)
        elif command == "C":
            self.col = min(self.col + max(n, 1), self.cols - 1)
        elif command == "D":
            self.col = max(self.col - max(n, 1), 0)
        elif command == "G":
            self.col = min(max(n, 1) - 1, self.cols - 1)
        elif command in ("H", "f"):
            row = numbers[0] if numbers else 1
            col = numbers[1] if len(numbers) > 1 else 1
            self.row, self.col = min(max(row, 1) - 1, self.rows - 1), \
                min(max(col, 1) - 1, self.cols - 1)
        elif command == "K":
            line = self.lines[self.row]
            start, end = {0: (self.col, self.cols), 1: (0, self.col + 1),
                          2: (0, self.cols)}.get(n, (0, 0))
            for i in range(start, end):
                line[i] = " "
        elif command == "J":
            if n in {2, 3}:
                self.lines = [[" "] * self.cols for _ in range(self.rows)]
            elif n == 0:
                self._control("0", "K")
                for r in range(self.row + 1, self.rows):
                    self.lines[r] = [" "] * self.cols


def _complete(tail: str) -> bool:
    """Whether an escape sequence at the end of a chunk is whole."""
    if tail.startswith("\x1b["):
        return bool(re.match(r"\x1b\[[?0-9;]*[A-Za-z@]", tail))
    if tail.startswith("\x1b]"):
        return "\x07" in tail or "\x1b\\" in tail
    return len(tail) >= 2


class Terminal:
    """``argv`` running on a pty of ``rows`` x ``cols``; stdin, stdout and stderr are the
    terminal, as in an interactive shell."""

    def __init__(self, argv: Sequence[str], *, rows: int = 40, cols: int = 140,
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.screen = Screen(rows, cols)
        self.raw: list[str] = []
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = dict(env if env is not None else os.environ)
        full_env.update({"TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)})
        full_env.pop("NO_COLOR", None)
        # A new session whose controlling terminal is the pty, so that Ctrl-C typed into
        # it is SIGINT to the program, as in a shell (set by a small exec wrapper rather
        # than a preexec_fn, which is unsafe in a process with threads).
        self.proc = subprocess.Popen([sys.executable, "-c", _TAKE_TERMINAL, *argv],
                                     stdin=slave, stdout=slave, stderr=slave, env=full_env,
                                     cwd=cwd, start_new_session=True)
        os.close(slave)
        self.master = master
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def pump(self, timeout: float) -> None:
        """Read what the program wrote within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                return
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the program closed the terminal (it exited)
                return
            if not data:
                return
            text = self._decoder.decode(data)
            self.raw.append(text)
            self.screen.feed(text)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        """Read until ``predicate(screen text)`` holds or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not predicate(self.screen.text()):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.pump(0.2)
                return predicate(self.screen.text())
            self.pump(min(left, 0.2))
        return True

    def ctrl_c(self) -> None:
        """Type Ctrl-C: the terminal sends SIGINT to the foreground process group."""
        os.write(self.master, b"\x03")

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        self.pump(0.2)
        return self.proc.poll()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # our own child's group, by its pid
            self.proc.wait(5)
        os.close(self.master)

    def output(self) -> str:
        return "".join(self.raw)
