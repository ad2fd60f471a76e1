"""The external controller: the line protocol, and a real child process for every failure.

Each failure mode has its own child (tests/control/external_child.py).  No test
depends on the machine's speed: a hanging child blocks on its input and never
answers, so a short timeout always expires; answering children get a timeout
of a minute they never come near.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from control_helpers import NOW_MS, controller_input, linear_trace

from pumplab.control import (
    MS_PER_MINUTE,
    BolusRecord,
    CarbRecord,
    Decided,
    Decision,
    MealBolus,
    Raised,
    Reason,
    Rule,
    Supervisor,
    SupervisorLimits,
    TempBasal,
    TimedOut,
    call_controller,
)
from pumplab.control.external import (
    SCHEMA,
    ExternalController,
    ExternalSettings,
    LineProcess,
    decision_from_reply,
    encode_request,
    oref0_shim_command,
    oref0_shim_path,
    parse_reply,
    request,
)
from pumplab.control.oref0 import CASE_KEYS, Oref0Settings, parse_case
from pumplab.errors import ControllerError, ControllerTimeoutError, SettingsError

CHILD = Path(__file__).parent / "external_child.py"
CASE = Oref0Settings(max_iob_u=3.0)
GENEROUS_S = 60.0  # an answering child never comes near this
SHORT_S = 0.3  # a hanging child always exceeds it
INP = controller_input(linear_trace(120, 1.0, 12))


def settings(mode: str, *, timeout_s: float = GENEROUS_S, **kw: object) -> ExternalSettings:
    return ExternalSettings(command=(sys.executable, str(CHILD), mode), case=CASE,
                            timeout_s=timeout_s, startup_timeout_s=timeout_s, **kw)  # type: ignore[arg-type]


@pytest.fixture
def ext(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """An ExternalController for the mode in the test's parametrisation, closed after."""
    controllers: list[ExternalController] = []

    def make(mode: str, **kw: object) -> ExternalController:
        c = ExternalController(settings(mode, **kw))
        controllers.append(c)
        return c

    yield make
    for c in controllers:
        c.close()


# ---------------------------------------------------------------- the protocol (pure)


def test_request_holds_the_case_keys_the_raw_glucose_and_pumplab_extras() -> None:
    """The request is oref0's CASE (parseable by pumplab's own CASE reader), the raw CGM
    entries newest first, and the interface's extra figures."""
    inp = controller_input(linear_trace(120, 1.0, 12),
                           carbs=(CarbRecord(NOW_MS - 10 * MS_PER_MINUTE, 40.0),),
                           boluses=(BolusRecord(NOW_MS - 9 * MS_PER_MINUTE, 4.0),))
    req = request(inp, CASE, 7, 360.0)
    assert req is not None
    assert req["schema"] == SCHEMA and req["cycle"] == 7
    assert set(CASE_KEYS) - {"reservoir_data"} <= req.keys()
    parse_case(req)  # a valid CASE
    assert [e["date"] for e in req["glucose"]] == [r.t_ms for r in reversed(inp.cgm)]
    assert req["glucose"][0] == {"date": NOW_MS, "glucose": 131.0, "sgv": 131.0, "type": "sgv",
                                 "device": "pumplab"}
    assert req["pumplab"]["carbs"] == [{"t_ms": NOW_MS - 10 * MS_PER_MINUTE, "carbs_g": 40.0}]
    assert req["pumplab"]["boluses"][0]["units"] == 4.0
    assert req["pumplab"]["scheduled_basal_u_per_h"] == 1.0


def test_request_window_limits_the_glucose_entries() -> None:
    """Only entries at most glucose_window_min old are sent."""
    req = request(controller_input(linear_trace(120, 1.0, 48)), CASE, 1, 60.0)
    assert req is not None and len(req["glucose"]) == 13  # now and 12 × 5 min back


def test_no_valid_cgm_means_no_request() -> None:
    """Without a CGM reading there is nothing to ask oref0."""
    assert request(controller_input(()), CASE, 1, 360.0) is None


def test_request_line_is_one_line_of_strict_json() -> None:
    """An unknown pump IOB (NaN) is sent as null, never as NaN (which is not JSON)."""
    inp = controller_input(linear_trace(120, 1.0, 12), iob_u=math.nan)
    req = request(inp, CASE, 1, 360.0)
    assert req is not None
    line = encode_request(req)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["pumplab"]["pump_iob_u"] is None


