"""Published MiniMed vectors, each with its source (repository, file, test or comment).

Short vectors are written here; history pages and frame lists are in ``data/``
(see ``data/README.md``).  Commits read: openaps/decocare bb2aa1ec,
ps2/minimed_rf 3a2dc81d, LoopKit/MinimedKit 106467e8, ps2/subg_rfspy 5d1d7fb9,
oskarpearson/mmeowlink 81fc3ef8.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def data_hex(name: str) -> bytes:
    """The bytes of a one-vector hex file in ``data/``."""
    return bytes.fromhex((DATA / name).read_text().strip())


def _long(prefix: str) -> bytes:
    """A long A7 packet without its CRC (70 bytes): ``prefix`` then zero padding."""
    raw = bytes.fromhex(prefix)
    return raw + bytes(70 - len(raw))


def _body(prefix: str) -> bytes:
    """A 65-byte long body: ``prefix`` then zero padding."""
    raw = bytes.fromhex(prefix)
    return raw + bytes(65 - len(raw))


def data_hex_lines(name: str) -> list[bytes]:
    """The bytes of each line of a hex file in ``data/``."""
    return [bytes.fromhex(line) for line in (DATA / name).read_text().split()]


# --- CRC ------------------------------------------------------------------
# decocare decocare/lib.py module doctest.
DECOCARE_CRC8 = [(bytes([0x00, 0xFF, 0x00]), 177)]
DECOCARE_CRC16 = [
    (bytes([2, 6, 6, 3]), 16845),
    (bytes([0x02, 0x09, 0x00, 0x05, 0x0D, 0x02, 0x03]), 29146),
    (bytes([2, 0x06, 0x08, 3]), 0x62C2),
]
# decocare decocare/commands.py, PowerControl._test_ok: the CareLink stick
# frame ends in CRC8(params) = 0xA2 for params 01 0A (ten minutes on).
DECOCARE_POWER_CONTROL_PARAMS = (bytes([0x01, 0x0A]), 0xA2)
# decocare decocare/commands.py doctests: the CareLink stick frames
# PowerControl._test_ok, ReadErrorStatus._test_ok, ReadHistoryData._test_ok and
# ReadPumpState._test_ok.  Each holds a CRC-8 of its 14-byte header at byte 14
# and a CRC-8 of the parameters at the end (pump serials 665455 and 208850).
DECOCARE_STICK_FRAMES = [
    bytes.fromhex("0100a701665455800255000000" "5de6010aa2"),
    bytes.fromhex("0100a701665455800000020100" "75d700"),
    bytes.fromhex("0100a701208850800100020200" "809b0336"),
    bytes.fromhex("0100a701665455800000020100" "832e00"),
]
# MinimedKit MinimedKitTests/CRC8Tests.swift, testComputeCRC8.
MINIMEDKIT_CRC8 = (
    bytes.fromhex("a259705504a24117043a0e080b003d3d00015b030105d817790a0f00000300008b1702000e080b0000"),
    0x71,
)

# --- 4b6b -------------------------------------------------------------------
# MinimedKit MinimedKitTests/MinimedPacketTests.swift, testEncode4b6b: the
# test feeds a packet that already ends in its CRC (0x71) to
# MinimedPacket.encodedData(), which appends a CRC-8 again (0x00: the CRC-8
# of bytes followed by their own CRC-8 is zero), 4b6b-encodes 43 bytes (an odd
# count: the last byte of symbols is zero-padded, ``...55 50``) and adds 0x00.
MINIMEDKIT_ENCODE_PACKET = bytes.fromhex(
    "a259705504a24117043a0e080b003d3d00015b030105d817790a0f00000300008b1702000e080b000071")
MINIMEDKIT_ENCODE_AIR = bytes.fromhex(
    "ab2959595965574ab2d31c565748ea54e55a54b5558cd8cd55557194b56357156535ac5659956a55c5"
    "5555556355555568bc5657255554e55a54b5555555b1555000")
# MinimedKit testDecode4b6b and minimed_rf spec/packet_spec.rb "should encode
# back to radio symbols": the MySentry packet (CRC 0x71) and its air.
MYSENTRY_PACKET = bytes.fromhex(
    "a259705504a24117043a0e080b003d3d00015b030105d817790a0f00000300008b1702000e080b000071")
MYSENTRY_AIR = bytes.fromhex(
    "ab2959595965574ab2d31c565748ea54e55a54b5558cd8cd55557194b56357156535ac5659956a55c5"
    "5555556355555568bc5657255554e55a54b5555555b100")
# minimed_rf spec/packet_spec.rb "should parse data from radio": a 64-byte
# capture (85 symbols and 2 bits, no terminator) of an A2 frame from pump
# 597055, message type 04.
MINIMED_RF_CAPTURE_AIR = bytes.fromhex(
    "ab29595959655743a5d31c7254ec4b54e55a54b555d0dd0e5555716aa563571566c9ac7258e56557"
    "4555d1c55555555568bc7256c55554e55a54b55555556c55")

# --- Full frames (packets with CRC) ----------------------------------------
# minimed_rf lib/minimed_rf/messages/dump_history_page.rb, comment: the
# short wake-up of pump 350535 with its CRC-8.
WAKEUP_SHORT_350535 = bytes.fromhex("a73505355d0048")
# minimed_rf spec/meter_spec.rb: meter C527AD, 142 mg/dL and 398 mg/dL.
METER_142 = bytes.fromhex("a5c527ad008e61")
METER_398 = bytes.fromhex("a5c527ad018e77")
# minimed_rf spec/remote_spec.rb: remote 411525, button B, sequence 93.
REMOTE_B_93 = bytes.fromhex("a6411525885d46")
# minimed_rf lib/minimed_rf/messages/sensor.rb, comment: a sensor (A8) frame.
SENSOR_A8 = bytes.fromhex(
    "a80f25c1230d191c50008f009000343499000000000000000000000000000000dee7")

# MinimedKit MinimedKitTests/Messages/*: packets without CRC (the tests'
# txData / rxData), pump ids 123456, 350535, 594040, 754838, 578398.
MK_BOLUS_1_1_X23 = _long("a71234564202002C")  # BolusCarelinkMessageBodyTests.testBolusMessageBody
MK_BOLUS_1_1_X22 = _long("a712345642010B")  # testBolusMessageBody522
MK_BOLUS_7_9_X23 = _long("a71234564202013C")  # ...TwoByte
MK_BOLUS_10_2_X23 = _long("a712345642020198")  # ...GreaterThanTenUnits
MK_TEMP_BASAL_1_1_30 = _long("a71234564C03002C01")  # ChangeTempBasalCarelinkMessageBodyTests
MK_TEMP_BASAL_6_5_150 = _long("a71234564C03010405")
# ChangeTimeCarelinMessageBodyTests: 2017-12-29 09:22:59.
# ChangeTimeCarelinMessageBodyTests: 2017-12-29 09:22:59.
MK_CHANGE_TIME = _long("a7123456400709163B07E10C1D")
MK_REMOTE_IDS_ONE = _long("a759404076123132333435362d2d2d2d2d2d2d2d2d2d2d2d")
MK_REMOTE_IDS_THREE = _long("a75940407612303030303030313030313030393939393939")
MK_BATTERY_1_40 = _long("a7350535720300008c")
MK_RESERVOIR_723 = _long("a7594040730400000ca3")  # 80.875 U
MK_MODEL_523 = _long("a73505358d0903353233")
MK_SETTINGS_523 = _long("a7754838c0150003010100e50550000000000000016400040014")
MK_TEMP_BASAL_STATUS = _long("a71234569806000000370017")  # 1.375 U/h, 23 min
# MinimedKit ChangeRemoteControlIDMessageBodyTests (bodies only).
MK_SET_REMOTE_ID_BODY = _body("0700313233343536")
MK_DELETE_REMOTE_ID_BODY = _body("07022d2d2d2d2d2d")
# MinimedKit ChangeMaxBolusMessageBodyTests.testMaxBolus523 and
# ChangeMaxBasalRateMessageBodyTests.testMaxBasalRate (bodies only).
MK_MAX_BOLUS_6_4_X23_BODY = _body("020040")
MK_MAX_BASAL_6_4_BODY = _body("020100")

# --- History records (minimed_rf lib/minimed_rf/log_entries/* comments, with
# the CareLink CSV line each was matched against).
# 197 mg/dL from meter C527AD at 2014-04-04 15:07:00.
# 197 mg/dL from meter C527AD at 2014-04-04 15:07:00.
REC_BG_RECEIVED = bytes.fromhex("3f184007af640ec527ad")
REC_TEMP_BASAL_PCT = bytes.fromhex("333c460615060e08")  # 60 %, 2014-04-06 21:06:06
REC_TEMP_BASAL_DURATION = bytes.fromhex("1614460615060e")  # 600 min
REC_SUSPEND = bytes.fromhex("1e01603612030e")
REC_RESUME = bytes.fromhex("1f20763612030e")
REC_ALARM_PUMP = bytes.fromhex("0667016e773bb1880e")  # raw type 103, 2014-04-08 17:59:55
REC_CLEAR_ALARM = bytes.fromhex("0c67440012080e")  # type 103, 2014-04-08 18:00:04
REC_CHANGE_TIME = bytes.fromhex("1700234e17040e")  # at 2014-01-04 23:14:35
REC_NEW_TIME = bytes.fromhex("1800004e170110")  # set to 2016-01-01 23:14:00
REC_AUDIO_BOLUS_ON = bytes.fromhex("5f05473817030e")  # enabled, 0.1 U step
REC_AUDIO_BOLUS_OFF = bytes.fromhex("5f046d3817030e")
