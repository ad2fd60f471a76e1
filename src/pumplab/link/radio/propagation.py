"""Propagation and reception maths: path loss, body shadowing, noise, bit and packet errors.

Pure functions of numbers; no clock, no randomness, no devices.  The medium
(:mod:`pumplab.link.radio.medium`) draws the log-normal shadowing and the
packet-error coin from :mod:`pumplab.link.radio.crn` and feeds them through
these functions.

The model (docs/radio.md, "Propagation"):

* **Mean path loss** is the log-distance model with a free-space intercept at
  the reference distance ``d0`` (Rappaport, *Wireless Communications*, 2nd ed.,
  eq. 4.69 and table 4.6; ITU-R P.1238 uses the same form)::

      PL(d) = FSPL(d0, f) + 10 n log10(d / d0) + excess        for d >= d0
      PL(d) = FSPL(d, f) + excess                              for d <  d0

  Below ``d0`` the loss falls as free space (n = 2), so two devices a few
  centimetres apart are not modelled as closer than free space allows.
  ``excess`` is a calibration constant (see :class:`Propagation`).
* **Body shadowing**: each distinct body a link touches adds ``body_loss_db``
  (IEEE 802.15.6 channel model: 10-30 dB around the body).
* **Shadowing**: a zero-mean normal term in dB with deviation ``sigma``.
* **Bit errors**: non-coherent binary detection (OOK and FSK with envelope
  detection), ``BER = 0.5 exp(-γ/2)`` with γ = Eb/N0 (Proakis, *Digital
  Communications*, non-coherent orthogonal signalling).  The SNR measured in a
  bandwidth equal to the bit rate is Eb/N0, which is the convention used here.
* **Packet errors**: independent bit errors, ``PER = 1 - (1 - BER)^bits``.
* **Noise floor from sensitivity**: a receiver's sensitivity is the signal level
  at which it meets its PHY's reference error rate (the BER a datasheet or
  specification defines sensitivity by); the noise floor is the sensitivity
  minus the SNR that gives that BER.

What this module deliberately does not model: multipath delay spread,
frequency-selective fading, adjacent-channel interference, antenna patterns,
and any correlation of shadowing in space or time (the medium keys one draw per
transmission and receiver).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "SPEED_OF_LIGHT_M_PER_S",
    "Propagation",
    "bit_error_rate",
    "body_loss_db",
    "db_to_mw",
    "distance_m",
    "free_space_loss_db",
    "mean_path_loss_db",
    "mean_received_dbm",
    "mw_to_db",
    "noise_floor_dbm",
    "packet_error_rate",
    "snr_for_ber_db",
]

SPEED_OF_LIGHT_M_PER_S = 299_792_458.0


@dataclass(frozen=True, slots=True)
class Propagation:
    """The parameters of the path between two radios on one band.

    ``exponent`` and ``shadowing_sigma_db``: log-distance path-loss exponent and
    log-normal shadowing deviation.  ``body_loss_db``: added once per distinct
    body the link touches (a device worn on a body, or both ends on the same
    body).  ``excess_loss_db``: a constant added to every link of the band, a
    calibration term standing for what the log-distance model leaves out for
    these devices (small-antenna inefficiency, polarisation mismatch, clutter);
    it is fitted, not measured (docs/radio.md, "Calibration").
    ``reference_distance_m``: d0 of the model.  ``min_distance_m``: two radios
    closer than this are treated as this far apart (the far-field formulas do
    not hold at zero distance).
    """

    exponent: float = 2.4
    shadowing_sigma_db: float = 9.6
    body_loss_db: float = 20.0
    excess_loss_db: float = 30.0
    reference_distance_m: float = 1.0
    min_distance_m: float = 0.1

    def __post_init__(self) -> None:
        for name in ("exponent", "shadowing_sigma_db", "body_loss_db", "excess_loss_db",
                     "reference_distance_m", "min_distance_m"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"Propagation.{name} must be a finite number, got {value!r}")
        if self.exponent <= 0:
            raise ValueError(f"Propagation.exponent must be > 0, got {self.exponent}")
        if self.shadowing_sigma_db < 0 or self.body_loss_db < 0:
            raise ValueError("Propagation.shadowing_sigma_db and body_loss_db must be >= 0")
        if self.reference_distance_m <= 0 or self.min_distance_m <= 0:
            raise ValueError("Propagation distances must be > 0 m")


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Euclidean distance between two (x, y) positions in metres."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


def free_space_loss_db(distance: float, frequency_hz: float) -> float:
    """Friis free-space path loss ``20 log10(4 π d / λ)`` in dB."""
    if distance <= 0 or frequency_hz <= 0:
        raise ValueError("distance and frequency must be > 0")
    wavelength_m = SPEED_OF_LIGHT_M_PER_S / frequency_hz
    return 20.0 * math.log10(4.0 * math.pi * distance / wavelength_m)


def mean_path_loss_db(distance: float, frequency_hz: float, model: Propagation) -> float:
    """Mean (median) path loss in dB at ``distance`` metres, excess loss included.

    Body shadowing and the shadowing draw are added by the caller.
    """
    d = max(distance, model.min_distance_m)
    d0 = model.reference_distance_m
    if d < d0:
        loss = free_space_loss_db(d, frequency_hz)
    else:
        loss = free_space_loss_db(d0, frequency_hz) + 10.0 * model.exponent * math.log10(d / d0)
    return loss + model.excess_loss_db


def body_loss_db(body_a: str | None, body_b: str | None, model: Propagation) -> float:
    """Body shadowing of a link: ``body_loss_db`` per distinct body touched.

    Two devices on the same body count that body once; a device on one body
    talking to a device on another counts both; off-body devices (``None``)
    count none.
    """
    bodies = {body for body in (body_a, body_b) if body is not None}
    return model.body_loss_db * len(bodies)


def mean_received_dbm(
    power_dbm: float,
    distance: float,
    frequency_hz: float,
    model: Propagation,
    tx_body: str | None,
    rx_body: str | None,
    rx_gain_dbi: float,
) -> float:
    """Median received power: EIRP − mean path loss − body shadowing + receive gain."""
    return (power_dbm - mean_path_loss_db(distance, frequency_hz, model)
            - body_loss_db(tx_body, rx_body, model) + rx_gain_dbi)


def db_to_mw(dbm: float) -> float:
    """dBm → mW."""
    return math.pow(10.0, dbm / 10.0)


def mw_to_db(mw: float) -> float:
    """mW → dBm (−inf for 0)."""
    return 10.0 * math.log10(mw) if mw > 0 else -math.inf


def bit_error_rate(snr_db: float) -> float:
    """BER of non-coherent binary detection at Eb/N0 = ``snr_db``: ``0.5 exp(-γ/2)``."""
    if snr_db > 40.0:  # exp(-5000) underflows to 0 anyway; skip the work.
        return 0.0
    gamma = math.pow(10.0, snr_db / 10.0)
    return 0.5 * math.exp(-gamma / 2.0)


def snr_for_ber_db(ber: float) -> float:
    """The Eb/N0 in dB at which :func:`bit_error_rate` equals ``ber`` (0 < ber < 0.5)."""
    if not 0.0 < ber < 0.5:
        raise ValueError(f"a reference BER must be within (0, 0.5), got {ber}")
    return 10.0 * math.log10(-2.0 * math.log(2.0 * ber))


def packet_error_rate(snr_db: float, bits: int) -> float:
    """Probability that at least one of ``bits`` independent bits is wrong."""
    if bits <= 0:
        raise ValueError(f"a packet has at least one bit, got {bits}")
    ber = bit_error_rate(snr_db)
    if ber == 0.0:
        return 0.0
    # 1 - (1 - ber)^bits, accurate for tiny ber as well.
    return -math.expm1(bits * math.log1p(-ber))


def noise_floor_dbm(sensitivity_dbm: float, reference_ber: float) -> float:
    """Noise power (dBm) of a receiver whose sensitivity is defined at ``reference_ber``."""
    return sensitivity_dbm - snr_for_ber_db(reference_ber)
