"""Default powers and the sleeping Paradigm pump's receive duty cycle, with sources.

These are starting points for scenarios and for the protocol layers; the medium
itself does not read them.  docs/radio.md lists each with its source and the
calibration they give together with :data:`~pumplab.link.radio.phy.LEGACY_PROPAGATION`.
"""

from __future__ import annotations

from pumplab.link.radio.schedule import DutyCycle

__all__ = [
    "AMPLIFIED_ATTACKER_EIRP_DBM",
    "LEGACY_DEVICE_EIRP_DBM",
    "PARADIGM_SLEEP_LISTEN",
    "RILEYLINK_EIRP_DBM",
    "YAGI_GAIN_DBI",
]

# 47 CFR 15.249(a): 50 mV/m at 3 m in 902-928 MHz, i.e. EIRP = E²·r²/30
# = (0.05 V/m · 3 m)² / 30 Ω = 0.75 mW = -1.2 dBm.  An upper bound: the
# Paradigm devices (pump, CGM transmitter, meter link, remote) are unlikely to
# radiate more, and using the limit does not understate what a device's
# frames reach.
LEGACY_DEVICE_EIRP_DBM = -1.2

# subg_rfspy radio.c: PA_TABLE1 = 0xC0, "pa power setting 10 dBm" (CC1110
# conducted power; a quarter-wave whip adds about 0 dBi).
RILEYLINK_EIRP_DBM = 10.0

# An attacker with a power amplifier and a directional antenna (Barnaby Jack,
# RSA 2012, about 90 m; issue 12's table): >= +40 dBm EIRP.
AMPLIFIED_ATTACKER_EIRP_DBM = 40.0

# A typical 900 MHz Yagi's gain (estimate).  Its transmit gain is inside the
# attacker's EIRP; on receive it is the participant's rx_gain_dbi.
YAGI_GAIN_DBI = 12.0

# ASSUMPTION, not a published figure: a sleeping Paradigm pump turns its
# receiver on for 10 ms every 4 s.  Medtronic never published the duty cycle.
# What is known: every driver wakes a sleeping pump with a burst of short 0x5D
# frames lasting seconds (issue 12: 200-500 frames, about 4.5-12 s; ecc1/medtronic
# sends 100 with a 10 ms gap, about 3 s, then retries), which only makes sense
# if the pump samples the channel every few seconds; a period of 4 s makes the
# shortest burst in that range (4.5 s) certain to be caught.  A 10 ms window is
# longer than the gap between back-to-back repetitions (about 7-8 ms at 22.5-24
# ms per repetition), so a window that opens during a burst always senses it.
# Consequences (docs/radio.md): a burst of duration T >= 4 s is always caught;
# a shorter one with probability about (T + 10 ms + preamble) / 4 s; a single
# frame to a sleeping pump with probability about (10 + 9.8) / 4000 ≈ 0.5 %.
PARADIGM_SLEEP_LISTEN = DutyCycle(period_ms=4000, window_ms=10)
