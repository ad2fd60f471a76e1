"""The pump's pairing window: opened on its keys for one role, closed by any failure.

Pairing happens only while the user has opened the window with the pump's
buttons, for the role chosen on the pump's screen (issue 15, "The pairing
window").  A failed attempt closes it and only the pump reopens it, so nobody
can pair from a distance, or lock the user out from a distance.

A plain object with no I/O; time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pumplab.link.secure.roles import Role
from pumplab.link.secure.smp import OobData

__all__ = ["PairingWindow", "WindowGrant"]


@dataclass(frozen=True, slots=True)
class WindowGrant:
    """One claim on an open window: its role, OOB data and generation."""

    generation: int
    role: Role
    oob: OobData | None = field(repr=False)


class PairingWindow:
    """The pump's pairing window: opened on its keys for one role, closed by any failure.

    Only the pump's key panel calls :meth:`open`.  A pairing attempt
    :meth:`claim` s it; a second attempt while one is in progress closes it for
    both (fail closed: two devices answering one window is an attack or a
    mistake, and the user can simply reopen it).  Success or failure closes it.
    """

    DEFAULT_DURATION_MS: ClassVar[int] = 120_000

    def __init__(self) -> None:
        self._generation = 0
        self._role: Role | None = None
        self._oob: OobData | None = None
        self._closes_at_ms = 0
        self._claimed = False

    def open(
        self,
        role: Role,
        now_ms: int,
        *,
        oob: OobData | None = None,
        duration_ms: int = DEFAULT_DURATION_MS,
    ) -> None:
        """Open for one pairing as ``role`` (from the pump's keys only).

        A CGM needs the OOB data the app handed over; no other role takes any.
        """
        if not isinstance(role, Role):
            raise ValueError(f"role must be a Role, got {role!r}")
        if (role is Role.CGM) != (oob is not None):
            raise ValueError("OOB data is required for a CGM and refused for any other role")
        if duration_ms <= 0:
            raise ValueError("the window needs a positive duration")
        self._generation += 1
        self._role, self._oob = role, oob
        self._closes_at_ms = now_ms + duration_ms
        self._claimed = False

    def close(self) -> None:
        """Close the window (any failure; the end of a pairing; the user)."""
        self._generation += 1
        self._role, self._oob, self._claimed = None, None, False

    def is_open(self, now_ms: int) -> bool:
        """Open, unclaimed and not expired: a pairing request would be taken."""
        return self._role is not None and not self._claimed and now_ms < self._closes_at_ms

    @property
    def in_progress(self) -> bool:
        return self._role is not None and self._claimed

    @property
    def role(self) -> Role | None:
        """The role the window is open for (shown on the pump's screen)."""
        return self._role

    def claim(self, now_ms: int) -> WindowGrant | None:
        """Take the window for one attempt; None (and the window closed) otherwise."""
        if self._role is None:
            return None
        if self._claimed or now_ms >= self._closes_at_ms:
            self.close()
            return None
        self._claimed = True
        return WindowGrant(self._generation, self._role, self._oob)

    def holds(self, grant: WindowGrant) -> bool:
        return self._claimed and grant.generation == self._generation

    def release(self, grant: WindowGrant) -> None:
        """End of the attempt holding ``grant`` (success or failure): close."""
        if grant.generation == self._generation:
            self.close()
