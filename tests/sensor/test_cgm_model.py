"""The CGM error model: seeding, noise statistics, flags, warm-up, dropouts, calibration."""

from __future__ import annotations

import dataclasses
from statistics import NormalDist

import numpy as np
import pytest

from pumplab.errors import InputError
from pumplab.physiology.sensor import (
    BRETON_2008_NOISE,
    ENLITE,
    NOISE_ONLY,
    SOF_SENSOR,
    CalibrationError,
    CgmFlag,
    CgmRandomness,
    CgmSensorArray,
    CgmSpec,
    Dropouts,
    cgm_preset,
    simulate_cgm,
)

SEED = 20240611


def _flat(n_patients: int, n_minutes: int, bg: float = 150.0) -> np.ndarray:
    return np.full((n_patients, n_minutes), bg)


def _ramp(n_patients: int, n_minutes: int) -> np.ndarray:
    minutes = np.arange(n_minutes)
    rows = [120.0 + 80.0 * np.sin(minutes / (90.0 + 17.0 * i)) for i in range(n_patients)]
    return np.array(rows)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


# --- seeding and independence of the components -----------------------------


def test_same_seed_gives_identical_readings() -> None:
    """Two runs from the same seed produce bit-identical traces."""
    gsub = _ramp(3, 2 * 1440)
    a = simulate_cgm(gsub, randomness=CgmRandomness.from_seed(SEED, 3))
    b = simulate_cgm(gsub, randomness=CgmRandomness.from_seed(SEED, 3))
    assert _same(a.raw_mg_dl, b.raw_mg_dl)
    assert _same(a.flags, b.flags)


def test_different_seeds_give_different_noise() -> None:
    """A different seed gives different sensor values."""
    gsub = _flat(1, 1440)
    a = simulate_cgm(gsub, spec=NOISE_ONLY, randomness=CgmRandomness.from_seed(1, 1))
    b = simulate_cgm(gsub, spec=NOISE_ONLY, randomness=CgmRandomness.from_seed(2, 1))
    assert not np.allclose(a.raw_mg_dl, b.raw_mg_dl)


def test_changing_dropout_parameters_does_not_change_noise_or_calibration() -> None:
    """Readings present under both dropout settings are identical: dropouts use their own stream."""
    gsub = _ramp(4, 3 * 1440)
    rnd = CgmRandomness.from_seed(SEED, 4)
    rare = dataclasses.replace(ENLITE, dropouts=Dropouts(rate_per_day=0.5, mean_duration_min=20))
    often = dataclasses.replace(ENLITE, dropouts=Dropouts(rate_per_day=6.0, mean_duration_min=60))
    a = simulate_cgm(gsub, spec=rare, randomness=rnd)
    b = simulate_cgm(gsub, spec=often, randomness=rnd)
    both = (a.flags != CgmFlag.DROPOUT) & (b.flags != CgmFlag.DROPOUT) & (a.flags != CgmFlag.WARMUP)
    assert both.sum() > 1000
    assert (a.flags == CgmFlag.DROPOUT).sum() != (b.flags == CgmFlag.DROPOUT).sum()
    assert np.array_equal(a.raw_mg_dl[both], b.raw_mg_dl[both])


def test_changing_calibration_parameters_does_not_change_dropouts_or_noise() -> None:
    """Dropouts stay put and the noise is unchanged when the calibration error changes."""
    gsub = _flat(3, 2 * 1440)
    rnd = CgmRandomness.from_seed(SEED, 3)
    a = simulate_cgm(gsub, spec=dataclasses.replace(ENLITE, calibration=None), randomness=rnd)
    b_spec = dataclasses.replace(ENLITE, calibration=CalibrationError(gain_sd=0.1))
    b = simulate_cgm(gsub, spec=b_spec, randomness=rnd)
    assert np.array_equal(a.flags == CgmFlag.DROPOUT, b.flags == CgmFlag.DROPOUT)
    # a = Gsub + ε and b = gain·Gsub + offset + ε: with the same ε their
    # difference is constant between two calibrations (here 8 h to 20 h).
    epoch = (b.sample_minutes >= 480) & (b.sample_minutes < 1200)
    diff = (b.raw_mg_dl - a.raw_mg_dl)[:, epoch]
    for row in diff:
        row = row[~np.isnan(row)]
        assert row.size > 100
        assert np.ptp(row) < 1e-9


def test_a_patients_readings_do_not_depend_on_cohort_size() -> None:
    """Patient 0 alone and patient 0 of five patients get identical readings."""
    gsub = _ramp(5, 1440)
    alone = simulate_cgm(gsub[:1], randomness=CgmRandomness.from_seed(SEED, 1))
    cohort = simulate_cgm(gsub, randomness=CgmRandomness.from_seed(SEED, 5))
    assert _same(alone.raw_mg_dl[0], cohort.raw_mg_dl[0])
    assert _same(alone.flags[0], cohort.flags[0])


