"""The simulated air: an event-driven, half-duplex, lossy radio medium.

A :class:`Medium` holds participants (devices, attackers, guardians), each
with a :class:`MediumRadio` (the :class:`~pumplab.link.radio.interface.Radio`
interface).  A transmission is **one event** at the end of its airtime, however
many bits it carries; a repeated burst (the legacy wake-up: hundreds of short
frames over seconds) is **one transmission** with a repeat count and an
interval, and which repetition a receiver catches is computed from its listen
schedule in closed form, not by an event per repetition.

At the end of a frame, for every receiver tuned to its channel, the medium
decides (docs/radio.md):

1. was the receiver listening during the preamble (its
   :class:`~pumplab.link.radio.schedule.ListenSchedule`)?
2. was it transmitting itself during the frame (half-duplex)?
3. the signal: EIRP − mean path loss − body shadowing + receive gain +
   log-normal shadowing;
4. collisions: frames overlapping on the channel; the frame survives only if it
   is at least the PHY's capture ratio stronger than their sum;
5. noise: the receiver's noise floor (from its sensitivity) plus any jamming
   overlapping the frame;
6. a packet-error coin at the resulting SNR.

Every random draw is keyed by (transmitter, receiver, transmission time,
purpose) from the run seed (:mod:`pumplab.link.radio.crn`), so adding a
participant never changes the draws of the others' frames.

Bursts: a receiver gets the **first** repetition it catches and, if it is still
listening when the burst ends, the **last** one too (the repetitions between
carry the same bytes and are not delivered again; a pump that answers each
wake-up it hears thus answers after the last, when the sender listens).  At
most two deliveries per receiver and burst.

What the medium does not do: decode anything (the capture writer gets decoders
injected), decide when devices sleep (the protocol layer sets listen
schedules), listen before talk (a radio knows only its own
:meth:`MediumRadio.busy_until_ms`), model adjacent-channel interference, or
move participants by itself.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from pumplab.clock import Clock, EventHandle
from pumplab.link.radio.crn import CommonRandom, Draw, standard_normal
from pumplab.link.radio.phy import LEGACY_CHANNEL, Channel, default_channels
from pumplab.link.radio.propagation import (
    db_to_mw,
    distance_m,
    mean_received_dbm,
    mw_to_db,
    noise_floor_dbm,
    packet_error_rate,
)
from pumplab.link.radio.records import (
    FrameRecord,
    FrameStart,
    JamRecord,
    Participant,
    Provenance,
    Reception,
    ReceptionHandler,
    RxOutcome,
    RxStatus,
    TransmissionTruth,
    TransmitReport,
)
from pumplab.link.radio.schedule import ALWAYS, FOREVER_US, NEVER, ListenSchedule

__all__ = ["JamTrigger", "Medium", "MediumRadio", "MediumStats", "ReactiveJammer"]

FrameObserver = Callable[[FrameRecord], None]
JamObserver = Callable[[JamRecord], None]
JamTrigger = Callable[[FrameStart], bool]

_MEDIUM_SERIALS = itertools.count(1)
# A packet-error rate this close to 1 means no repetition will ever get through:
# skip the search for the one that does.
_HOPELESS_PER = 1.0 - 1e-12


def _check_schedule(schedule: object) -> None:
    if not isinstance(schedule, ListenSchedule):
        raise TypeError(f"a listen schedule has next_window_us(t_us); got {schedule!r}")


def _ceil_ms(t_us: int) -> int:
    return -(-t_us // 1000)


def _geometric(u: float, p_fail: float) -> int:
    """Failures before the first success, each attempt failing with ``p_fail``."""
    if p_fail <= 0.0:
        return 0
    return int(min(math.log(u) / math.log(p_fail), float(1 << 40)))


@dataclass(slots=True)
class MediumStats:
    """Counters of what the medium did (per receiver for the outcomes)."""

    transmissions: int = 0
    bursts: int = 0
    repetitions: int = 0
    deliveries: int = 0
    not_listening: int = 0
    transmitting: int = 0
    collisions: int = 0
    jammed: int = 0
    bit_errors: int = 0
    jams: int = 0

    def count(self, status: RxStatus) -> None:
        if status is RxStatus.NOT_LISTENING:
            self.not_listening += 1
        elif status is RxStatus.TRANSMITTING:
            self.transmitting += 1
        elif status is RxStatus.COLLISION:
            self.collisions += 1
        elif status is RxStatus.JAMMED:
            self.jammed += 1
        elif status is RxStatus.BIT_ERRORS:
            self.bit_errors += 1


class _Tx:
    """A transmission in flight (internal, mutable: a burst can be stopped early)."""

    __slots__ = (
        "air",
        "bits",
        "body",
        "chan",
        "count",
        "done",
        "dur_us",
        "end_handle",
        "interval_ms",
        "key",
        "name",
        "per_u",
        "period_us",
        "pos",
        "power_dbm",
        "pre_us",
        "radio",
        "signal",
        "single_rx",
        "start_us",
        "states",
        "token",
        "truth",
    )

    def __init__(self, radio: MediumRadio, chan: Channel, air: bytes, start_us: int,
                 dur_us: int, period_us: int, count: int, interval_ms: int,
                 power_dbm: float, truth: TransmissionTruth, token: Provenance) -> None:
        self.radio = radio
        self.name = radio._name
        self.key = radio._key
        self.chan = chan
        self.air = air
        self.start_us = start_us
        self.dur_us = dur_us
        self.period_us = period_us
        self.count = count
        self.interval_ms = interval_ms
        self.power_dbm = power_dbm
        self.pos = radio.participant.position_m
        self.body = radio.participant.worn_on
        self.truth = truth
        self.token = token
        self.pre_us = chan.phy.preamble_us
        self.bits = chan.phy.payload_bits(len(air))
        self.signal: dict[str, float] = {}
        # Packet-error uniforms drawn with the shadowing at the start (same hash).
        self.per_u: dict[str, float] = {}
        self.single_rx: list[tuple[MediumRadio, bool]] = []
        self.states: dict[str, _BurstRx] = {}
        self.end_handle: EventHandle | None = None
        self.done = False

    @property
    def end_us(self) -> int:
        return self.start_us + (self.count - 1) * self.period_us + self.dur_us

    def rep_start(self, k: int) -> int:
        return self.start_us + k * self.period_us


class _Jam:
    """Jamming noise on a channel: continuous, or bound to the repetitions of a frame."""

    __slots__ = (
        "body",
        "bound",
        "chan",
        "dur_us",
        "fixed_count",
        "key",
        "name",
        "per_u",
        "period_us",
        "pos",
        "power_dbm",
        "radio",
        "signal",
        "start_us",
    )

    def __init__(self, radio: MediumRadio, chan: Channel, start_us: int, dur_us: int,
                 period_us: int, power_dbm: float, bound: _Tx | None) -> None:
        self.radio = radio
        self.name = radio._name
        self.key = radio._key
        self.chan = chan
        self.start_us = start_us
        self.dur_us = dur_us
        self.period_us = period_us
        self.fixed_count = 1
        self.bound = bound
        self.power_dbm = power_dbm
        self.pos = radio.participant.position_m
        self.body = radio.participant.worn_on
        self.signal: dict[str, float] = {}
        self.per_u: dict[str, float] = {}  # unused: noise has no packet to lose

    @property
    def count(self) -> int:
        return self.bound.count if self.bound is not None else self.fixed_count

    @property
    def end_us(self) -> int:
        return self.start_us + (self.count - 1) * self.period_us + self.dur_us


_Occupancy = _Tx | _Jam


def _overlaps(o: _Occupancy, a: int, b: int) -> bool:
    """Whether any repetition of ``o`` is on the air during ``[a, b)``."""
    start, dur = o.start_us, o.dur_us
    count = o.count
    if count == 1:
        return start < b and start + dur > a
    period = o.period_us
    k_lo = max(0, (a - dur - start) // period + 1)
    k_hi = min(count - 1, (b - 1 - start) // period)
    return k_lo <= k_hi


class _BurstRx:
    """One receiver's progress through one burst."""

    __slots__ = ("deliveries", "handle", "pending_k", "radio", "status")

    def __init__(self, radio: MediumRadio) -> None:
        self.radio = radio
        self.handle: EventHandle | None = None
        self.pending_k = -1
        self.deliveries = 0
        self.status = RxStatus.NOT_LISTENING
        # status is DELIVERED once the first repetition got through.


