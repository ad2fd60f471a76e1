"""Operator helpers: do a user task on the pump by pressing its keys and reading its screen.

Every helper here acts like a person at the pump: it starts from the home
screen (pressing ESC until it is there), walks the menus by their labels,
scrolls numbers with UP/DOWN until the screen shows the wanted value, and
confirms with ACT.  It never calls the pump's internals, so whatever the
person model or a test does through these helpers is exactly what a user
could do with the keys — including being refused by the safety gate, which
shows as a message on the screen.

Each helper returns a :class:`UiResult`: ``done`` says whether the task
happened (a bolus started, a setting saved...), ``message`` what the screen
said (a refusal reason, "alarm showing"), ``screen`` the screen that said it.
A helper never raises for a pump that says no; it raises ``ValueError`` only
for arguments no key sequence could enter (a negative amount, an unknown
role).  If an alarm is on the screen, helpers other than :func:`clear_alarm`
return ``done=False`` at once: the person must deal with the alarm first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pumplab.devices.pump.access import Role
from pumplab.devices.pump.menus import LABELS
from pumplab.devices.pump.pump import Pump
from pumplab.devices.pump.screen import ADDRESS_ALPHABET, END_MARK, Key, Screen, ScreenKind

__all__ = [
    "UiResult",
    "add_meter_id",
    "add_remote_id",
    "answer_pending_change",
    "cancel_bolus",
    "cancel_temp_basal",
    "clear_alarm",
    "clear_all_alarms",
    "dual_bolus",
    "easy_bolus",
    "go_home",
    "manual_bolus",
    "pair",
    "read_home",
    "resume",
    "select_pattern",
    "set_auto_off",
    "set_basal_pattern",
    "set_easy_bolus",
    "set_max_basal",
    "set_max_bolus",
    "set_number_setting",
    "set_remote_option",
    "set_sensor",
    "set_temp_basal",
    "set_time",
    "square_bolus",
    "suspend",
    "unpair",
    "wizard_bolus",
]

_MAX_PRESSES = 5000


@dataclass(frozen=True, slots=True)
class UiResult:
    """How a task at the keys ended."""

    done: bool
    message: str
    screen: Screen
    amount_u: float | None = None
    code: str | None = None


class _Blocked(Exception):
    def __init__(self, message: str, screen: Screen) -> None:
        super().__init__(message)
        self.message = message
        self.screen = screen


def _fail(pump: Pump, message: str) -> _Blocked:
    return _Blocked(message, pump.screen)


def go_home(pump: Pump) -> Screen:
    """Press ESC until the home screen shows (an alarm screen stays: it needs ESC then ACT)."""
    for _ in range(30):
        screen = pump.screen
        if screen.kind in (ScreenKind.HOME, ScreenKind.ALARM):
            return screen
        pump.press(Key.ESC)
    return pump.screen


def _home(pump: Pump) -> None:
    screen = go_home(pump)
    if screen.kind is ScreenKind.ALARM:
        raise _Blocked(f"alarm showing: {screen.title}", screen)
    if screen.kind is not ScreenKind.HOME:
        raise _fail(pump, "could not reach the home screen")


def _select(pump: Pump, label: str) -> None:
    screen = pump.screen
    if screen.kind not in (ScreenKind.MENU, ScreenKind.CHOICE) or label not in screen.items:
        raise _Blocked(f"'{label}' is not offered on {screen.title}", screen)
    target = screen.items.index(label)
    n = len(screen.items)
    down = (target - screen.cursor) % n
    key = Key.DOWN if down <= n - down else Key.UP
    for _ in range(min(down, n - down)):
        pump.press(key)
    pump.press(Key.ACT)


def _open(pump: Pump, *labels: str) -> None:
    _home(pump)
    pump.press(Key.ACT)
    for label in labels:
        _select(pump, label)


def _set_number(pump: Pump, target: float, *, act: bool = True) -> None:
    screen = pump.screen
    if screen.kind is not ScreenKind.NUMBER or screen.number is None:
        raise _Blocked(f"expected a number entry, got {screen.title}", screen)
    for _ in range(_MAX_PRESSES):
        current = pump.screen.number
        assert current is not None
        if abs(current - target) < 1e-9:
            break
        pump.press(Key.UP if current < target else Key.DOWN)
        after = pump.screen.number
        if after == current or (after is not None and (after - target) * (current - target) < 0):
            raise _Blocked(f"cannot enter {target:g}: the entry stops at {current:g} "
                           f"{screen.unit}", pump.screen)
    else:
        raise _fail(pump, f"could not reach {target:g}")
    if act:
        pump.press(Key.ACT)


def _enter_text(pump: Pump, text: str) -> None:
    symbols = ADDRESS_ALPHABET + END_MARK
    for ch in [*text, END_MARK]:
        if ch not in symbols:
            raise ValueError(f"{ch!r} cannot be entered on the pump's keys")
        screen = pump.screen
        if screen.kind is not ScreenKind.TEXT:
            raise _Blocked(f"expected text entry, got {screen.title}", screen)
        current = symbols.index(screen.value[-1])
        up = (symbols.index(ch) - current) % len(symbols)
        key = Key.UP if up <= len(symbols) - up else Key.DOWN
        for _ in range(min(up, len(symbols) - up)):
            pump.press(key)
        pump.press(Key.ACT)


def _outcome(pump: Pump, *, ok_when_home: bool = True, amount_u: float | None = None,
             code: str | None = None) -> UiResult:
    """Read how the task ended; dismiss a message screen (the person has read it)."""
    screen = pump.screen
    if screen.kind is ScreenKind.HOME and ok_when_home:
        return UiResult(True, "done", screen, amount_u, code)
    if screen.kind is ScreenKind.MESSAGE:
        done = screen.title in {"SAVED", "PAIRED", "UNPAIRED", "TIME SET", "BOLUS STOPPED",
                                "CHANGE"}
        message = " / ".join((screen.title, *screen.lines))
        pump.press(Key.ACT)
        return UiResult(done, message, screen, amount_u, code)
    return UiResult(False, f"unexpected screen {screen.title}", screen, amount_u, code)


def _run(pump: Pump, task: object) -> UiResult:
    assert callable(task)
    try:
        result = task()
        assert isinstance(result, UiResult)
        return result
    except _Blocked as blocked:
        if pump.screen.kind is not ScreenKind.ALARM:
            go_home(pump)
        return UiResult(False, blocked.message, blocked.screen)


def _check_amount(units: float, name: str) -> None:
    if not (isinstance(units, int | float) and units >= 0):
        raise ValueError(f"{name} must be a number ≥ 0, got {units!r}")


# ====================================================================== boluses


def manual_bolus(pump: Pump, units: float) -> UiResult:
    """Bolus > Manual Bolus, scroll to ``units``, ACT."""
    _check_amount(units, "units")

    def task() -> UiResult:
        _open(pump, LABELS["bolus"], LABELS["manual"])
        _set_number(pump, units)
        return _outcome(pump, amount_u=units)
    return _run(pump, task)


def wizard_bolus(pump: Pump, carbs_g: float, bg_mg_dl: float | None = None, *,
                 amount_u: float | None = None) -> UiResult:
    """Bolus Wizard: BG (``None`` keeps what the screen offers: the linked meter's BG or
    none), carbs, read the estimate, ACT, then deliver the estimate (or ``amount_u``).

    The pump offers the full estimate, never capped at max bolus; above max bolus the
    pump refuses it on ACT, so the result is ``done=False`` with the refusal on the
    screen — unless ``amount_u`` asks for an amount within the limit.
    """
    _check_amount(carbs_g, "carbs_g")

    def task() -> UiResult:
        _open(pump, LABELS["bolus"], LABELS["wizard"])
        if bg_mg_dl is None:
            pump.press(Key.ACT)
        else:
            _set_number(pump, round(bg_mg_dl))
        _set_number(pump, round(carbs_g))
        screen = pump.screen
        if screen.kind is not ScreenKind.CONFIRM:
            return _outcome(pump)
        pump.press(Key.ACT)
        offered = pump.screen.number
        target = offered if amount_u is None else amount_u
        assert target is not None
        if target <= 0:
            go_home(pump)
            return UiResult(False, "wizard estimate is 0 U: no bolus", screen, 0.0)
        _set_number(pump, target)
        return _outcome(pump, amount_u=target)
    return _run(pump, task)


def square_bolus(pump: Pump, units: float, duration_min: int) -> UiResult:
    """Bolus > Square Bolus: amount, duration, ACT."""
    _check_amount(units, "units")

    def task() -> UiResult:
        _open(pump, LABELS["bolus"], LABELS["square"])
        _set_number(pump, units)
        _set_number(pump, duration_min)
        return _outcome(pump, amount_u=units)
    return _run(pump, task)


def dual_bolus(pump: Pump, now_u: float, square_u: float, duration_min: int) -> UiResult:
    """Bolus > Dual Bolus: now part, square part, duration, ACT."""
    _check_amount(now_u, "now_u")
    _check_amount(square_u, "square_u")

    def task() -> UiResult:
        _open(pump, LABELS["bolus"], LABELS["dual"])
        _set_number(pump, now_u)
        _set_number(pump, square_u)
        _set_number(pump, duration_min)
        return _outcome(pump, amount_u=now_u + square_u)
    return _run(pump, task)


def easy_bolus(pump: Pump, steps: int) -> UiResult:
    """From home: B, then B once per step (each beeps), ACT, ACT to deliver."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError("steps must be a whole number ≥ 1")

    def task() -> UiResult:
        _home(pump)
        pump.press(Key.B)
        if pump.screen.kind is not ScreenKind.EASY_BOLUS:
            raise _fail(pump, "easy bolus is off")
        for _ in range(steps):
            pump.press(Key.B)
        shown = pump.screen.number
        if shown is None or round(shown / pump.settings.easy_bolus_step_u) != steps:
            raise _fail(pump, f"easy bolus stops at {shown} U")
        pump.press(Key.ACT)
        pump.press(Key.ACT)
        return _outcome(pump, amount_u=shown)
    return _run(pump, task)