def test_simulating_a_cohort_in_chunks_gives_the_same_readings() -> None:
    """Selecting patients' streams for chunks reproduces the all-at-once trace."""
    gsub = _ramp(5, 1440)
    rnd = CgmRandomness.from_seed(SEED, 5)
    whole = simulate_cgm(gsub, randomness=rnd)
    first = simulate_cgm(gsub[:2], randomness=rnd.select(slice(0, 2)))
    rest = simulate_cgm(gsub[[2, 3, 4]], randomness=rnd.select([2, 3, 4]))
    assert _same(whole.raw_mg_dl, np.vstack([first.raw_mg_dl, rest.raw_mg_dl]))


def test_injected_generators_give_reproducible_prefix_stable_streams() -> None:
    """Streams built from injected generators repeat for equal generators and ignore cohort size."""

    def build(n: int) -> CgmRandomness:
        return CgmRandomness.from_generators(
            noise=np.random.default_rng(1),
            calibration=np.random.default_rng(2),
            dropout=np.random.default_rng(3),
            n_patients=n,
        )

    gsub = _ramp(4, 1440)
    a = simulate_cgm(gsub, randomness=build(4))
    b = simulate_cgm(gsub, randomness=build(4))
    one = simulate_cgm(gsub[:1], randomness=build(1))
    assert _same(a.raw_mg_dl, b.raw_mg_dl)
    assert _same(a.raw_mg_dl[0], one.raw_mg_dl[0])


def test_numpy_generator_draws_do_not_depend_on_block_size() -> None:
    """numpy draws the same normals and uniforms in blocks as in one call (the model needs it)."""
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    blocks = np.concatenate([a.standard_normal(5), a.standard_normal(288), a.standard_normal(1)])
    assert np.array_equal(blocks, b.standard_normal(294))
    blocks = np.concatenate([a.random(7), a.random(288)])
    assert np.array_equal(blocks, b.random(295))


# --- incremental API == whole-trace API --------------------------------------


def test_incremental_reads_of_all_patients_equal_the_whole_trace() -> None:
    """Reading every sample minute with CgmSensorArray.read reproduces simulate_cgm exactly."""
    gsub = _ramp(4, 2 * 1440)
    rnd = CgmRandomness.from_seed(SEED, 4)
    trace = simulate_cgm(gsub, spec=SOF_SENSOR, randomness=rnd, sensor_age_min=[0, 100, 4000, 7])
    sensor = CgmSensorArray(SOF_SENSOR, rnd, sensor_age_min=[0, 100, 4000, 7])
    for j, minute in enumerate(trace.sample_minutes):
        sample = sensor.read(int(minute), gsub[:, minute])
        assert _same(sample.raw_mg_dl, trace.raw_mg_dl[:, j])
        assert _same(sample.glucose_mg_dl, trace.glucose_mg_dl[:, j])
        assert _same(sample.flags, trace.flags[:, j])


def test_per_patient_reads_in_any_order_with_gaps_equal_the_whole_trace() -> None:
    """Single-patient reads, interleaved and skipping samples, give the whole trace's numbers."""
    gsub = _ramp(3, 1440)
    rnd = CgmRandomness.from_seed(SEED, 3)
    trace = simulate_cgm(gsub, randomness=rnd, sensor_age_min=300)
    sensor = CgmSensorArray(ENLITE, rnd, sensor_age_min=300)
    checked = 0
    for j, minute in enumerate(trace.sample_minutes):
        for patient in (2, 0, 1):
            if (j + patient) % 3 == 0:  # each patient skips two samples in three
                continue
            reading = sensor.read_patient(patient, int(minute), float(gsub[patient, minute]))
            assert reading.flag == trace.flags[patient, j]
            expected = trace.raw_mg_dl[patient, j]
            assert (reading.raw_mg_dl is None) == bool(np.isnan(expected))
            if reading.raw_mg_dl is not None:
                assert reading.raw_mg_dl == expected
            checked += 1
    assert checked > 500


def test_reading_a_sample_twice_is_refused() -> None:
    """A sample already read cannot be read again."""
    sensor = CgmSensorArray(ENLITE, CgmRandomness.from_seed(SEED, 2))
    sensor.read(10, [100.0, 100.0])
    with pytest.raises(ValueError, match="already read"):
        sensor.read_patient(1, 10, 100.0)


def test_reading_between_sample_minutes_is_refused() -> None:
    """Only minutes on the 5-minute grid are sample minutes."""
    sensor = CgmSensorArray(ENLITE, CgmRandomness.from_seed(SEED, 1))
    with pytest.raises(ValueError, match="not a sample minute"):
        sensor.read_patient(0, 12, 100.0)