class _ChannelState:
    __slots__ = ("bursts", "channel", "jams", "listeners", "reactive", "txs")

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.txs: list[_Tx] = []
        self.jams: list[_Jam] = []
        self.bursts: list[_Tx] = []
        self.listeners: dict[str, MediumRadio] = {}
        self.reactive: list[ReactiveJammer] = []


class ReactiveJammer:
    """A registration to jam frames a trigger picks, from ``reaction_us`` after their start.

    Made by :meth:`MediumRadio.jam_reactively`; :meth:`cancel` ends it.
    """

    __slots__ = ("active", "channel", "power_dbm", "radio", "reaction_us", "tail_us", "trigger")

    def __init__(self, radio: MediumRadio, channel: str, trigger: JamTrigger, reaction_us: int,
                 tail_us: int, power_dbm: float | None) -> None:
        self.radio = radio
        self.channel = channel
        self.trigger = trigger
        self.reaction_us = reaction_us
        self.tail_us = tail_us
        self.power_dbm = power_dbm
        self.active = True

    def cancel(self) -> None:
        """Stop reacting to new frames (jams already started run their course)."""
        if self.active:
            self.active = False
            self.radio._medium._channels[self.channel].reactive.remove(self)


class MediumRadio:
    """A participant's radio on a :class:`Medium`; implements the ``Radio`` interface."""

    __slots__ = (
        "_channels",
        "_current",
        "_handler",
        "_key",
        "_medium",
        "_name",
        "_noise_mw",
        "_own",
        "_participant",
        "_removed",
        "_schedule",
        "_seq",
    )

    def __init__(self, medium: Medium, participant: Participant) -> None:
        self._medium = medium
        self._participant = participant
        self._name = participant.name
        self._key = medium._crn.key(participant.name)
        self._channels: tuple[str, ...] = ()
        self._schedule: ListenSchedule = ALWAYS
        self._handler: ReceptionHandler | None = None
        self._own: list[_Occupancy] = []
        self._noise_mw: dict[str, float] = {}
        self._seq = 0
        self._current: _Tx | None = None
        self._removed = False

    # -- the Radio interface ------------------------------------------------

    @property
    def name(self) -> str:
        return self._participant.name

    @property
    def participant(self) -> Participant:
        return self._participant

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this radio listens on."""
        return self._channels

    @property
    def schedule(self) -> ListenSchedule:
        return self._schedule

    def tune(self, channel: str, *more: str) -> None:
        """Listen on ``channel`` (and ``more``: a wideband receiver may listen on several)."""
        self._check_live()
        self._medium._retune(self, (channel, *more))

    def listen(self, schedule: ListenSchedule = ALWAYS) -> None:
        self._check_live()
        _check_schedule(schedule)
        self._schedule = schedule
        self._medium._schedule_changed(self)

    def sleep(self) -> None:
        self.listen(NEVER)

    def set_handler(self, handler: ReceptionHandler | None) -> None:
        self._handler = handler

    def transmit(
        self,
        air: bytes,
        *,
        channel: str | None = None,
        repeat: int = 1,
        interval_ms: int = 0,
        power_dbm: float | None = None,
    ) -> TransmitReport:
        self._check_live()
        return self._medium._transmit(self, air, channel, repeat, interval_ms, power_dbm)

    def stop(self) -> None:
        self._medium._stop(self)

    def airtime_us(self, air_bytes: int, channel: str | None = None) -> int:
        name = self._default_channel(channel)
        return self._medium.channel(name).phy.airtime_us(air_bytes)

    # -- simulation extras (attackers, guardians) -----------------------------

    def busy_until_ms(self) -> int:
        """The first millisecond at which this radio may transmit again."""
        now_us = self._medium._clock.now_ms * 1000
        end = max((o.end_us for o in self._own), default=0)
        return _ceil_ms(max(end, now_us))

    def jam(self, duration_ms: int, *, channel: str | None = None,
            power_dbm: float | None = None) -> JamRecord:
        """Raise the noise on ``channel`` from now for ``duration_ms`` (continuous jamming)."""
        self._check_live()
        return self._medium._jam(self, duration_ms, channel, power_dbm)

    def jam_reactively(self, trigger: JamTrigger, *, reaction_us: int, tail_us: int = 0,
                       channel: str | None = None,
                       power_dbm: float | None = None) -> ReactiveJammer:
        """Jam every frame on ``channel`` for which ``trigger`` says yes.

        The radio must listen on the channel and hear the frame's start (not be
        transmitting, signal above its sensitivity).  ``trigger`` gets the
        :class:`~pumplab.link.radio.records.FrameStart`: the bytes that arrived
        within ``reaction_us`` of the frame's start.  If it returns True the
        radio jams each repetition from ``reaction_us`` after its start to
        ``tail_us`` after its end.  (The trigger runs when the frame starts;
        it sees only the prefix, as a real reactive jammer would.)
        """
        self._check_live()
        name = self._default_channel(channel)
        if not isinstance(reaction_us, int) or reaction_us < 0:
            raise ValueError(f"reaction_us must be an integer >= 0, got {reaction_us!r}")
        if not isinstance(tail_us, int) or tail_us < 0:
            raise ValueError(f"tail_us must be an integer >= 0, got {tail_us!r}")
        if power_dbm is not None and not math.isfinite(power_dbm):
            raise ValueError(f"power_dbm must be finite, got {power_dbm!r}")
        jammer = ReactiveJammer(self, name, trigger, reaction_us, tail_us, power_dbm)
        self._medium._channels[name].reactive.append(jammer)
        return jammer

    # -- internals --------------------------------------------------------------

    def _check_live(self) -> None:
        if self._removed:
            raise ValueError(f"radio {self.name!r} was removed from the medium")

    def _default_channel(self, channel: str | None) -> str:
        if channel is not None:
            self._medium.channel(channel)  # validates
            return channel
        if len(self._channels) != 1:
            raise ValueError(
                f"radio {self.name!r} listens on {len(self._channels)} channels; say which")
        return self._channels[0]


class Medium:
    """The air shared by every radio of a run."""

    def __init__(
        self, clock: Clock, *, seed: int, channels: Iterable[Channel] | None = None
    ) -> None:
        self._clock = clock
        self._crn = CommonRandom(seed)
        self._serial = next(_MEDIUM_SERIALS)
        self._channels: dict[str, _ChannelState] = {}
        for channel in default_channels() if channels is None else channels:
            if channel.name in self._channels:
                raise ValueError(f"channel {channel.name!r} given twice")
            self._channels[channel.name] = _ChannelState(channel)
        if not self._channels:
            raise ValueError("a medium needs at least one channel")
        self._radios: dict[str, MediumRadio] = {}
        self._frame_observers: list[FrameObserver] = []
        self._jam_observers: list[JamObserver] = []
        self._max_air_us = 0
        # Median path gain by geometry (positions, bodies, channel): the log10s are
        # the same for every frame between two radios that do not move.
        self._path_cache: dict[tuple[object, ...], float] = {}
        self.stats = MediumStats()

    # -- set-up -------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return self._crn.seed

    def channel(self, name: str) -> Channel:
        """The channel called ``name``."""
        state = self._channels.get(name)
        if state is None:
            raise ValueError(f"unknown channel {name!r}; known: {', '.join(self._channels)}")
        return state.channel

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self._channels)

    def add(self, participant: Participant, *, channels: Iterable[str] = (LEGACY_CHANNEL.name,),
            schedule: ListenSchedule = ALWAYS,
            handler: ReceptionHandler | None = None) -> MediumRadio:
        """Put ``participant`` on the air, listening on ``channels`` with ``schedule``."""
        if participant.name in self._radios:
            raise ValueError(f"a participant called {participant.name!r} is already on the air")
        _check_schedule(schedule)
        radio = MediumRadio(self, participant)
        self._radios[participant.name] = radio
        radio._handler = handler
        radio._schedule = schedule
        names = tuple(channels)
        if names:
            self._retune(radio, names)
        return radio

    def radio(self, name: str) -> MediumRadio:
        radio = self._radios.get(name)
        if radio is None:
            raise ValueError(f"no participant called {name!r}")
        return radio

    @property
    def participants(self) -> tuple[Participant, ...]:
        return tuple(r.participant for r in self._radios.values())

    def remove(self, name: str) -> None:
        """Take a participant off the air (frames already on the air finish)."""
        radio = self.radio(name)
        radio._removed = True
        for state in self._channels.values():
            state.listeners.pop(name, None)
            for jammer in [j for j in state.reactive if j.radio is radio]:
                jammer.cancel()
        self._schedule_changed(radio)
        del self._radios[name]

    def move(self, name: str, position_m: tuple[float, float]) -> None:
        """Move a participant (frames already on the air keep their geometry)."""
        radio = self.radio(name)
        radio._participant = replace(radio._participant, position_m=position_m)

    def add_frame_observer(self, observer: FrameObserver) -> None:
        """Call ``observer`` with a :class:`FrameRecord` when each transmission is over."""
        self._frame_observers.append(observer)

    def add_jam_observer(self, observer: JamObserver) -> None:
        """Call ``observer`` with a :class:`JamRecord` when jamming starts."""
        self._jam_observers.append(observer)

    def resolve(self, token: Provenance) -> TransmissionTruth:
        """The ground truth behind a reception's provenance token (for the lab only)."""
        if not isinstance(token, Provenance) or token._medium_serial != self._serial:
            raise ValueError("this provenance token does not come from this medium")
        return token._truth

    def airtime_us(self, channel: str, air_bytes: int) -> int:
        return self.channel(channel).phy.airtime_us(air_bytes)

    # -- physics ------------------------------------------------------------------

    def _signal_dbm(self, src: _Occupancy, key_us: int, rx: MediumRadio) -> float:
        """Received power of ``src`` at ``rx``: mean path loss, body, gain, shadowing."""
        cached = src.signal.get(rx._name)
        if cached is not None:
            return cached
        p = rx._participant
        chan = src.chan
        model = chan.propagation
        geometry = (src.pos, p.position_m, src.body, p.worn_on, chan.name)
        path = self._path_cache.get(geometry)
        if path is None:
            if len(self._path_cache) > 10_000:  # participants that keep moving
                self._path_cache.clear()
            path = self._path_cache[geometry] = mean_received_dbm(
                0.0, distance_m(src.pos, p.position_m), chan.frequency_hz, model, src.body,
                p.worn_on, 0.0)
        level = src.power_dbm + path + p.rx_gain_dbi
        if model.shadowing_sigma_db:
            u_shadowing, u_packet = self._crn.pair_keyed(src.key, rx._key, key_us)
            level += model.shadowing_sigma_db * standard_normal(u_shadowing)
            src.per_u[rx._name] = u_packet
        src.signal[rx._name] = level
        return level

    def _tx_signal(self, tx: _Tx, rx: MediumRadio) -> float:
        return self._signal_dbm(tx, tx.start_us, rx)

    def _noise(self, rx: MediumRadio, chan: Channel) -> float:
        noise = rx._noise_mw.get(chan.name)
        if noise is None:
            phy = chan.phy
            sens = rx._participant.sensitivity_dbm
            noise = db_to_mw(noise_floor_dbm(phy.sensitivity_dbm if sens is None else sens,
                                             phy.sensitivity_ber))
            rx._noise_mw[chan.name] = noise
        return noise

    def _clean_per(self, tx: _Tx, rx: MediumRadio) -> float:
        """Packet-error rate of ``tx`` at ``rx`` with noise alone."""
        snr = self._tx_signal(tx, rx) - mw_to_db(self._noise(rx, tx.chan))
        return packet_error_rate(snr, tx.bits)

    def _evaluate(self, tx: _Tx, k: int, rx: MediumRadio, p_clean: float | None) -> RxStatus:
        """Fate of repetition ``k`` of ``tx`` at a receiver that was listening for it.

        ``p_clean`` is given when this repetition was picked as the first success
        of a burst under noise alone; the coin is then conditioned on that.
        """
        a = tx.start_us + k * tx.period_us
        b = a + tx.dur_us
        for own in rx._own:
            if _overlaps(own, a, b):
                return RxStatus.TRANSMITTING
        chan = tx.chan
        state = self._channels[chan.name]
        signal = self._tx_signal(tx, rx)
        interference = 0.0
        for other in state.txs:
            if other is not tx and _overlaps(other, a, b):
                interference += db_to_mw(self._tx_signal(other, rx))
        if interference and signal - mw_to_db(interference) < chan.phy.capture_ratio_db:
            return RxStatus.COLLISION
        noise = self._noise(rx, chan)
        jamming = 0.0
        for jam in state.jams:
            if jam.radio is not rx and _overlaps(jam, a, b):
                jamming += db_to_mw(self._signal_dbm(jam, jam.start_us, rx))
        per = packet_error_rate(signal - mw_to_db(noise + jamming), tx.bits)
        u = tx.per_u.get(rx._name) if k == 0 else None
        if u is None:
            u = self._crn.uniform_keyed(tx.key, rx._key, a, Draw.PACKET_ERROR)
        # Conditioned on surviving the noise alone (p_clean), survive the jamming too.
        threshold = 1.0 - per if p_clean is None else (1.0 - per) / (1.0 - p_clean)
        if u < threshold:
            return RxStatus.DELIVERED
        return RxStatus.JAMMED if jamming > noise else RxStatus.BIT_ERRORS

    # -- transmitting ----------------------------------------------------------------

    def _transmit(self, radio: MediumRadio, air: bytes, channel: str | None, repeat: int,
                  interval_ms: int, power_dbm: float | None) -> TransmitReport:
        if not isinstance(air, bytes | bytearray) or not air:
            raise ValueError("air must be non-empty bytes")
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ValueError(f"repeat must be an integer >= 1, got {repeat!r}")
        if not isinstance(interval_ms, int) or isinstance(interval_ms, bool) or interval_ms < 0:
            raise ValueError(f"interval_ms must be an integer >= 0, got {interval_ms!r}")
        if power_dbm is not None and (not isinstance(power_dbm, int | float)
                                      or not math.isfinite(power_dbm)):
            raise ValueError(f"power_dbm must be a finite number, got {power_dbm!r}")
        name = radio._default_channel(channel)
        state = self._channels[name]
        chan = state.channel
        now_ms = self._clock.now_ms
        now_us = now_ms * 1000
        self._check_free(radio, now_us)
        dur_us = chan.phy.airtime_us(len(air))
        if repeat > 1:
            period_us = interval_ms * 1000
            if period_us < dur_us:
                raise ValueError(
                    f"interval_ms={interval_ms} is shorter than one frame's airtime "
                    f"({dur_us} µs): repetitions would overlap")
        else:
            period_us, interval_ms = dur_us, 0
        radio._seq += 1
        truth = TransmissionTruth(f"{radio._name}#{radio._seq}", radio._name, name, now_ms)
        power = radio._participant.eirp_dbm if power_dbm is None else float(power_dbm)
        tx = _Tx(radio, chan, bytes(air), now_us, dur_us, period_us, repeat, interval_ms, power,
                 truth, Provenance(self._serial, truth))
        self._max_air_us = max(self._max_air_us, dur_us)
        self._prune(state, radio, now_us)
        state.txs.append(tx)
        radio._own.append(tx)
        radio._current = tx
        stats = self.stats
        stats.transmissions += 1
        stats.repetitions += repeat
        if repeat == 1:
            pre_end = now_us + tx.pre_us
            for rx in state.listeners.values():
                if rx is not radio:
                    window = rx._schedule.next_window_us(now_us)
                    tx.single_rx.append((rx, window is not None and window[0] < pre_end))
            self._clock.schedule_at(_ceil_ms(tx.end_us), lambda: self._finish_single(tx),
                                    label=f"radio frame {truth.tx_id}")
        else:
            stats.bursts += 1
            state.bursts.append(tx)
            for rx in state.listeners.values():
                if rx is not radio:
                    burst_rx = tx.states[rx._name] = _BurstRx(rx)
                    self._plan(tx, burst_rx, 0)
            tx.end_handle = self._clock.schedule_at(
                _ceil_ms(tx.end_us), lambda: self._finish_burst(tx),
                label=f"radio burst end {truth.tx_id}")
        for jammer in list(state.reactive):
            if jammer.radio is not radio and jammer.active:
                self._react(jammer, tx)
        return TransmitReport(now_ms, _ceil_ms(tx.end_us), dur_us, repeat, interval_ms)

    def _check_free(self, radio: MediumRadio, now_us: int) -> None:
        for own in radio._own:
            if own.end_us > now_us:
                raise ValueError(
                    f"radio {radio._name!r} is still on the air until {own.end_us} µs "
                    f"(now {now_us} µs): stop() it or wait for busy_until_ms()")

    def _prune(self, state: _ChannelState, radio: MediumRadio, now_us: int) -> None:
        # Keep everything that could still overlap a frame evaluated from now on:
        # the longest frame on the air, plus up to 1 ms until its end event runs.
        horizon = now_us - self._max_air_us - 1000
        if state.txs and state.txs[0].end_us < horizon:
            state.txs = [o for o in state.txs if o.end_us >= horizon]
        if state.jams and min(j.end_us for j in state.jams) < horizon:
            state.jams = [j for j in state.jams if j.end_us >= horizon]
        if radio._own and min(o.end_us for o in radio._own) < horizon:
            radio._own = [o for o in radio._own if o.end_us >= horizon]

    def _deliver(self, tx: _Tx, k: int, rx: MediumRadio) -> None:
        self.stats.deliveries += 1
        handler = rx._handler
        if handler is not None:
            start = tx.start_us + k * tx.period_us
            handler(Reception(tx.chan.name, tx.air, round(self._tx_signal(tx, rx), 1),
                              start, start + tx.dur_us, tx.token))

    def _finish_single(self, tx: _Tx) -> None:
        observe = bool(self._frame_observers)
        outcomes: dict[str, RxOutcome] = {}
        stats = self.stats
        name = tx.chan.name
        for rx, listening in tx.single_rx:
            if listening and not rx._removed and name in rx._channels:
                status = self._evaluate(tx, 0, rx, None)
                if status is RxStatus.DELIVERED:
                    self._deliver(tx, 0, rx)
            else:
                status = RxStatus.NOT_LISTENING
            stats.count(status)
            if observe:
                delivered = status is RxStatus.DELIVERED
                outcomes[rx._name] = RxOutcome(round(self._tx_signal(tx, rx), 1), delivered,
                                              status, int(delivered))
        tx.done = True
        if observe:
            self._emit(tx, outcomes)

    # -- bursts ------------------------------------------------------------------------

    def _plan(self, tx: _Tx, burst_rx: _BurstRx, from_k: int) -> None:
        """(Re)schedule the next repetition ``burst_rx`` will catch, from ``from_k`` on."""
        if burst_rx.handle is not None:
            self._clock.cancel(burst_rx.handle)
            burst_rx.handle = None
        k = self._next_catch(tx, burst_rx.radio, from_k)
        if k is None:
            return
        burst_rx.pending_k = k
        burst_rx.handle = self._clock.schedule_at(
            _ceil_ms(tx.rep_start(k) + tx.dur_us), lambda: self._attempt(tx, burst_rx, k),
            label=f"radio burst catch {tx.truth.tx_id} by {burst_rx.radio._name}")

    def _next_catch(self, tx: _Tx, rx: MediumRadio, from_k: int) -> int | None:
        """The repetition (>= ``from_k``) of ``tx`` that ``rx`` will first get, noise alone.

        Walks the receiver's listening windows (a handful for a duty cycle, one
        for an always-on receiver), not the repetitions: in each window the
        repetitions it can catch form a contiguous range, and the first one to
        survive the noise is a geometric draw keyed by the first of the range.
        """
        if rx._removed or tx.chan.name not in rx._channels:
            return None
        last = tx.count - 1
        now_us = self._clock.now_ms * 1000
        s0, period, pre = tx.start_us, tx.period_us, tx.pre_us
        # A preamble already over cannot be caught any more.
        k_min = max(from_k, (now_us - pre - s0) // period + 1, 0)
        if k_min > last:
            return None
        p_clean = self._clean_per(tx, rx)
        if p_clean >= _HOPELESS_PER:
            return None
        schedule = rx._schedule
        t = now_us
        last_end = tx.rep_start(last) + tx.dur_us
        for _ in range(tx.count + 2):
            window = schedule.next_window_us(t)
            if window is None:
                return None
            ws, we = window
            if ws >= last_end:
                return None
            k_lo, k_hi = self._window_catches(tx, ws, we)
            k_lo = max(k_lo, k_min)
            if k_lo <= k_hi:
                u = self._crn.uniform_keyed(tx.key, rx._key, tx.rep_start(k_lo), Draw.BURST_CATCH)
                k = k_lo + _geometric(u, p_clean)
                if k <= k_hi:
                    return k
                k_min = k_hi + 1
                if k_min > last:
                    return None
            if we >= FOREVER_US:
                return None
            t = max(we, t + 1)
        return None

    @staticmethod
    def _window_catches(tx: _Tx, ws: int, we: int) -> tuple[int, int]:
        """Repetitions a receiver listening during ``[ws, we)`` can synchronise to.

        Those whose preamble overlaps the window; and, if the window opens while
        a repetition's payload is on the air, the next repetition (the receiver
        sensed the carrier and stays on).
        """
        s0, period, pre, dur = tx.start_us, tx.period_us, tx.pre_us, tx.dur_us
        last = tx.count - 1
        k_lo = max(0, (ws - pre - s0) // period + 1)
        k_hi = min(last, (we - 1 - s0) // period)
        if ws >= s0:
            k = (ws - s0) // period
            start = s0 + k * period
            if k < last and start + pre <= ws < start + dur:
                k_lo = min(k_lo, k + 1)
                k_hi = max(k_hi, k + 1)
        return k_lo, k_hi

    def _attempt(self, tx: _Tx, burst_rx: _BurstRx, k: int) -> None:
        burst_rx.handle = None
        if tx.done or k >= tx.count:
            return
        rx = burst_rx.radio
        if rx._removed or tx.chan.name not in rx._channels:
            return
        status = self._evaluate(tx, k, rx, self._clean_per(tx, rx))
        if status is RxStatus.DELIVERED:
            burst_rx.status = status
            burst_rx.deliveries += 1
            self._deliver(tx, k, rx)
        else:
            burst_rx.status = status
            self._plan(tx, burst_rx, self._retry_from(tx, k, rx, status))

    def _retry_from(self, tx: _Tx, k: int, rx: MediumRadio, status: RxStatus) -> int:
        """The repetition to look for next after repetition ``k`` failed with ``status``.

        Normally ``k + 1``.  When the receiver is on the air itself, or a jam
        drowns the frame completely, the repetitions until that ends would fail
        the same way: skip them instead of trying each (a jammed 500-frame
        wake-up stays a handful of events).  A reactive jam on this very burst
        covers every repetition: nothing more can be caught.
        """
        a = tx.rep_start(k)
        b = a + tx.dur_us
        if status is RxStatus.TRANSMITTING:
            until = max(o.end_us for o in rx._own if _overlaps(o, a, b))
        elif status is RxStatus.JAMMED:
            jams = [j for j in self._channels[tx.chan.name].jams
                    if j.radio is not rx and _overlaps(j, a, b)]
            noise = self._noise(rx, tx.chan)
            signal = self._tx_signal(tx, rx)
            drowning: list[int] = []
            for jam in jams:
                jam_mw = db_to_mw(self._signal_dbm(jam, jam.start_us, rx))
                if packet_error_rate(signal - mw_to_db(noise + jam_mw), tx.bits) < _HOPELESS_PER:
                    continue
                if jam.bound is tx:
                    return tx.count
                if jam.bound is None:
                    drowning.append(jam.end_us)
            if not drowning:
                return k + 1
            until = max(drowning)
        else:
            return k + 1
        # First repetition starting at or after `until`.
        return max(k + 1, -(-(until - tx.start_us) // tx.period_us))

    def _finish_burst(self, tx: _Tx) -> None:
        tx.end_handle = None
        # A catch due in this same millisecond may not have run yet: run it first.
        for burst_rx in tx.states.values():
            if burst_rx.handle is not None:
                self._clock.cancel(burst_rx.handle)
                self._attempt(tx, burst_rx, burst_rx.pending_k)
        last = tx.count - 1
        s_last = tx.rep_start(last)
        name = tx.chan.name
        for burst_rx in tx.states.values():
            rx = burst_rx.radio
            if (burst_rx.status is RxStatus.DELIVERED and burst_rx.pending_k < last
                    and not rx._removed and name in rx._channels):
                window = rx._schedule.next_window_us(s_last)
                if (window is not None and window[0] < s_last + tx.pre_us
                        and self._evaluate(tx, last, rx, None) is RxStatus.DELIVERED):
                    burst_rx.deliveries += 1
                    self._deliver(tx, last, rx)
        tx.done = True
        state = self._channels[name]
        if tx in state.bursts:
            state.bursts.remove(tx)
        outcomes: dict[str, RxOutcome] = {}
        for rx_name, burst_rx in tx.states.items():
            self.stats.count(burst_rx.status)
            outcomes[rx_name] = RxOutcome(
                round(self._tx_signal(tx, burst_rx.radio), 1),
                burst_rx.status is RxStatus.DELIVERED, burst_rx.status, burst_rx.deliveries)
        if self._frame_observers:
            self._emit(tx, outcomes)

    def _schedule_changed(self, radio: MediumRadio) -> None:
        """A receiver's schedule or channels changed: re-plan the bursts it may catch."""
        for state in self._channels.values():
            for tx in state.bursts:
                if tx.radio is radio or tx.done:
                    continue
                burst_rx = tx.states.get(radio._name)
                if burst_rx is None:
                    if radio._removed or state.channel.name not in radio._channels:
                        continue
                    burst_rx = tx.states[radio._name] = _BurstRx(radio)
                if burst_rx.status is not RxStatus.DELIVERED:
                    self._plan(tx, burst_rx, 0)

    def _retune(self, radio: MediumRadio, names: tuple[str, ...]) -> None:
        for name in names:
            self.channel(name)  # validates
        if len(set(names)) != len(names):
            raise ValueError(f"channel listed twice: {names}")
        for state in self._channels.values():
            state.listeners.pop(radio._name, None)
        for name in names:
            self._channels[name].listeners[radio._name] = radio
        radio._channels = names
        self._schedule_changed(radio)

    def _stop(self, radio: MediumRadio) -> None:
        now_us = self._clock.now_ms * 1000
        tx = radio._current
        if tx is not None and not tx.done and tx.count > 1 and tx.end_us > now_us:
            # The repetition on the air (or the last started) completes.
            new_count = max(1, min(tx.count, (now_us - tx.start_us) // tx.period_us + 1))
            if new_count < tx.count:
                tx.count = new_count
                if tx.end_handle is not None:
                    self._clock.cancel(tx.end_handle)
                tx.end_handle = self._clock.schedule_at(
                    max(self._clock.now_ms, _ceil_ms(tx.end_us)), lambda: self._finish_burst(tx),
                    label=f"radio burst end {tx.truth.tx_id}")
                for burst_rx in tx.states.values():
                    if burst_rx.handle is not None and burst_rx.pending_k >= new_count:
                        self._plan(tx, burst_rx, burst_rx.pending_k)
        for own in radio._own:
            if isinstance(own, _Jam) and own.bound is None and own.end_us > now_us:
                own.dur_us = max(0, now_us - own.start_us)

    # -- jamming ---------------------------------------------------------------------

    def _jam(self, radio: MediumRadio, duration_ms: int, channel: str | None,
             power_dbm: float | None) -> JamRecord:
        if not isinstance(duration_ms, int) or isinstance(duration_ms, bool) or duration_ms <= 0:
            raise ValueError(f"duration_ms must be an integer > 0, got {duration_ms!r}")
        if power_dbm is not None and not math.isfinite(power_dbm):
            raise ValueError(f"power_dbm must be finite, got {power_dbm!r}")
        name = radio._default_channel(channel)
        state = self._channels[name]
        now_us = self._clock.now_ms * 1000
        self._check_free(radio, now_us)
        power = radio._participant.eirp_dbm if power_dbm is None else float(power_dbm)
        dur_us = duration_ms * 1000
        jam = _Jam(radio, state.channel, now_us, dur_us, dur_us, power, None)
        self._prune(state, radio, now_us)
        state.jams.append(jam)
        radio._own.append(jam)
        record = JamRecord(radio._name, name, now_us, dur_us, power, jam.pos)
        self._jam_started(record)
        return record

    def _react(self, jammer: ReactiveJammer, tx: _Tx) -> None:
        radio = jammer.radio
        chan = tx.chan
        if radio._removed or chan.name not in radio._channels:
            return
        s0 = tx.start_us
        window = radio._schedule.next_window_us(s0)
        if window is None or window[0] >= s0 + tx.pre_us:
            return
        for own in radio._own:
            if _overlaps(own, s0, s0 + jammer.reaction_us + 1):
                return
        signal = self._tx_signal(tx, radio)
        sens = radio._participant.sensitivity_dbm
        if signal < (chan.phy.sensitivity_dbm if sens is None else sens):
            return
        phy = chan.phy
        overhead_bits = phy.preamble_bits + phy.sync_bits
        received_bits = jammer.reaction_us * phy.bit_rate_bps / 1e6 - overhead_bits
        prefix = tx.air[:max(0, int(received_bits // 8))]
        if not jammer.trigger(FrameStart(chan.name, s0, round(signal, 1), prefix)):
            return
        dur_us = tx.dur_us - jammer.reaction_us + jammer.tail_us
        if dur_us <= 0:
            return
        power = radio._participant.eirp_dbm if jammer.power_dbm is None else jammer.power_dbm
        jam = _Jam(radio, chan, s0 + jammer.reaction_us, dur_us, tx.period_us, power, tx)
        state = self._channels[chan.name]
        state.jams.append(jam)
        radio._own.append(jam)
        self._jam_started(JamRecord(radio._name, chan.name, jam.start_us, dur_us, power, jam.pos,
                                    reactive_to=tx.truth.tx_id))

    def _jam_started(self, record: JamRecord) -> None:
        self.stats.jams += 1
        for observer in self._jam_observers:
            observer(record)

    # -- records ---------------------------------------------------------------------

    def _emit(self, tx: _Tx, outcomes: dict[str, RxOutcome]) -> None:
        record = FrameRecord(tx.truth, tx.pos, tx.power_dbm, tx.air, tx.count, tx.interval_ms,
                             outcomes)
        for observer in self._frame_observers:
            observer(record)
