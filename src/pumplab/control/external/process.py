"""A long-lived child process spoken to one line at a time, with a deadline (the I/O edge).

:class:`LineProcess` starts a command once, then :meth:`~LineProcess.exchange`
writes one line to its standard input and reads one line from its standard
output before a deadline.  Every way it can go wrong is one typed error:

* the process exited, closed its output, or cannot be written to →
  :class:`~pumplab.errors.ControllerError` naming the exit code and the last
  lines it wrote to standard error;
* no complete line before the deadline (it hangs, or writes half a line) →
  :class:`~pumplab.errors.ControllerTimeoutError` with the time waited;
* a line longer than ``max_line_bytes``, or output nobody asked for (a second
  line) → :class:`~pumplab.errors.ControllerError`.

The deadline is enforced here, with ``select`` on non-blocking pipes and the
monotonic clock, because a pure caller cannot interrupt a call that never
returns.  After any failure the process is killed; the caller decides whether
to start another.  Standard error is drained by a daemon thread into a short
buffer (a chatty process never blocks on a full pipe).

This is the only module of :mod:`pumplab.control` that does I/O or reads a clock.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import subprocess
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import IO

from pumplab.errors import ControllerError, ControllerTimeoutError

__all__ = ["LineProcess"]

_STDERR_LINES = 20


def _drain(stream: IO[bytes], sink: collections.deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode("utf-8", errors="replace").rstrip())
    stream.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        proc.wait(timeout=5.0)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class LineProcess:
    """One child process running ``argv``, exchanged with line by line."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | None = None, max_line_bytes: int = 1 << 20) -> None:
        if not argv:
            raise ValueError("an external controller needs a command")
        self.argv = tuple(argv)
        self.max_line_bytes = max_line_bytes
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        try:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, cwd=cwd,
                env={**os.environ, **env} if env is not None else None)
        except OSError as exc:
            raise ControllerError(f"external controller {self.argv[0]!r} could not be "
                                  f"started: {exc}") from exc
        assert self._proc.stdin is not None and self._proc.stdout is not None
        assert self._proc.stderr is not None
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._buffer = b""
        threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr),
                         daemon=True).start()
        # Never leave a child behind, even if the caller forgets close().
        self._finalizer = weakref.finalize(self, _kill, self._proc)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """True while the child has not exited."""
        return self._proc.poll() is None

    def stderr_tail(self) -> list[str]:
        """The last lines the child wrote to standard error."""
        return list(self._stderr)

    def _died(self, what: str) -> ControllerError:
        code = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = self._proc.wait(timeout=5.0)
        tail = " | ".join(self.stderr_tail()[-3:])
        status = f"exited with code {code}" if code is not None else "stopped answering"
        self.kill()
        return ControllerError(f"external controller {what}: {status}"
                               + (f"; stderr: {tail[-300:]}" if tail else ""))

    def exchange(self, line: bytes, timeout_s: float) -> bytes:
        """Write ``line`` (ending in a newline) and return the one line answered (without its
        newline), all within ``timeout_s`` seconds."""
        if not line.endswith(b"\n") or b"\n" in line[:-1]:
            raise ValueError("exchange() takes exactly one line")
        if self._proc.poll() is not None:
            raise self._died("is not running")
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        if self._buffer or self._readable_now(stdout):
            self.kill()
            raise ControllerError("external controller wrote more than one line for one "
                                  "request (output nobody asked for)")
        start = time.monotonic()
        deadline = start + timeout_s
        with selectors.DefaultSelector() as sel:
            view = memoryview(line)
            sel.register(stdin, selectors.EVENT_WRITE)
            while view:
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    raise self._timeout(start, timeout_s, "did not read its input")
                try:
                    written = os.write(stdin.fileno(), view)
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    raise self._died("closed its input") from None
                view = view[written:]
            sel.unregister(stdin)
            sel.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if len(self._buffer) > self.max_line_bytes:
                    self.kill()
                    raise ControllerError(f"external controller wrote a line longer than "
                                          f"{self.max_line_bytes} bytes")
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    raise self._timeout(start, timeout_s, "did not answer")
                try:
                    chunk = os.read(stdout.fileno(), 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise self._died("closed its output")
                self._buffer += chunk
        reply, _, rest = self._buffer.partition(b"\n")
        self._buffer = rest
        if len(reply) > self.max_line_bytes:
            self.kill()
            raise ControllerError(f"external controller wrote a line longer than "
                                  f"{self.max_line_bytes} bytes")
        if rest:
            self.kill()
            raise ControllerError("external controller wrote more than one line for one "
                                  "request")
        return reply

    def _readable_now(self, stdout: IO[bytes]) -> bool:
        with selectors.DefaultSelector() as sel:
            sel.register(stdout, selectors.EVENT_READ)
            return bool(sel.select(0))

    def _timeout(self, start: float, timeout_s: float, what: str) -> ControllerTimeoutError:
        elapsed = time.monotonic() - start
        self.kill()
        return ControllerTimeoutError(
            f"external controller {what} within {timeout_s:g} s (killed)",
            elapsed_s=elapsed, budget_s=timeout_s)

    def kill(self) -> None:
        """Stop the child now."""
        self._finalizer()

    def close(self, grace_s: float = 2.0) -> int | None:
        """Close its input (a well-behaved child then exits), wait ``grace_s``, else kill.
        Returns the exit code (None if it had to be killed... and did not report one)."""
        stdin = self._proc.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=grace_s)
        code = self._proc.poll()
        self.kill()
        return code if code is not None else self._proc.returncode