def cancel_bolus(pump: Pump) -> UiResult:
    """Main menu > Stop Bolus > ACT (what Medtronic advised for a bolus one did not start)."""
    def task() -> UiResult:
        _open(pump, LABELS["stop_bolus"])
        pump.press(Key.ACT)
        return _outcome(pump)
    return _run(pump, task)


# ====================================================================== basal, suspend


def suspend(pump: Pump) -> UiResult:
    """Main menu > Suspend > ACT."""
    def task() -> UiResult:
        _open(pump, LABELS["suspend"])
        pump.press(Key.ACT)
        return _outcome(pump)
    return _run(pump, task)


def resume(pump: Pump) -> UiResult:
    """Main menu > Resume > ACT."""
    def task() -> UiResult:
        _open(pump, LABELS["resume"])
        pump.press(Key.ACT)
        return _outcome(pump)
    return _run(pump, task)


def set_temp_basal(pump: Pump, *, rate_u_per_h: float | None = None, percent: int | None = None,
                   duration_min: int = 30) -> UiResult:
    """Basal > Temp Basal: rate or percent, duration, ACT."""
    if (rate_u_per_h is None) == (percent is None):
        raise ValueError("give exactly one of rate_u_per_h and percent")

    def task() -> UiResult:
        _open(pump, LABELS["basal"], LABELS["temp"])
        _select(pump, "Rate" if rate_u_per_h is not None else "Percent")
        _set_number(pump, rate_u_per_h if rate_u_per_h is not None else float(percent or 0))
        _set_number(pump, duration_min)
        return _outcome(pump)
    return _run(pump, task)


