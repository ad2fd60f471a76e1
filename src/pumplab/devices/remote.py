"""The keychain remote (MiniMed MMT-503 kind): bolus presets and suspend only.

The MMT-503 has three keys: S (suspend), B (bolus, pressed once per preset
step) and ACT.  Here a press sequence is modelled by its result: ``bolus(i)``
sends preset ``i`` as a :class:`RemoteBolusCommand`, ``suspend()`` a
:class:`RemoteSuspendCommand`.  The remote cannot do anything else: no temp
basal, no settings, no reading.

It caps its own boluses per rolling hour (``max_u_per_hour``) so a stuck key
or a child playing with it cannot run away.  That cap is a convenience of the
remote only: the real protection is the pump's, which in secure mode enforces
its own remote cap for the remote role (a forged remote message never passes
through this object).  The legacy radio is one-way: the remote transmits and
never learns what the pump did; in secure mode it hears the pump's answer.
"""

from __future__ import annotations

from collections import deque

from pumplab.clock import MS_PER_HOUR, Clock
from pumplab.devices.peripheral import Peripheral
from pumplab.link.base import Link
from pumplab.link.messages import RemoteBolusCommand, RemoteSuspendCommand

__all__ = ["Remote"]


class Remote(Peripheral):
    """A keychain remote paired (legacy: registered by id) with one pump."""

    def __init__(
        self,
        address: str,
        pump_address: str,
        clock: Clock,
        link: Link,
        *,
        presets_u: tuple[float, ...] = (0.5, 1.0, 2.0),
        max_u_per_hour: float = 4.0,
        use_command_ids: bool = False,
    ) -> None:
        # `not (a < x <= b)` is also true for NaN, so NaN is refused too.
        if not presets_u or any(not (0.0 < p <= 25.0) for p in presets_u):
            raise ValueError("remote presets must be within (0, 25] U")
        if not (0.0 < max_u_per_hour <= 25.0):
            raise ValueError(f"max_u_per_hour must be within (0, 25] U, got {max_u_per_hour}")
        super().__init__(address, pump_address, clock, link)
        self.presets_u = presets_u
        self.max_u_per_hour = max_u_per_hour
        self._use_ids = use_command_ids
        self._next_id = 1
        self._sent: deque[tuple[int, float]] = deque()  # (time ms, units)
        self.refused_locally = 0

    def bolus(self, preset_index: int) -> bool:
        """Send bolus preset ``preset_index``; False if the remote's own hourly cap refuses."""
        if not 0 <= preset_index < len(self.presets_u):
            raise ValueError(f"preset_index must be within 0..{len(self.presets_u) - 1}")
        amount = self.presets_u[preset_index]
        now = self._clock.now_ms
        while self._sent and self._sent[0][0] <= now - MS_PER_HOUR:
            self._sent.popleft()
        if sum(u for _, u in self._sent) + amount > self.max_u_per_hour + 1e-9:
            self.refused_locally += 1
            return False
        self._sent.append((now, amount))
        self._send(RemoteBolusCommand(amount, command_id=self._take_id()))
        return True

    def suspend(self) -> None:
        """Press S: ask the pump to suspend delivery."""
        self._send(RemoteSuspendCommand(command_id=self._take_id()))

    def _take_id(self) -> int | None:
        if not self._use_ids:
            return None  # the legacy remote packet has no command id
        command_id = self._next_id
        self._next_id += 1
        return command_id