def test_reply_maps_to_a_decision() -> None:
    """rate/duration → temp basal, units → micro-bolus, reason kept, other keys ignored."""
    reply = parse_reply(b'{"rate": 1.5, "duration": 60, "units": 0.2, "reason": "why", '
                        b'"eventualBG": 140, "cycle": 3}', 3)
    assert decision_from_reply(reply) == Decision(TempBasal(1.5, 60), 0.2,
                                                  (Reason("external", "why"),))
    assert decision_from_reply(parse_reply(b"{}", 1)) == Decision()


def test_reply_may_carry_a_meal_bolus() -> None:
    """pumplab's own meal_bolus key becomes a MealBolus."""
    reply = parse_reply(b'{"meal_bolus": {"announced_ms": 5, "carbs_g": 40, "bg_mg_dl": null, '
                        b'"units": 4}}', 1)
    assert decision_from_reply(reply).meal_bolus == MealBolus(5, 40, None, 4)


@pytest.mark.parametrize(("line", "why"), [
    (b"\xff\xfe", "not UTF-8"),
    (b"hello", "not JSON"),
    (b"[1, 2]", "not an object"),
    (b'{"rate": 1}', "both rate and duration"),
    (b'{"duration": 30}', "both rate and duration"),
    (b'{"cycle": 2}', "expected 1"),
    (b'{"meal_bolus": {"units": 1}}', "meal_bolus needs"),
])
def test_replies_that_are_not_replies_raise_controller_error(line: bytes, why: str) -> None:
    """Shape errors are a ControllerError saying what was wrong."""
    with pytest.raises(ControllerError, match=why):
        parse_reply(line, 1)


def test_an_error_reply_is_a_controller_error() -> None:
    """oref0's {"error": ...} is a failure, with its text."""
    with pytest.raises(ControllerError, match="no can do"):
        parse_reply(b'{"error": "no can do"}', 1)


def test_values_are_passed_on_for_the_supervisor_to_judge() -> None:
    """A negative rate is not the protocol's business: it reaches the supervisor as nonsense."""
    decision = decision_from_reply(parse_reply(b'{"rate": -1, "duration": 30}', 1))
    result = Supervisor(SupervisorLimits(5.0, 3.0)).step(INP, Decided(decision))
    assert [o.rule for o in result.overrides] == [Rule.CONTROLLER_NONSENSE]


def test_bad_settings_name_the_field() -> None:
    """An empty command or a zero timeout is a SettingsError naming the field."""
    with pytest.raises(SettingsError, match="command"):
        ExternalSettings(command=(), case=CASE)
    with pytest.raises(SettingsError, match="timeout_s"):
        ExternalSettings(command=("x",), case=CASE, timeout_s=0)


def test_the_oref0_shim_ships_with_the_package() -> None:
    """The node shim is package data, and the command runs it on the given oref0."""
    assert oref0_shim_path().is_file()
    assert oref0_shim_command("/x/oref0") == ("node", str(oref0_shim_path()), "--oref0",
                                              "/x/oref0")


# ---------------------------------------------------------------- a real process


def test_echo_child_answers_every_cycle_from_one_process(ext) -> None:  # type: ignore[no-untyped-def]
    """One process, many cycles: each reply is computed from that cycle's request."""
    c = ext("echo")
    for k in range(1, 4):
        decision = c.decide(INP)
        assert decision == Decision(TempBasal(2.0, 30), 0.1, (Reason("external", f"echo {k} 12"),))
    assert c.starts == 1


def test_no_cgm_starts_no_process(ext) -> None:  # type: ignore[no-untyped-def]
    """Without a CGM reading nothing is asked and no process is started."""
    c = ext("echo")
    decision = c.decide(controller_input(()))
    assert decision.is_nothing and decision.reasons[0].code == "no_cgm"
    assert c.starts == 0


@pytest.mark.parametrize(("mode", "match"), [
    ("garbage", "not JSON"),
    ("array", "not an object"),
    ("half", "both rate and duration"),
    ("error", "no can do"),
    ("wrong_cycle", "expected 1"),
    ("die", "exited with code 3.*boom"),
    ("die_at_start", "code 4"),
])
def test_a_failing_child_raises_controller_error(ext, mode: str, match: str) -> None:  # type: ignore[no-untyped-def]
    """Died, garbage or an error reply: a ControllerError saying which."""
    c = ext(mode)
    with pytest.raises(ControllerError, match=match) as info:
        c.decide(INP)
    assert not isinstance(info.value, ControllerTimeoutError)


def test_two_lines_for_one_request_are_caught_by_the_next_cycle(ext) -> None:  # type: ignore[no-untyped-def]
    """A second line is seen at once if it came with the first, else before or as the
    next cycle's answer (it carries the wrong cycle): in every interleaving, by cycle 2."""
    c = ext("two_lines")
    with pytest.raises(ControllerError, match=r"more than one line|expected 2"):
        c.decide(INP)
        c.decide(INP)