def cancel_temp_basal(pump: Pump) -> UiResult:
    """Basal > Cancel Temp Basal > ACT."""
    def task() -> UiResult:
        _open(pump, LABELS["basal"], LABELS["cancel_temp"])
        pump.press(Key.ACT)
        return _outcome(pump)
    return _run(pump, task)


def select_pattern(pump: Pump, name: str) -> UiResult:
    """Basal > Select Pattern > ``name``."""
    def task() -> UiResult:
        _open(pump, LABELS["basal"], LABELS["select_pattern"])
        _select(pump, name)
        return _outcome(pump)
    return _run(pump, task)


def set_basal_pattern(pump: Pump, name: str,
                      segments: Sequence[tuple[int, float]]) -> UiResult:
    """Basal > Edit Pattern: enter ``(start_min, rate_u_per_h)`` segments, save.

    The first segment must start at 0; starts are entered in minutes on 30-min steps.
    """
    if not segments or segments[0][0] != 0:
        raise ValueError("the first segment starts at minute 0")

    def task() -> UiResult:
        _open(pump, LABELS["basal"], LABELS["edit_pattern"])
        _select(pump, name)
        for i, (start, rate) in enumerate(segments):
            if i > 0:
                _select(pump, "Add Segment")
                _set_number(pump, start)
            _set_number(pump, rate)
        _select(pump, "Done")
        pump.press(Key.ACT)
        return _outcome(pump)
    return _run(pump, task)


# ====================================================================== settings


def set_number_setting(pump: Pump, path: Sequence[str], value: float) -> UiResult:
    """Open main-menu ``path`` (e.g. ``("Settings", "Limits", "Max Hourly")``), enter ``value``."""
    def task() -> UiResult:
        _open(pump, *path)
        _set_number(pump, value)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def set_max_bolus(pump: Pump, units: float) -> UiResult:
    """Settings > Max Bolus."""
    return set_number_setting(pump, ("Settings", "Max Bolus"), units)


def set_max_basal(pump: Pump, rate_u_per_h: float) -> UiResult:
    """Settings > Max Basal."""
    return set_number_setting(pump, ("Settings", "Max Basal"), rate_u_per_h)