# --- noise statistics ---------------------------------------------------------


@pytest.fixture(scope="module")
def long_noise() -> np.ndarray:
    """ε = reading − Gsub of the noise-only model: 200 patients × 2000 samples."""
    n, samples = 200, 2000
    gsub = _flat(n, samples * 5, bg=200.0)
    trace = simulate_cgm(gsub, spec=NOISE_ONLY, randomness=CgmRandomness.from_seed(SEED, n))
    return np.asarray(trace.raw_mg_dl - 200.0)


def test_noise_mean_and_sd_match_the_johnson_su_distribution(long_noise: np.ndarray) -> None:
    """The noise has the analytic mean (0.76 mg/dL) and SD (12.1 mg/dL) of the published S_U law."""
    assert abs(long_noise.mean() - BRETON_2008_NOISE.mean_mg_dl) < 0.4
    assert abs(long_noise.std() / BRETON_2008_NOISE.sd_mg_dl - 1.0) < 0.03


def test_noise_quantiles_match_the_johnson_su_distribution(long_noise: np.ndarray) -> None:
    """The 5th, 50th and 95th percentiles match ξ + λ·sinh((z_q − γ)/δ)."""
    noise = BRETON_2008_NOISE
    for q in (0.05, 0.5, 0.95):
        z = NormalDist().inv_cdf(q)
        expected = noise.xi_mg_dl + noise.lambda_mg_dl * np.sinh((z - noise.gamma) / noise.delta)
        assert abs(np.quantile(long_noise, q) - expected) < 0.6


def test_noise_autocorrelation_is_the_published_pacf_at_15_minutes(long_noise: np.ndarray) -> None:
    """The driving Gaussian process has autocorrelation 0.7 at 15 min and 0.7^(1/3) at 5 min."""
    noise = BRETON_2008_NOISE
    e = noise.gamma + noise.delta * np.arcsinh((long_noise - noise.xi_mg_dl) / noise.lambda_mg_dl)

    def lag(k: int) -> float:
        a, b = e[:, :-k].ravel(), e[:, k:].ravel()
        return float(np.corrcoef(a, b)[0, 1])

    assert abs(lag(3) - 0.7) < 0.01
    assert abs(lag(1) - 0.7 ** (1 / 3)) < 0.01
    assert abs(np.std(e) - 1.0) < 0.02


# --- LOW / HIGH, warm-up, sessions, dropouts, calibration ---------------------

_EXACT = dataclasses.replace(NOISE_ONLY, name="exact", noise=None)


def test_readings_below_40_read_low_and_above_400_read_high() -> None:
    """Rounded values under 40 mg/dL read LOW, over 400 read HIGH; 40 and 400 are numbers."""
    values = np.array([[25.0], [39.4], [39.6], [250.0], [400.4], [400.6], [520.0]])
    trace = simulate_cgm(values, spec=_EXACT, randomness=CgmRandomness.from_seed(1, 7))
    flags = [CgmFlag(int(f)) for f in trace.flags[:, 0]]
    assert flags == [
        CgmFlag.LOW,
        CgmFlag.LOW,
        CgmFlag.OK,
        CgmFlag.OK,
        CgmFlag.OK,
        CgmFlag.HIGH,
        CgmFlag.HIGH,
    ]
    assert trace.glucose_mg_dl[2, 0] == 40.0
    assert trace.glucose_mg_dl[4, 0] == 400.0
    assert np.isnan(trace.glucose_mg_dl[0, 0]) and np.isnan(trace.glucose_mg_dl[5, 0])


def test_trace_column_shows_values_flags_and_blanks() -> None:
    """The per-minute column holds the number, LOW or HIGH at sample minutes and '' elsewhere."""
    gsub = np.array([[150.0] * 5 + [30.0] * 5 + [450.0] * 5])
    trace = simulate_cgm(gsub, spec=_EXACT, randomness=CgmRandomness.from_seed(1, 1))
    assert trace.column(0, 15) == ["150", "", "", "", "", "LOW", "", "", "", "", "HIGH"] + [""] * 4


def test_a_fresh_enlite_has_no_readings_during_its_two_hour_warmup() -> None:
    """Samples before minute 120 of a new sensor are WARMUP; minute 120 has a reading."""
    spec = dataclasses.replace(ENLITE, dropouts=None)
    trace = simulate_cgm(_flat(2, 300), spec=spec, randomness=CgmRandomness.from_seed(SEED, 2))
    early = trace.sample_minutes < 120
    assert np.all(trace.flags[:, early] == CgmFlag.WARMUP)
    assert np.all(np.isnan(trace.raw_mg_dl[:, early]))
    assert np.all(trace.flags[:, ~early] == CgmFlag.OK)


