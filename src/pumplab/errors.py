"""The one exception tree of pumplab.

Every error pumplab raises on purpose derives from :class:`PumpLabError`; the
command line turns any of them into a one-line message and a non-zero exit
code.  The tree is split by trust boundary, so a caller can tell "the data I
was given is bad" from "the simulation went wrong" from "a message off the air
failed authentication"::

    PumpLabError
    ├── InputError              bad data from a user: a file, a setting, an argument
    │   ├── ScenarioError       a scenario or meal-scenario file that cannot be used
    │   └── SettingsError       a device setting outside its allowed range
    ├── SimulationError         the simulation itself failed
    │   └── NonFiniteStateError a model state became NaN or infinite
    ├── DecodeError             bytes (off the air, off the disk) that do not parse
    ├── AuthenticationError     a message whose authentication failed
    ├── ReplayError             an authenticated message seen before
    ├── SafetyLimitError        a request beyond a delivery or withholding limit
    ├── HistoryError            the durable history cannot be used
    │   └── HistoryCorruptError verification found a bad record
    ├── LinkError               a message could not be carried by a link
    └── ControllerError         a closed-loop controller failed to decide (died, garbage)
        └── ControllerTimeoutError  it did not answer within its deadline

Misuse of the API by a programmer (a wrong type, an impossible argument in
code) raises the built-in ``ValueError`` / ``TypeError`` instead: those are
bugs to fix, not conditions to handle.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ControllerError",
    "ControllerTimeoutError",
    "DecodeError",
    "HistoryCorruptError",
    "HistoryError",
    "InputError",
    "LinkError",
    "NonFiniteStateError",
    "PumpLabError",
    "ReplayError",
    "SafetyLimitError",
    "ScenarioError",
    "SettingsError",
    "SimulationError",
]


class PumpLabError(Exception):
    """Base class of every error pumplab raises on purpose."""


class InputError(PumpLabError, ValueError):
    """Bad input from a user, located as precisely as we can.

    ``source`` is the file (or argument) the value came from, ``row`` the
    1-based data row (header excluded) or record number, ``field`` the column,
    key path or setting name, ``allowed`` a human description of what would have
    been accepted.  The message always names whichever of these are known, so
    the user can find and fix the value.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        field: str | None = None,
        allowed: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.row = row
        self.field = field
        self.allowed = allowed
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source is not None:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = ", ".join(where)
        text = f"{text}: {self.reason}" if text else self.reason
        if self.allowed is not None:
            text += f" (allowed: {self.allowed})"
        return text


class ScenarioError(InputError):
    """A scenario or meal-scenario file that cannot be used."""


class SettingsError(InputError):
    """A device setting outside its allowed range or inconsistent with others."""


class SimulationError(PumpLabError):
    """The simulation itself failed."""


class NonFiniteStateError(SimulationError):
    """A model state became NaN or infinite; the run stops rather than lie."""


class DecodeError(PumpLabError, ValueError):
    """Bytes (from the air or from disk) that do not decode to a valid message."""


class AuthenticationError(PumpLabError):
    """A message failed authentication.  Deliberately carries no detail."""


class ReplayError(PumpLabError):
    """An authenticated message that was already accepted once."""


class SafetyLimitError(PumpLabError):
    """A request beyond a delivery or withholding limit.

    ``reason_code`` is the machine-readable reason the pump sends back to the
    sender (its NAK code).
    """

    def __init__(self, message: str, *, reason_code: str) -> None:
        self.reason_code = reason_code
        super().__init__(message)


class HistoryError(PumpLabError):
    """The durable history cannot be opened, written or read."""


class HistoryCorruptError(HistoryError):
    """Verification found a record that was altered, removed or cut short.

    ``seq`` is the sequence number of the first bad record (or ``None`` when the
    file is not a history at all).
    """

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        self.seq = seq
        super().__init__(message)


class LinkError(PumpLabError):
    """A message could not be carried by a link (unknown address, closed link)."""


class ControllerError(PumpLabError):
    """A closed-loop controller could not give a decision: an external controller's
    process died, wrote something that is not a decision, or reported an error.

    The safety supervisor turns it into a recorded fallback to the scheduled
    basal (``pumplab.control.supervisor.call_controller``).
    """


class ControllerTimeoutError(ControllerError):
    """A controller did not answer within its deadline: ``elapsed_s`` against ``budget_s``.

    Raised by a controller that enforces its own deadline (an out-of-process
    controller); the supervisor records it as a timeout, not as an exception.
    """

    def __init__(self, message: str, *, elapsed_s: float, budget_s: float) -> None:
        self.elapsed_s = elapsed_s
        self.budget_s = budget_s
        super().__init__(message)