def set_auto_off(pump: Pump, hours: int) -> UiResult:
    """Settings > Auto Off (0 = off)."""
    return set_number_setting(pump, ("Settings", "Auto Off"), hours)


def set_time(pump: Pump, hour: int, minute: int) -> UiResult:
    """Settings > Time: hour, minute, then the confirmation ACT."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError("hour must be 0–23 and minute 0–59")

    def task() -> UiResult:
        _open(pump, "Settings", "Time")
        _set_number(pump, hour)
        _set_number(pump, minute)
        pump.press(Key.ACT)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def set_easy_bolus(pump: Pump, enabled: bool, step_u: float | None = None) -> UiResult:
    """Settings > Easy Bolus: On (then the step size) or Off."""
    def task() -> UiResult:
        _open(pump, "Settings", "Easy Bolus")
        _select(pump, "On" if enabled else "Off")
        if enabled:
            _set_number(pump, step_u if step_u is not None else pump.settings.easy_bolus_step_u)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def set_remote_option(pump: Pump, enabled: bool) -> UiResult:
    """Settings > Remote > Remote Option On/Off."""
    def task() -> UiResult:
        _open(pump, "Settings", "Remote", "Remote Option")
        _select(pump, "On" if enabled else "Off")
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def add_remote_id(pump: Pump, remote_id: str) -> UiResult:
    """Settings > Remote > Add Remote ID: the id character by character."""
    def task() -> UiResult:
        _open(pump, "Settings", "Remote", "Add Remote ID")
        _enter_text(pump, remote_id)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def add_meter_id(pump: Pump, meter_id: str) -> UiResult:
    """Settings > Meters > Add Meter ID."""
    def task() -> UiResult:
        _open(pump, "Settings", "Meters", "Add Meter ID")
        _enter_text(pump, meter_id)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def set_sensor(pump: Pump, sensor_id: str | None) -> UiResult:
    """Settings > Sensor: On with ``sensor_id``, or Off (``None``)."""
    def task() -> UiResult:
        _open(pump, "Settings", "Sensor")
        _select(pump, "Off" if sensor_id is None else "On")
        if sensor_id is not None:
            _enter_text(pump, sensor_id)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


def answer_pending_change(pump: Pump, accept: bool = True) -> UiResult:
    """Main menu > Pending Change > Accept/Reject (secure-mode proposals from the air)."""
    def task() -> UiResult:
        _open(pump, LABELS["pending"])
        _select(pump, "Accept" if accept else "Reject")
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


# ====================================================================== pairing


def pair(pump: Pump, address: str, role: Role | str) -> UiResult:
    """Pairing > Pair Device: role, address, read the pairing code, ACT.

    ``code`` in the result is the code the pump displayed (the secure link of
    a later issue will have the peer prove it).
    """
    role = Role(role)

    def task() -> UiResult:
        _open(pump, LABELS["pairing"], "Pair Device")
        _select(pump, role.value)
        _enter_text(pump, address)
        screen = pump.screen
        if screen.kind is not ScreenKind.PAIRING_CODE:
            raise _Blocked(f"expected the pairing code, got {screen.title}", screen)
        code = screen.lines[0]
        pump.press(Key.ACT)
        return _outcome(pump, ok_when_home=False, code=code)
    return _run(pump, task)


def unpair(pump: Pump, address: str) -> UiResult:
    """Pairing > Unpair Device > ``address``."""
    def task() -> UiResult:
        _open(pump, LABELS["pairing"], "Unpair Device")
        _select(pump, address)
        return _outcome(pump, ok_when_home=False)
    return _run(pump, task)


# ====================================================================== alarms, reading


def clear_alarm(pump: Pump) -> UiResult:
    """ESC then ACT on the alarm screen; ``code`` is the alarm that was showing."""
    screen = pump.screen
    if screen.kind is not ScreenKind.ALARM:
        return UiResult(False, "no alarm showing", screen)
    pump.press(Key.ESC)
    after = pump.press(Key.ACT)
    cleared = after.kind is not ScreenKind.ALARM or after.value != screen.value
    return UiResult(cleared, screen.title if cleared else "alarm cannot be cleared", after,
                    code=screen.value)


def clear_all_alarms(pump: Pump) -> list[str]:
    """Clear alarms until none shows (or one cannot be cleared); returns the codes cleared."""
    cleared: list[str] = []
    for _ in range(20):
        result = clear_alarm(pump)
        if not result.done:
            break
        assert result.code is not None
        cleared.append(result.code)
    return cleared


def read_home(pump: Pump) -> tuple[str, ...]:
    """Go to the home screen and read it (the status lines; an alarm's lines if one shows)."""
    return go_home(pump).lines
