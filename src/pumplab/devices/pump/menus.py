"""The pump's menus: what each screen offers and what ACT does there.

Menu tree (docs/pump.md, "Screen and menus")::

    HOME ──ACT──▶ MAIN MENU
                  ├─ Stop Bolus                (while a bolus runs)
                  ├─ Bolus ─▶ Bolus Wizard | Manual Bolus | Square Bolus | Dual Bolus
                  ├─ Suspend / Resume
                  ├─ Basal ─▶ Temp Basal | Cancel Temp Basal | Select Pattern | Edit Pattern
                  ├─ Pending Change            (secure: a proposal from the air awaits ACT)
                  ├─ Settings ─▶ Max Bolus | Max Basal | Time | Easy Bolus | Wizard ▶ |
                  │              Remote ▶ | Meters ▶ | Sensor | Auto Off | Low Reservoir | Limits ▶
                  └─ Pairing ─▶ Pair Device | Unpair Device | Paired Devices   (secure)
    HOME ──B──▶ EASY BOLUS (when on): B or UP adds a step, ACT, then ACT to deliver

Every delivery started here goes through the pump's safety gate like any
other; a refusal is shown as a message naming the reason.  Number entry stops
at the configured limits (as on the x23: the bolus amount cannot be scrolled
above max bolus) — except that the bolus wizard offers its estimate as it is,
even above max bolus: the estimate is never silently shrunk, and ACT on an
amount above max bolus is refused by the gate with the reason on the screen,
so the person must lower it themselves.  This module only builds screen nodes and calls the pump's
key-operation methods; it holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pumplab.clock import MS_PER_MINUTE
from pumplab.devices.pump.access import ProtocolMode, Role
from pumplab.devices.pump.alarms import AnnunciationReason, Sound
from pumplab.devices.pump.delivery import BolusKind, Origin
from pumplab.devices.pump.safety import BolusRequest, Decision, TempBasalRequest
from pumplab.devices.pump.screen import (
    ChoiceNode,
    ConfirmNode,
    Key,
    MenuNode,
    MessageNode,
    Node,
    NumberNode,
    Screen,
    ScreenKind,
    ScreenStack,
    TextNode,
)
from pumplab.devices.pump.settings import PATTERN_NAMES
from pumplab.errors import InputError
from pumplab.therapy.rounding import X23_BASAL_INCREMENT

if TYPE_CHECKING:
    from pumplab.devices.pump.pump import Pump

__all__ = ["LABELS", "home_key", "home_screen"]

#: Menu labels, for operator code that navigates by name.
LABELS = {
    "main": "MAIN MENU",
    "stop_bolus": "Stop Bolus",
    "bolus": "Bolus",
    "wizard": "Bolus Wizard",
    "manual": "Manual Bolus",
    "square": "Square Bolus",
    "dual": "Dual Bolus",
    "suspend": "Suspend",
    "resume": "Resume",
    "basal": "Basal",
    "temp": "Temp Basal",
    "cancel_temp": "Cancel Temp Basal",
    "select_pattern": "Select Pattern",
    "edit_pattern": "Edit Pattern",
    "pending": "Pending Change",
    "settings": "Settings",
    "pairing": "Pairing",
}

Entries = Sequence[tuple[str, Callable[[ScreenStack], None]]]


def _hhmm(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


# ====================================================================== home


def home_screen(pump: Pump) -> Screen:
    """The status screen (what the person glances at)."""
    now = pump.device_time_ms
    clock = pump.user_clock_ms
    minute = (clock // MS_PER_MINUTE) % 1440
    lines = [f"{_hhmm(minute)}  day {clock // (1440 * MS_PER_MINUTE)}"]
    if pump._suspend is not None:
        lines.append(f"SUSPENDED ({pump._suspend.origin.value})")
    elif pump._temp is not None:
        left = max(0, -(-(pump._temp.end_ms - now) // MS_PER_MINUTE))
        lines.append(f"TEMP BASAL {pump._temp_rate_mu(pump._temp) / 1000:.3f} U/h {left} min")
    else:
        lines.append(f"BASAL {pump._scheduled_rate_mu() / 1000:.3f} U/h "
                     f"({pump.settings.active_pattern})")
    b = pump._bolus
    if b is not None:
        lines.append(f"BOLUS {b.delivered_mu / 1000:.3f} of {b.requested_mu / 1000:.3f} U "
                     f"({b.origin.value})")
    lines.append(f"RESERVOIR {pump._reservoir_mu / 1000:.1f} U")
    lines.append(f"BATTERY {pump._battery_pct:.0f} %")
    lines.append(f"ACTIVE INSULIN {pump.active_insulin_u():.3f} U")
    bg = pump.recent_meter_bg()
    if bg is not None:
        lines.append(f"BG {bg:.0f} mg/dL")
    sg = pump.last_sensor_reading
    if sg is not None:
        lines.append(f"SG {sg.glucose_mg_dl:.0f} mg/dL" if sg.glucose_mg_dl is not None
                     else f"SG {sg.flag.value}")
    if pump._pending is not None:
        lines.append("CHANGE WAITING FOR CONFIRMATION")
    return Screen(ScreenKind.HOME, "HOME", lines=tuple(lines))


def home_key(pump: Pump, key: Key) -> None:
    """A key pressed on the home screen."""
    if key is Key.ACT:
        pump._stack.push(MenuNode(LABELS["main"], lambda: _main_entries(pump)))
    elif key is Key.B:
        if pump.settings.easy_bolus_enabled:
            pump._stack.push(_EasyBolusNode(pump))
        else:
            pump._annunciate(AnnunciationReason.KEY_REFUSED, Sound.BEEP, "EASY BOLUS IS OFF")


# ====================================================================== helpers


def _message(stack: ScreenStack, title: str, *lines: str) -> None:
    stack.home()
    stack.push(MessageNode(title, tuple(lines)))


def _started_or_refused(stack: ScreenStack, decision: Decision, what: str) -> None:
    if decision.allowed:
        stack.home()
    else:
        reason = decision.reason.value if decision.reason else "refused"
        _message(stack, f"{what} REFUSED", reason, decision.detail)


def _saved(stack: ScreenStack, error: str | None) -> None:
    if error is None:
        _message(stack, "SAVED")
    else:
        _message(stack, "NOT SAVED", error)


def _do(action: Callable[[], object], then: Callable[[ScreenStack], None]
        ) -> Callable[[ScreenStack], None]:
    """A confirm action: run ``action`` (a pump operation), then ``then`` (navigation)."""
    def run(stack: ScreenStack) -> None:
        action()
        then(stack)
    return run


def _go_home(stack: ScreenStack) -> None:
    stack.home()


def _basal_step(value: int, up: bool) -> int:
    if up:
        return value + X23_BASAL_INCREMENT.step_mu_at(value)
    return value - X23_BASAL_INCREMENT.step_mu_at(max(0, value - 1))


def _mu(value_u: float) -> int:
    return round(value_u * 1000)


def _number_setting(pump: Pump, name: str, title: str, *, unit: str, low: int, high: int,
                    step: int | Callable[[int, bool], int], scale: int, decimals: int,
                    zero_text: str | None = None) -> Node:
    current = getattr(pump.settings, name)
    value = round(current * scale)

    def done(v: int, stack: ScreenStack) -> None:
        new: Any = v / scale if scale != 1 else v
        _saved(stack, pump._key_setting(name, new))

    return NumberNode(title, unit=unit, low=low, high=high, value=value, on_done=done,
                      scale=scale, decimals=decimals, step=step, zero_text=zero_text)


def _on_off(pump: Pump, name: str, title: str,
            then: Callable[[ScreenStack], None] | None = None) -> Node:
    current = 0 if getattr(pump.settings, name) else 1

    def done(i: int, stack: ScreenStack) -> None:
        error = pump._key_setting(name, i == 0)
        if error is None and i == 0 and then is not None:
            then(stack)
        else:
            _saved(stack, error)

    return ChoiceNode(title, ("On", "Off"), done, current=current)


# ====================================================================== main menu


def _main_entries(pump: Pump) -> Entries:
    entries: list[tuple[str, Callable[[ScreenStack], None]]] = []
    if pump._bolus is not None:
        entries.append((LABELS["stop_bolus"], lambda st: st.push(ConfirmNode(
            "STOP BOLUS?", ("ACT to stop the bolus",),
            _do(pump._key_stop_bolus, lambda s: _message(s, "BOLUS STOPPED"))))))
    entries.append((LABELS["bolus"], lambda st: st.push(MenuNode("BOLUS",
                                                                 lambda: _bolus_entries(pump)))))
    if pump._suspend is not None:
        entries.append((LABELS["resume"], lambda st: st.push(ConfirmNode(
            "RESUME?", ("ACT to resume delivery",),
            _do(pump._key_resume, _go_home)))))
    if pump._suspend is not None and (pump._suspend.radio
                                      or pump._suspend.resume_at_ms is not None):
        # A suspend from the air resumes by itself at its limit; suspending on the
        # keys takes it over so that only the person resumes delivery.
        entries.append((LABELS["suspend"], lambda st: st.push(ConfirmNode(
            "SUSPEND?", ("suspended from the air:", "ACT to keep delivery stopped",
                         "until you resume it"),
            _do(pump._key_suspend, _go_home)))))
    elif pump._suspend is None:
        entries.append((LABELS["suspend"], lambda st: st.push(ConfirmNode(
            "SUSPEND?", ("ACT to stop all delivery",),
            _do(pump._key_suspend, _go_home)))))
    entries.append((LABELS["basal"], lambda st: st.push(MenuNode("BASAL",
                                                                 lambda: _basal_entries(pump)))))
    if pump._pending is not None:
        entries.append((LABELS["pending"], lambda st: _pending_node(pump, st)))
    entries.append((LABELS["settings"], lambda st: st.push(MenuNode(
        "SETTINGS", lambda: _settings_entries(pump)))))
    if pump.mode is ProtocolMode.SECURE:
        entries.append((LABELS["pairing"], lambda st: st.push(MenuNode(
            "PAIRING", lambda: _pairing_entries(pump)))))
    return entries


def _pending_node(pump: Pump, stack: ScreenStack) -> None:
    p = pump._pending
    if p is None:
        return
    old = "clock" if p.setting == "clock" else getattr(pump.settings, p.setting, None)

    def done(i: int, st: ScreenStack) -> None:
        _message(st, "CHANGE", pump._accept_pending(i == 0))

    stack.push(ChoiceNode("CONFIRM CHANGE", ("Accept", "Reject"), done,
                          lines=(f"{p.setting}: {old!r} -> {p.value!r}", f"from {p.src}")))


# ====================================================================== bolus


def _bolus_entries(pump: Pump) -> Entries:
    entries: list[tuple[str, Callable[[ScreenStack], None]]] = []
    if pump.settings.wizard_enabled:
        entries.append((LABELS["wizard"], lambda st: _wizard_bg(pump, st)))
    entries.append((LABELS["manual"], lambda st: _manual(pump, st)))
    entries.append((LABELS["square"], lambda st: _square(pump, st)))
    entries.append((LABELS["dual"], lambda st: _dual(pump, st)))
    return entries


def _max_bolus_mu(pump: Pump) -> int:
    return _mu(pump.settings.max_bolus_u)


def _manual(pump: Pump, stack: ScreenStack) -> None:
    def done(v: int, st: ScreenStack) -> None:
        if v <= 0:
            _message(st, "NO BOLUS")
            return
        d = pump._key_bolus(BolusRequest(v, 0, 0, Origin.BUTTONS), BolusKind.NORMAL)
        _started_or_refused(st, d, "BOLUS")

    stack.push(NumberNode("SET BOLUS", unit="U", low=0, high=_max_bolus_mu(pump), value=0,
                          on_done=done))


def _wizard_bg(pump: Pump, stack: ScreenStack) -> None:
    meter = pump.recent_meter_bg()

    def bg_step(v: int, up: bool) -> int:
        if up:
            return 20 if v < 20 else v + 1
        return 0 if v <= 20 else v - 1

    def done(v: int, st: ScreenStack) -> None:
        _wizard_carbs(pump, st, None if v == 0 else float(v))

    stack.push(NumberNode("ENTER BG", unit="mg/dL", low=0, high=600,
                          value=round(meter) if meter is not None else 0, on_done=done, scale=1,
                          decimals=0, step=bg_step, zero_text="---",
                          lines=("BG from linked meter",) if meter is not None else ()))


def _wizard_carbs(pump: Pump, stack: ScreenStack, bg: float | None) -> None:
    def done(v: int, st: ScreenStack) -> None:
        _wizard_estimate(pump, st, bg, float(v))

    stack.push(NumberNode("ENTER CARBS", unit="g", low=0, high=300, value=0, on_done=done,
                          scale=1, decimals=0, step=1))


def _wizard_estimate(pump: Pump, stack: ScreenStack, bg: float | None, carbs: float) -> None:
    from pumplab.devices.pump.pump import wizard_data

    try:
        data = wizard_data(carbs, bg, pump)
    except InputError as exc:
        _message(stack, "WIZARD ERROR", str(exc))
        return
    total = float(data["recommended_u"])
    max_mu = _max_bolus_mu(pump)
    estimate_mu = _mu(total)
    lines = [f"FOOD {data['food_u']:.3f} U", f"CORRECTION {data['correction_u']:.3f} U",
             f"ACTIVE INSULIN {data['iob_u']:.3f} U", f"ESTIMATE {total:.3f} U"]
    if estimate_mu > max_mu:
        lines.append(f"EXCEEDS MAX BOLUS {max_mu / 1000:.1f} U: lower it to deliver")

    def amount(st: ScreenStack) -> None:
        def done(v: int, s2: ScreenStack) -> None:
            if v <= 0:
                _message(s2, "NO BOLUS")
                return
            d = pump._key_bolus(BolusRequest(v, 0, 0, Origin.WIZARD), BolusKind.NORMAL,
                                wizard=data)
            _started_or_refused(s2, d, "BOLUS")

        # The full estimate is offered, never capped (a request beyond a limit is
        # refused, not shrunk): above max bolus the gate refuses it on ACT.
        st.push(NumberNode("SET BOLUS", unit="U", low=0, high=max(max_mu, estimate_mu),
                           value=estimate_mu, on_done=done,
                           lines=(f"ESTIMATE {total:.3f} U",)))

    stack.push(ConfirmNode("ESTIMATE DETAILS", tuple(lines), amount))


def _duration(title: str, low: int, high: int,
              on_done: Callable[[int, ScreenStack], None]) -> Node:
    return NumberNode(title, unit="min", low=low, high=high, value=low, on_done=on_done, scale=1,
                      decimals=0, step=30)


def _square(pump: Pump, stack: ScreenStack) -> None:
    def amount_done(v: int, st: ScreenStack) -> None:
        if v <= 0:
            _message(st, "NO BOLUS")
            return

        def dur_done(minutes: int, s2: ScreenStack) -> None:
            d = pump._key_bolus(BolusRequest(0, v, minutes * MS_PER_MINUTE, Origin.BUTTONS),
                                BolusKind.SQUARE)
            _started_or_refused(s2, d, "BOLUS")

        st.push(_duration("SQUARE DURATION", 30, 480, dur_done))

    stack.push(NumberNode("SET SQUARE BOLUS", unit="U", low=0, high=_max_bolus_mu(pump), value=0,
                          on_done=amount_done))


def _dual(pump: Pump, stack: ScreenStack) -> None:
    max_mu = _max_bolus_mu(pump)

    def now_done(now_mu: int, st: ScreenStack) -> None:
        if max_mu - now_mu < 25:
            _message(st, "NO ROOM FOR SQUARE PART", "now part is at max bolus")
            return

        def sq_done(sq_mu: int, s2: ScreenStack) -> None:
            if sq_mu <= 0:
                _message(s2, "NO SQUARE PART")
                return

            def dur_done(minutes: int, s3: ScreenStack) -> None:
                d = pump._key_bolus(BolusRequest(now_mu, sq_mu, minutes * MS_PER_MINUTE,
                                                 Origin.BUTTONS), BolusKind.DUAL)
                _started_or_refused(s3, d, "BOLUS")

            s2.push(_duration("SQUARE DURATION", 30, 480, dur_done))

        st.push(NumberNode("SET DUAL SQUARE", unit="U", low=0, high=max_mu - now_mu, value=0,
                           on_done=sq_done))

    stack.push(NumberNode("SET DUAL NOW", unit="U", low=0, high=max_mu, value=0,
                          on_done=now_done))


class _EasyBolusNode(Node):
    """Easy bolus: each B (or UP) adds one step and beeps; ACT to review, ACT to deliver."""

    def __init__(self, pump: Pump) -> None:
        self._pump = pump
        self.steps = 0

    def _step_mu(self) -> int:
        return _mu(self._pump.settings.easy_bolus_step_u)

    def _max_steps(self) -> int:
        # x23: up to 20 steps, never above max bolus (assumed, docs/pump.md).
        return min(20, _max_bolus_mu(self._pump) // self._step_mu())

    def render(self) -> Screen:
        amount = self.steps * self._step_mu() / 1000
        return Screen(ScreenKind.EASY_BOLUS, "EASY BOLUS", lines=(f"{self.steps} steps",),
                      value=f"{amount:.3f}", number=amount, unit="U")

    def key(self, key: Key, stack: ScreenStack) -> None:
        if key is Key.ESC:
            stack.pop()
        elif key in (Key.B, Key.UP):
            if self.steps < self._max_steps():
                self.steps += 1
                self._pump._annunciate(AnnunciationReason.EASY_BOLUS_STEP, Sound.BEEP,
                                       f"step {self.steps}")
        elif key is Key.DOWN:
            self.steps = max(0, self.steps - 1)
        elif key is Key.ACT and self.steps > 0:
            mu = self.steps * self._step_mu()
            pump = self._pump
            stack.push(ConfirmNode("DELIVER EASY BOLUS?", (f"{mu / 1000:.3f} U",),
                                   lambda s: _started_or_refused(
                                       s, pump._key_bolus(BolusRequest(mu, 0, 0, Origin.EASY),
                                                          BolusKind.NORMAL), "BOLUS")))


# ====================================================================== basal


def _basal_entries(pump: Pump) -> Entries:
    entries: list[tuple[str, Callable[[ScreenStack], None]]] = [
        (LABELS["temp"], lambda st: _temp_type(pump, st))]
    if pump._temp is not None:
        entries.append((LABELS["cancel_temp"], lambda st: st.push(ConfirmNode(
            "CANCEL TEMP BASAL?", ("ACT to cancel",),
            _do(pump._key_cancel_temp, _go_home)))))
    entries.append((LABELS["select_pattern"], lambda st: _select_pattern(pump, st)))
    entries.append((LABELS["edit_pattern"], lambda st: _edit_pattern(pump, st)))
    return entries


def _temp_type(pump: Pump, stack: ScreenStack) -> None:
    def chosen(i: int, st: ScreenStack) -> None:
        def value_done(v: int, s2: ScreenStack) -> None:
            def dur_done(minutes: int, s3: ScreenStack) -> None:
                req = TempBasalRequest(v if i == 0 else None, v if i == 1 else None,
                                       minutes * MS_PER_MINUTE, Origin.BUTTONS)
                _started_or_refused(s3, pump._key_temp(req), "TEMP BASAL")

            s2.push(_duration("TEMP DURATION", 30, 1440, dur_done))

        if i == 0:
            st.push(NumberNode("TEMP RATE", unit="U/h", low=0,
                               high=_mu(pump.settings.max_basal_u_per_h), value=0,
                               on_done=value_done, step=_basal_step))
        else:
            st.push(NumberNode("TEMP PERCENT", unit="%", low=0, high=200, value=100,
                               on_done=value_done, scale=1, decimals=0, step=1))

    stack.push(ChoiceNode("TEMP BASAL TYPE", ("Rate", "Percent"), chosen))


def _select_pattern(pump: Pump, stack: ScreenStack) -> None:
    names = [p for p in PATTERN_NAMES if pump.settings.pattern(p) is not None]

    def done(i: int, st: ScreenStack) -> None:
        _saved(st, pump._key_setting("active_pattern", names[i]))

    stack.push(ChoiceNode("SELECT PATTERN", names, done,
                          current=names.index(pump.settings.active_pattern)))


_PATTERN_FIELD = {"standard": "pattern_standard", "A": "pattern_a", "B": "pattern_b"}


def _edit_pattern(pump: Pump, stack: ScreenStack) -> None:
    def chosen(i: int, st: ScreenStack) -> None:
        name = PATTERN_NAMES[i]
        segments: list[list[float]] = []
        max_mu = _mu(pump.settings.max_basal_u_per_h)

        def ask_rate(s: ScreenStack, start: int) -> None:
            def rate_done(v: int, s2: ScreenStack) -> None:
                segments.append([start, v / 1000])
                s2.push(ChoiceNode(f"SEGMENT {len(segments)} SET", ("Add Segment", "Done"),
                                   next_step))

            s.push(NumberNode(f"RATE {len(segments) + 1} FROM {_hhmm(start)}", unit="U/h",
                              low=0, high=max_mu, value=0, on_done=rate_done, step=_basal_step))

        def next_step(j: int, s: ScreenStack) -> None:
            last = int(segments[-1][0])
            if j == 0 and last < 1410:
                s.push(NumberNode(f"START {len(segments) + 1}", unit="min", low=last + 30,
                                  high=1410, value=last + 30, scale=1, decimals=0, step=30,
                                  on_done=lambda v, s2: ask_rate(s2, v)))
            else:
                s.push(ConfirmNode(f"SAVE PATTERN {name}?",
                                   tuple(f"{_hhmm(int(a))} {b:.3f} U/h" for a, b in segments),
                                   lambda s2: _saved(s2, pump._key_setting(
                                       _PATTERN_FIELD[name], [list(x) for x in segments]))))

        ask_rate(st, 0)

    stack.push(ChoiceNode("EDIT PATTERN", PATTERN_NAMES, chosen))


# ====================================================================== settings


def _settings_entries(pump: Pump) -> Entries:
    s = pump.settings
    entries: list[tuple[str, Callable[[ScreenStack], None]]] = [
        ("Max Bolus", lambda st: st.push(_number_setting(
            pump, "max_bolus_u", "MAX BOLUS", unit="U", low=0, high=25000, step=100,
            scale=1000, decimals=1))),
        ("Max Basal", lambda st: st.push(_number_setting(
            pump, "max_basal_u_per_h", "MAX BASAL", unit="U/h", low=0, high=35000,
            step=_basal_step, scale=1000, decimals=3))),
        ("Time", lambda st: _set_time(pump, st)),
        ("Easy Bolus", lambda st: st.push(_on_off(
            pump, "easy_bolus_enabled", "EASY BOLUS",
            then=lambda s2: s2.push(_number_setting(
                pump, "easy_bolus_step_u", "EASY BOLUS STEP", unit="U", low=100, high=2000,
                step=100, scale=1000, decimals=1))))),
        ("Wizard", lambda st: st.push(MenuNode("WIZARD SETUP", lambda: _wizard_entries(pump)))),
        ("Remote", lambda st: st.push(MenuNode("REMOTE", lambda: _ids_entries(
            pump, "remote_ids", "Remote ID", with_option=True)))),
        ("Meters", lambda st: st.push(MenuNode("METERS", lambda: _ids_entries(
            pump, "meter_ids", "Meter ID")))),
        ("Sensor", lambda st: st.push(ChoiceNode(
            "SENSOR", ("On", "Off"), lambda i, s2: _sensor(pump, s2, i == 0),
            current=0 if s.sensor_enabled else 1))),
        ("Auto Off", lambda st: st.push(_number_setting(
            pump, "auto_off_h", "AUTO OFF", unit="h", low=0, high=24, step=1, scale=1,
            decimals=0, zero_text="OFF"))),
        ("Low Reservoir", lambda st: st.push(_number_setting(
            pump, "low_reservoir_u", "LOW RESERVOIR", unit="U", low=5000, high=50000,
            step=1000, scale=1000, decimals=0))),
        ("Limits", lambda st: st.push(MenuNode("LIMITS", lambda: _limit_entries(pump)))),
    ]
    return entries


def _set_time(pump: Pump, stack: ScreenStack) -> None:
    clock = pump.user_clock_ms
    day_start = clock - clock % (1440 * MS_PER_MINUTE)
    minute = (clock // MS_PER_MINUTE) % 1440

    def hour_done(h: int, st: ScreenStack) -> None:
        def minute_done(m: int, s2: ScreenStack) -> None:
            new = day_start + (h * 60 + m) * MS_PER_MINUTE

            def confirm(s3: ScreenStack) -> None:
                error = pump._key_set_clock(new)
                if error is None:
                    _message(s3, "TIME SET", _hhmm(h * 60 + m))
                else:
                    _message(s3, "TIME NOT SET", error)

            s2.push(ConfirmNode("SET TIME?", (f"{_hhmm(h * 60 + m)}", "ACT to confirm"), confirm))

        st.push(NumberNode("SET MINUTE", unit="min", low=0, high=59, value=minute % 60,
                           on_done=minute_done, scale=1, decimals=0, step=1))

    stack.push(NumberNode("SET HOUR", unit="h", low=0, high=23, value=minute // 60,
                          on_done=hour_done, scale=1, decimals=0, step=1))


def _wizard_entries(pump: Pump) -> Entries:
    s = pump.settings

    def single(name: str, title: str, unit: str, low: int, high: int, scale: int,
               step: int, decimals: int) -> Callable[[ScreenStack], None]:
        def open_(st: ScreenStack) -> None:
            current = getattr(s, name)[0][1]

            def done(v: int, s2: ScreenStack) -> None:
                # The keys set one value for the whole day (multi-segment
                # schedules come from settings or a confirmed radio proposal).
                _saved(s2, pump._key_setting(name, [[0, v / scale]]))

            st.push(NumberNode(title, unit=unit, low=low, high=high,
                               value=round(current * scale), on_done=done, scale=scale,
                               decimals=decimals, step=step))
        return open_

    def target(st: ScreenStack) -> None:
        _, lo0, hi0 = s.bg_targets[0]

        def low_done(lo: int, s2: ScreenStack) -> None:
            def high_done(hi: int, s3: ScreenStack) -> None:
                _saved(s3, pump._key_setting("bg_targets", [[0, float(lo), float(hi)]]))

            s2.push(NumberNode("BG TARGET HIGH", unit="mg/dL", low=lo, high=250,
                               value=max(lo, round(hi0)), on_done=high_done, scale=1,
                               decimals=0, step=1))

        st.push(NumberNode("BG TARGET LOW", unit="mg/dL", low=60, high=250, value=round(lo0),
                           on_done=low_done, scale=1, decimals=0, step=1))

    return [
        ("Wizard On/Off", lambda st: st.push(_on_off(pump, "wizard_enabled", "WIZARD"))),
        ("Carb Ratio", single("carb_ratios", "CARB RATIO", "g/U", 10, 2000, 10, 1, 1)),
        ("Sensitivity", single("isf", "SENSITIVITY", "mg/dL/U", 5, 400, 1, 1, 0)),
        ("BG Target", target),
        ("Active Insulin Time", lambda st: st.push(_number_setting(
            pump, "active_insulin_time_h", "ACTIVE INSULIN TIME", unit="h", low=2, high=8,
            step=1, scale=1, decimals=0))),
    ]


def _ids_entries(pump: Pump, name: str, label: str, *, with_option: bool = False) -> Entries:
    ids: tuple[str, ...] = getattr(pump.settings, name)
    entries: list[tuple[str, Callable[[ScreenStack], None]]] = []
    if with_option:
        entries.append(("Remote Option", lambda st: st.push(_on_off(
            pump, "remote_enabled", "REMOTE OPTION"))))

    def add(st: ScreenStack) -> None:
        st.push(TextNode(f"ADD {label.upper()}", lambda text, s2: _saved(
            s2, pump._key_setting(name, [*ids, text]))))

    def delete(st: ScreenStack) -> None:
        st.push(ChoiceNode(f"DELETE {label.upper()}", ids, lambda i, s2: _saved(
            s2, pump._key_setting(name, [x for j, x in enumerate(ids) if j != i]))))

    entries.append((f"Add {label}", add))
    if ids:
        entries.append((f"Delete {label}", delete))
    return entries


def _sensor(pump: Pump, stack: ScreenStack, on: bool) -> None:
    if not on:
        _saved(stack, pump._key_setting("sensor_enabled", False))
        return

    def done(text: str, st: ScreenStack) -> None:
        error = pump._key_setting("sensor_id", text)
        if error is None:
            error = pump._key_setting("sensor_enabled", True)
        _saved(st, error)

    stack.push(TextNode("SENSOR ID", done))


_LIMITS: tuple[tuple[str, str, str, int, int, int, int, int], ...] = (
    # label, setting, unit, low, high, step, scale, decimals
    ("Max Hourly", "max_hourly_u", "U", 500, 60000, 100, 1000, 1),
    ("Max Daily", "max_daily_u", "U", 1000, 300000, 100, 1000, 1),
    ("Max Active Insulin", "max_iob_u", "U", 0, 60000, 100, 1000, 1),
    ("No-Delivery Alarm", "no_delivery_alarm_min", "min", 30, 720, 30, 1, 0),
    ("Radio Withhold", "max_radio_withhold_min", "min", 30, 720, 30, 1, 0),
    ("Radio Withhold/Day", "max_radio_withhold_per_day_min", "min", 30, 1440, 30, 1, 0),
    ("Remote Max/Hour", "remote_max_u_per_h", "U", 100, 25000, 100, 1000, 1),
)


def _limit_entries(pump: Pump) -> Entries:
    def opener(label: str, name: str, unit: str, low: int, high: int, step: int, scale: int,
               decimals: int) -> Callable[[ScreenStack], None]:
        return lambda st: st.push(_number_setting(
            pump, name, label.upper(), unit=unit, low=low, high=high, step=step, scale=scale,
            decimals=decimals))

    return [(row[0], opener(*row)) for row in _LIMITS]


# ====================================================================== pairing


def _pairing_entries(pump: Pump) -> Entries:
    pairs = pump.settings.pairings

    def pair(st: ScreenStack) -> None:
        roles = [r.value for r in Role]

        def role_done(i: int, s2: ScreenStack) -> None:
            role = Role(roles[i])

            def address_done(address: str, s3: ScreenStack) -> None:
                code = pump._new_pairing_code()

                def confirm(s4: ScreenStack) -> None:
                    error = pump._pair(address, role)
                    if error is None:
                        _message(s4, "PAIRED", address, role.value)
                    else:
                        _message(s4, "NOT PAIRED", error)

                s3.push(ConfirmNode("PAIRING CODE", (code, address, role.value,
                                                     "ACT to pair, ESC to cancel"), confirm,
                                    kind=ScreenKind.PAIRING_CODE))

            s2.push(TextNode("DEVICE ADDRESS", address_done))

        st.push(ChoiceNode("PAIR ROLE", roles, role_done))

    def unpair(st: ScreenStack) -> None:
        names = [a for a, _ in pairs]
        def done(i: int, s2: ScreenStack) -> None:
            pump._unpair(names[i])
            _message(s2, "UNPAIRED", names[i])

        st.push(ChoiceNode("UNPAIR", names, done))

    entries: list[tuple[str, Callable[[ScreenStack], None]]] = [("Pair Device", pair)]
    if pairs:
        entries.append(("Unpair Device", unpair))
        entries.append(("Paired Devices", lambda st: st.push(MessageNode(
            "PAIRED DEVICES", tuple(f"{a} {r}" for a, r in pairs)))))
    return entries
