"""oref0 behind the controller interface."""

from __future__ import annotations

import pytest
from control_helpers import controller_input, linear_trace

from pumplab.control import Controller, Decision, TempBasal
from pumplab.control.oref0 import Oref0Controller, Oref0Settings, Step, decision_from_result
from pumplab.control.oref0.determine import Oref0Result
from pumplab.errors import SettingsError

OREF0 = Oref0Controller(Oref0Settings(max_iob_u=3.0))


def test_oref0_controller_is_a_controller() -> None:
    """It satisfies the Controller protocol and names itself."""
    assert isinstance(OREF0, Controller)
    assert OREF0.name == "oref0"


def test_falling_towards_a_low_gets_a_zero_temp() -> None:
    """BG falling 4 mg/dL per 5 min to 85 with 1 U on board: a predicted low → zero temp."""
    decision = OREF0.decide(controller_input(linear_trace(129, -4, 12), iob_u=1.0))
    assert decision.temp_basal is not None and decision.temp_basal.rate_u_per_h == 0
    assert decision.temp_basal.duration_min >= 30
    assert Step.LOW_GLUCOSE_SUSPEND in {r.code for r in decision.reasons}


def test_high_and_rising_gets_a_temp_above_basal() -> None:
    """BG 200 rising 5 per 5 min, no insulin: a high temp above the 1.0 U/h schedule."""
    decision = OREF0.decide(controller_input(linear_trace(145, 5, 12)))
    assert decision.temp_basal is not None and decision.temp_basal.rate_u_per_h > 1.0
    assert decision.micro_bolus_u is None


def test_without_cgm_it_does_nothing() -> None:
    """No reading: nothing asked of the pump, with a reason."""
    decision = OREF0.decide(controller_input(()))
    assert decision.is_nothing
    assert decision.reasons[0].code == "no_cgm"


def test_same_input_same_decision() -> None:
    """The controller keeps no state."""
    inp = controller_input(linear_trace(180, 3, 12))
    assert OREF0.decide(inp) == OREF0.decide(inp)


def test_smb_when_enabled() -> None:
    """With SMB allowed and always on, high and rising BG gets a micro-bolus."""
    smb = Oref0Controller(Oref0Settings(max_iob_u=3.0, micro_bolus_allowed=True,
                                        enable_smb_always=True))
    decision = smb.decide(controller_input(linear_trace(150, 4, 12), iob_u=0.0))
    assert decision.micro_bolus_u is not None and decision.micro_bolus_u > 0


def test_result_maps_to_a_decision() -> None:
    """rate/duration → TempBasal, units → micro-bolus, no rate → leave the pump alone."""
    assert decision_from_result(Oref0Result((), rate=0.0, duration=0.0)) == Decision(
        temp_basal=TempBasal(0.0, 0))
    assert decision_from_result(Oref0Result((), units=0.3)).micro_bolus_u == 0.3
    assert decision_from_result(Oref0Result(())).is_nothing


@pytest.mark.parametrize(("field", "value"), [
    ("max_iob_u", -1.0), ("autosens_ratio", 0.0), ("smb_interval_min", 30.0),
    ("bolus_increment_u", float("nan")),
])
def test_bad_settings_are_refused_by_name(field: str, value: float) -> None:
    """Settings come from a person or a trial file: bad ones name the field."""
    kwargs = {"max_iob_u": 3.0, field: value}
    with pytest.raises(SettingsError) as info:
        Oref0Settings(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