def test_a_too_long_line_is_refused(ext) -> None:  # type: ignore[no-untyped-def]
    """A reply longer than max_line_bytes is a failure, not an unbounded read."""
    c = ext("long_line", max_line_bytes=1000)
    with pytest.raises(ControllerError, match="longer than 1000 bytes"):
        c.decide(INP)


@pytest.mark.parametrize("mode", ["hang", "partial"])
def test_a_hanging_child_times_out(ext, mode: str) -> None:  # type: ignore[no-untyped-def]
    """No complete line before the deadline: ControllerTimeoutError, the child killed."""
    c = ext(mode, timeout_s=SHORT_S)
    with pytest.raises(ControllerTimeoutError) as info:
        c.decide(INP)
    assert info.value.budget_s == SHORT_S and info.value.elapsed_s >= SHORT_S
    assert c._process is not None and not c._process.alive


def test_supervisor_records_a_timeout_and_falls_back() -> None:
    """Through call_controller the timeout is a TimedOut, and the supervisor sends the
    scheduled basal (cancelling a running temp) and records why."""
    from pumplab.control import ActiveTempBasal

    with ExternalController(settings("hang", timeout_s=SHORT_S)) as c:
        inp = controller_input(linear_trace(120, 1.0, 12), temp=ActiveTempBasal(2.0, 20))
        outcome = call_controller(c, inp)
        assert isinstance(outcome, TimedOut) and outcome.budget_s == SHORT_S
        result = Supervisor(SupervisorLimits(5.0, 3.0)).step(inp, outcome)
    assert result.decision == Decision(TempBasal(0.0, 0))
    assert [o.rule for o in result.overrides] == [Rule.CONTROLLER_TIMED_OUT]


def test_supervisor_records_a_dead_child() -> None:
    """A child that dies is Raised, with the exit code in the recorded reason."""
    with ExternalController(settings("die")) as c:
        result = Supervisor(SupervisorLimits(5.0, 3.0)).run(c, INP)
    assert isinstance(result.requested, Raised)
    assert result.overrides[0].rule is Rule.CONTROLLER_RAISED
    assert "exited with code 3" in result.overrides[0].detail


def test_a_failed_process_is_replaced_next_cycle(ext) -> None:  # type: ignore[no-untyped-def]
    """flaky answers once then exits: the next cycle fails, the one after runs a new process
    whose cycles count from 1 again."""
    c = ext("flaky")
    assert c.decide(INP).reasons[0].text == "echo 1 12"
    with pytest.raises(ControllerError, match="code 5"):
        c.decide(INP)
    assert c.decide(INP).reasons[0].text == "echo 1 12"
    assert c.starts == 2 and len(c.failures) == 1


def test_restarts_are_limited(ext) -> None:  # type: ignore[no-untyped-def]
    """With max_restarts 0, after the first process fails no other is started."""
    c = ext("die", max_restarts=0)
    with pytest.raises(ControllerError, match="code 3"):
        c.decide(INP)
    with pytest.raises(ControllerError, match="gave up"):
        c.decide(INP)
    assert c.starts == 1


def test_a_chatty_stderr_does_not_block_the_child(ext) -> None:  # type: ignore[no-untyped-def]
    """2 MB on standard error (more than a pipe holds) is drained; the answer still comes."""
    c = ext("noisy_stderr")
    assert c.decide(INP).temp_basal == TempBasal(2.0, 30)


def test_close_stops_the_process() -> None:
    """close() ends the child (it exits on end of input) and reports its exit code."""
    c = ExternalController(settings("echo"))
    c.decide(INP)
    process = c._process
    assert process is not None and process.alive
    assert c.close() == 0
    assert not process.alive


def test_line_process_refuses_more_than_one_line() -> None:
    """exchange() takes exactly one line (a programming error otherwise)."""
    p = LineProcess((sys.executable, str(CHILD), "echo"))
    try:
        with pytest.raises(ValueError):
            p.exchange(b"a\nb\n", 1.0)
    finally:
        p.kill()


def test_a_missing_program_is_a_controller_error(ext) -> None:  # type: ignore[no-untyped-def]
    """A command that cannot be started fails like any other controller failure."""
    c = ExternalController(ExternalSettings(command=("/nonexistent/program",), case=CASE))
    outcome = call_controller(c, INP)
    assert isinstance(outcome, Raised) and "could not be started" in outcome.error
