"""The ``external`` controller: your own algorithm, or oref0 itself, as one long-lived process.

:class:`ExternalController` starts ``command`` once (on its first decision) and
then, every cycle, writes one request line and reads one reply line
(:mod:`.protocol`), within ``timeout_s`` (5 s; the first exchange of a fresh
process gets ``startup_timeout_s``, 30 s, for the runtime to load).  A process
that hangs, dies or writes garbage raises a typed error —
:class:`~pumplab.errors.ControllerTimeoutError` or
:class:`~pumplab.errors.ControllerError` — which the supervisor's
:func:`~pumplab.control.supervisor.call_controller` records as a timeout or a
failure, falling back to the scheduled basal.  The failed process is killed;
the next cycle starts a new one, at most ``max_restarts`` times (then every
cycle fails at once, without starting anything).

Without a valid CGM reading no request is sent (oref0 has nothing to decide
on) and the decision is to do nothing, as pumplab's own oref0.

Always :meth:`~ExternalController.close` it (or use it as a context manager)
at the end of a run; a forgotten process is killed when the controller is
garbage-collected.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from pumplab.control.external.process import LineProcess
from pumplab.control.external.protocol import (
    decision_from_reply,
    encode_request,
    parse_reply,
    request,
)
from pumplab.control.interface import ControllerInput, Decision, Reason
from pumplab.control.oref0 import Oref0Settings
from pumplab.errors import ControllerError, SettingsError

__all__ = ["ExternalController", "ExternalSettings"]


@dataclass(frozen=True, slots=True)
class ExternalSettings:
    """How to run an external controller.

    ``command`` — the program and its arguments (no shell); ``case`` — the
    oref0 settings the CASE sent each cycle is built with (``max_iob_u`` ...,
    as :class:`~pumplab.control.oref0.Oref0Settings`); ``timeout_s`` per
    exchange (5 s), ``startup_timeout_s`` for a fresh process's first (30 s);
    ``glucose_window_min`` of raw CGM entries, boluses and carbs sent (360);
    ``max_restarts`` (10); ``env`` added to the environment (``TZ=UTC`` by
    default: oref0 reads the host's time zone); ``cwd``.
    """

    command: tuple[str, ...]
    case: Oref0Settings
    timeout_s: float = 5.0
    startup_timeout_s: float = 30.0
    glucose_window_min: float = 360.0
    max_restarts: int = 10
    env: tuple[tuple[str, str], ...] = (("TZ", "UTC"),)
    cwd: str | None = None
    max_line_bytes: int = field(default=1 << 20)

    def __post_init__(self) -> None:
        if not (isinstance(self.command, tuple) and self.command
                and all(isinstance(a, str) and a for a in self.command)):
            raise SettingsError(f"{self.command!r} is not a command", field="command",
                                allowed="a non-empty list of non-empty strings (program first)")
        for name, low, high in (("timeout_s", 0.001, 3600.0), ("startup_timeout_s", 0.001, 3600.0),
                                ("glucose_window_min", 30.0, 7 * 1440.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, int | float)
                                               and math.isfinite(value) and low <= value <= high):
                raise SettingsError(f"{value!r} is out of range", field=name,
                                    allowed=f"{low:g}–{high:g}")
        if isinstance(self.max_restarts, bool) or not (isinstance(self.max_restarts, int)
                                                       and self.max_restarts >= 0):
            raise SettingsError(f"{self.max_restarts!r} is out of range", field="max_restarts",
                                allowed="a whole number ≥ 0")


class ExternalController:
    """A controller that is a process speaking ``pumplab.external/1`` (see the module)."""

    def __init__(self, settings: ExternalSettings, name: str = "external") -> None:
        self.settings = settings
        self._name = name
        self._process: LineProcess | None = None
        self._fresh = False
        self._cycle = 0
        self.starts = 0
        #: The last 50 failures' messages (for a trial's report).
        self.failures: collections.deque[str] = collections.deque(maxlen=50)

    @property
    def name(self) -> str:
        """``external`` (or the name given)."""
        return self._name

    def _ensure_process(self) -> LineProcess:
        if self._process is not None and self._process.alive:
            return self._process
        if self.starts > self.settings.max_restarts:
            raise ControllerError(f"external controller gave up: started {self.starts} times "
                                  f"(max_restarts {self.settings.max_restarts})")
        self.starts += 1
        self._cycle = 0
        self._process = LineProcess(self.settings.command, env=dict(self.settings.env),
                                    cwd=self.settings.cwd,
                                    max_line_bytes=self.settings.max_line_bytes)
        self._fresh = True
        return self._process

    def decide(self, inputs: ControllerInput) -> Decision:
        """One exchange with the process; its reply as a decision (see the module)."""
        s = self.settings
        req = request(inputs, s.case, self._cycle + 1, s.glucose_window_min)
        if req is None:
            return Decision(reasons=(Reason("no_cgm", "no valid CGM reading: nothing asked "
                                                      "of the external controller"),))
        try:
            process = self._ensure_process()
            self._cycle += 1
            req["cycle"] = self._cycle
            timeout = s.startup_timeout_s if self._fresh else s.timeout_s
            line = process.exchange(encode_request(req), timeout)
            self._fresh = False
            return decision_from_reply(parse_reply(line, self._cycle))
        except ControllerError as exc:
            self.failures.append(str(exc))
            if self._process is not None:
                self._process.kill()
            raise

    def close(self) -> int | None:
        """Stop the process (closing its input first); its exit code, if it gave one."""
        process, self._process = self._process, None
        return process.close() if process is not None else None

    def __enter__(self) -> ExternalController:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def command_from(value: str | Sequence[str]) -> tuple[str, ...]:
    """A command given as a list of strings (kept) or one string (split on whitespace)."""
    return tuple(value.split()) if isinstance(value, str) else tuple(value)