def test_a_sensor_already_past_warmup_reads_from_minute_zero() -> None:
    """A sensor inserted 3 hours before the run starts has a reading at minute 0."""
    spec = dataclasses.replace(ENLITE, dropouts=None)
    rnd = CgmRandomness.from_seed(SEED, 1)
    trace = simulate_cgm(_flat(1, 60), spec=spec, randomness=rnd, sensor_age_min=180)
    assert np.all(trace.flags == CgmFlag.OK)


def test_an_expired_sensor_is_replaced_and_warms_up_again() -> None:
    """A Sof-sensor expires after 3 days; the new one is in warm-up for 2 hours."""
    spec = dataclasses.replace(SOF_SENSOR, dropouts=None)
    trace = simulate_cgm(_flat(1, 5 * 1440), spec=spec, randomness=CgmRandomness.from_seed(SEED, 1))
    warm = trace.sample_minutes[trace.flags[0] == CgmFlag.WARMUP]
    first, second = warm[warm < 3 * 1440], warm[warm >= 3 * 1440]
    assert first.min() == 0 and first.max() == 115
    assert second.min() == 3 * 1440 and second.max() == 3 * 1440 + 115
    assert warm.size == 2 * 24


def test_dropouts_lose_the_expected_fraction_in_runs_of_the_expected_length() -> None:
    """Dropout fraction and mean run length match the start rate and mean duration."""
    drops = Dropouts(rate_per_day=4.0, mean_duration_min=30.0)
    spec = dataclasses.replace(NOISE_ONLY, dropouts=drops)
    n, minutes = 100, 20 * 1440
    trace = simulate_cgm(_flat(n, minutes), spec=spec, randomness=CgmRandomness.from_seed(SEED, n))
    down = trace.flags == CgmFlag.DROPOUT
    p_start, p_end = drops.start_probability(5), drops.end_probability(5)
    expected_fraction = p_start / (p_start + p_end)
    assert abs(down.mean() / expected_fraction - 1.0) < 0.05
    starts = (down[:, 1:] & ~down[:, :-1]).sum()
    mean_run_samples = down[:, 1:].sum() / starts
    assert abs(mean_run_samples * 5 / 30.0 - 1.0) < 0.05
    assert np.all(np.isnan(trace.raw_mg_dl[down]))


def test_calibration_error_changes_only_at_the_scheduled_calibrations() -> None:
    """With noise off, the reading of a flat Gsub steps only at 2 h, 8 h, then every 12 h."""
    spec = dataclasses.replace(ENLITE, noise=None, dropouts=None)
    trace = simulate_cgm(_flat(1, 3 * 1440), spec=spec, randomness=CgmRandomness.from_seed(5, 1))
    raw = trace.raw_mg_dl[0]
    ok = ~np.isnan(raw)
    minutes = trace.sample_minutes[ok]
    changes = minutes[1:][np.diff(raw[ok]) != 0.0]
    assert minutes[0] == 120
    assert list(changes) == [480, 1200, 1920, 2640, 3360, 4080]


def test_calibration_gain_and_offset_have_the_configured_spread() -> None:
    """Across many sensors the gain error has SD 0.05 and the offset SD 5 mg/dL."""
    spec = dataclasses.replace(NOISE_ONLY, noise=None, calibration=CalibrationError())
    n = 4000
    rnd = CgmRandomness.from_seed(SEED, n)
    low = simulate_cgm(_flat(n, 1, bg=100.0), spec=spec, randomness=rnd).raw_mg_dl[:, 0]
    high = simulate_cgm(_flat(n, 1, bg=200.0), spec=spec, randomness=rnd).raw_mg_dl[:, 0]
    gain = (high - low) / 100.0
    offset = low - 100.0 * gain
    assert abs(gain.mean() - 1.0) < 0.005 and abs(gain.std() - 0.05) < 0.003
    assert abs(offset.mean()) < 0.3 and abs(offset.std() - 5.0) < 0.3


# --- presets and specs -----------------------------------------------------------


def test_unknown_cgm_model_lists_the_presets() -> None:
    """An unknown sensor name is an InputError listing the valid names."""
    with pytest.raises(InputError) as err:
        cgm_preset("libre")
    assert err.value.allowed == "enlite, noise-only, sof-sensor"


def test_impossible_sensor_specs_are_refused() -> None:
    """A session shorter than its warm-up or an inverted range is a programming error."""
    with pytest.raises(ValueError):
        CgmSpec(name="x", warmup_min=120, session_length_min=60)
    with pytest.raises(ValueError):
        CgmSpec(name="x", low_mg_dl=400.0, high_mg_dl=40.0)
