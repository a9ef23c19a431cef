"""Issue 16's defects, one or more tests each (every one fails on the firmware before the safety layer): untrusted
inputs fail safe on both paths, time, current range, stuck sensors, atomic and authenticated configuration, frame
sizes, the plating flag, the reachable clear, a handler that survives MemoryError."""

import math

import pytest

from bms.comm import protocol as pr
from bms.comm.auth import Auth, Hmac, config_requests, sign
from bms.comm.service import Session, serve
from bms.core import app as appmod
from bms.core import events as ev
from bms.core import state as sm
from bms.core.app import Bms

REST_V = 3.40
KEY = bytes(range(32))
BOTH = pr.FLAG_CHARGE_ALLOWED | pr.FLAG_DISCHARGE_ALLOWED


def feed(bms, n, t0_ms=0, i_a=0.0, v=REST_V, t_c=25.0, dt_ms=1000, wobble=False):
    """n samples after t0_ms; wobble adds a real sensor's few-mA jitter to the current (stuck detection)."""
    t = t0_ms
    for k in range(n):
        t += dt_ms
        i = i_a + (0.002 * (k % 3) if wobble else 0.0)
        bms.on_sample(t, i, [v] * bms.n_cells, [t_c] * bms.n_cells)
    return t


def kinds(bms):
    return [e[1] for e in bms.events]


def socs(bms):
    return [e.soc for e in bms.estimators]


# ---- 1. NaN/inf and implausible readings: both paths off, the estimate held ----

@pytest.mark.parametrize("channel", ["voltage", "current", "temperature"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_reading_switches_both_paths_off_and_holds_the_estimate(channel, bad):
    bms = Bms(n_cells=2)
    t = feed(bms, 5)
    assert bms.flags & BOTH == BOTH
    before = socs(bms)
    v, i, tc = [REST_V, REST_V], 0.0, [25.0, 25.0]
    if channel == "voltage":
        v[1] = bad
    elif channel == "current":
        i = bad
    else:
        tc[1] = bad
    for k in range(44):  # the trial: 44 samples of NaN while the true cell ran down
        flags = bms.on_sample(t + 1000 * (k + 1), i, v, tc)
        assert not flags & BOTH and bms.i_chg_max_a == 0.0 and bms.i_dis_max_a == 0.0
        assert bms.state == sm.HOLD
    assert socs(bms) == before
    want_ch = {"voltage": 1, "current": ev.CH_CURRENT, "temperature": ev.CH_TEMP0 + 1}[channel]
    assert [(e[0], e[1]) for e in bms.log] == [(want_ch, ev.SENSOR_INVALID)]


def test_an_implausible_temperature_fails_safe_naming_its_sensor():
    bms = Bms(n_cells=2)
    t = feed(bms, 3)
    assert not bms.on_sample(t + 1000, 0.0, [REST_V] * 2, [25.0, 300.0]) & BOTH
    assert [(e[0], e[1]) for e in bms.events] == [(ev.CH_TEMP0 + 1, ev.SENSOR_IMPLAUSIBLE)]


def test_recovery_needs_sane_samples_spanning_the_debounce_time():
    bms = Bms(settings={"recover_ms": 5000})
    t = feed(bms, 3)
    bms.on_sample(t + 1000, math.nan, [REST_V], [25.0])
    t = feed(bms, 4, t + 1000)  # 4 good samples over 4 s: not yet
    assert bms.state == sm.HOLD and not bms.flags & BOTH
    feed(bms, 1, t)
    assert bms.state == sm.STANDBY and bms.flags & BOTH == BOTH and ev.INPUTS_TRUSTED in kinds(bms)


# ---- 2. missing temperatures are never 25 degC ----

def test_sample_without_temperatures_is_refused_and_does_not_clear_an_over_temperature_trip():
    bms = Bms()
    t = feed(bms, 5, t_c=70.0)  # above t_max_c (60) for longer than the row's delay
    assert bms.flags & pr.FLAG_PROTECTION_TRIP and not bms.flags & pr.FLAG_CHARGE_ALLOWED
    for k in range(10):
        flags = bms.on_sample(t + 1000 * (k + 1), 0.0, [REST_V], [])
        assert not flags & BOTH
    assert [(e[0], e[1]) for e in bms.log][-1] == (ev.CH_TEMP0, ev.SENSOR_MISSING)
    assert bms.protection.tripped()


# ---- 3. configuration: atomic and memory-aware ----

def test_memory_error_while_building_keeps_the_running_string(monkeypatch):
    bms = Bms(n_cells=2)
    t = feed(bms, 3)
    import bms.detect.plating as plating

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(plating, "build", boom)
    with pytest.raises(ValueError, match="memory"):
        bms.configure(3, "nvp-bare-cu")
    monkeypatch.undo()
    assert bms.n_cells == 2 and len(bms.balancer.on) == 2 and bms.preset == "nvp-mg-naf"
    feed(bms, 2, t)  # samples still run (on main: IndexError from the new balancer with the old cells)
    assert bms.flags & BOTH == BOTH


def test_a_configuration_the_heap_cannot_hold_is_refused_before_building(monkeypatch):
    bms = Bms()
    monkeypatch.setattr(appmod, "mem_free", lambda: 40 * 1024)
    with pytest.raises(ValueError, match="memory: 20 cells need"):
        bms.configure(20, "nvp-mg-naf")
    assert bms.n_cells == 1 and bms.config_version == 1


def test_config_version_counts_accepted_configurations_only():
    bms = Bms()
    bms.configure(2, "nvp-bare-cu")
    with pytest.raises(ValueError):
        bms.configure(2, "no-such-cell")
    assert bms.config_version == 2 and bms.stats[pr.STAT_CONFIG_VERSION] == 2


# ---- 4. time ----

def test_a_sample_stamped_at_the_end_of_time_does_not_stop_later_samples():
    bms = Bms()
    t = feed(bms, 3)
    flags = bms.on_sample(0xFFFFFFFF, 0.0, [REST_V], [25.0])
    assert not flags & BOTH and kinds(bms) == [ev.TIME_PAST]  # 2^32-1 is 'just before' t: wrap-safe
    t = feed(bms, 3, t)
    assert bms.flags & BOTH == BOTH and bms.diag.t_last == t


def test_the_u32_wrap_after_49_days_is_just_time_going_on():
    bms = Bms()
    t = feed(bms, 2, t0_ms=0xFFFFFFFF - 2500)
    assert t == 0xFFFFFFFF - 500
    bms.on_sample((t + 1000) % 2**32, -0.5, [REST_V], [25.0])  # 499: wrapped
    assert not bms.events and bms.flags & BOTH == BOTH


def test_a_long_gap_is_bridged_not_integrated_and_sigma_grows():
    bms = Bms(soc0=0.5, soc0_sigma=0.05)
    t = feed(bms, 3)
    sigma = bms.estimators[0].soc_sigma
    t += 4_000_000_000 % 2**31  # the 4e6 s jump, within half the u32 range
    for k in range(3):  # the new time base holds for good_n samples: accepted as a gap
        bms.on_sample(t + 1000 * k, -4.0, [REST_V], [25.0])
    e = bms.estimators[0]
    assert abs(e.soc - 0.5) < 0.01  # on main: 0.007 (4 A integrated over 3600 s)
    assert e.soc_sigma > 3 * sigma  # on main: 0.0003


def test_a_rejected_sample_does_not_move_the_time_base():
    bms = Bms()
    t = feed(bms, 3)
    bms.on_sample(t + 5_000_000, 0.0, [REST_V], [25.0])  # too far ahead, alone
    assert kinds(bms) == [ev.TIME_AHEAD] and bms.diag.t_last == t
    bms.on_sample(t + 1000, 0.0, [REST_V], [25.0])
    assert bms.diag.t_last == t + 1000


# ---- 5. current beyond the sensor's range ----

@pytest.mark.parametrize("i_a", [-1000.0, 3e38, 150.0])
def test_current_beyond_the_sensor_range_fails_safe_and_moves_no_soc(i_a):
    bms = Bms(soc0=0.5)
    t = feed(bms, 3)
    before = socs(bms)
    flags = bms.on_sample(t + 1000, i_a, [REST_V], [25.0])
    assert not flags & BOTH and [(e[0], e[1]) for e in bms.events] == [(ev.CH_CURRENT, ev.CURRENT_RANGE)]
    assert socs(bms) == before


# ---- 6. safety floor, authentication ----

def _serve(frames, bms=None, session=None):
    bms = bms or Bms()
    session = session or Session(Auth(KEY))
    data = b"".join(frames)
    it = iter(data)
    out = bytearray()
    serve(bms, lambda: next(it, -1), out.extend, session)
    return pr.FrameReader().feed(bytes(out)), bms, session


def _config_frames(counter, n, doc, soc0=math.nan, key=KEY, seq0=1):
    reqs = config_requests(Hmac(key), counter, n, doc.encode(), soc0)
    return [pr.encode_frame(t, seq0 + k, p) for k, (t, p) in enumerate(reqs)]


def test_a_cell_file_in_chunks_takes_effect_whole_and_a_damaged_chunk_keeps_the_old_cell():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "firmware" / "cells" / "nvp-bare-cu.json").read_bytes()
    reqs = config_requests(Hmac(KEY), 1, 2, doc, 0.5)
    assert len(reqs) > 2  # more than one chunk
    frames = [pr.encode_frame(t, k + 1, p) for k, (t, p) in enumerate(reqs)]
    damaged = list(frames)
    t, p = reqs[1]
    bad = bytearray(p)
    bad[20] ^= 0x20  # the frame's own CRC is right: only the document's tells
    damaged[1] = pr.encode_frame(t, 2, bytes(bad))
    replies, bms, session = _serve(damaged)
    refused, code, detail = pr.unpack_nack(replies[-1][2])
    assert code == pr.NACK_BAD_CONFIG and "crc" in detail and bms.preset == "nvp-mg-naf" and bms.n_cells == 1
    reqs = config_requests(Hmac(KEY), 2, 2, doc, 0.5)
    replies, bms, _ = _serve([pr.encode_frame(t, k + 1, p) for k, (t, p) in enumerate(reqs)], bms, session)
    assert [t for t, s, p in replies] == [pr.ACK] * len(reqs)
    assert bms.preset == "nvp-bare-cu" and bms.n_cells == 2 and bms.protection.p["r0_ohm"] == 0.14


def test_an_unauthenticated_config_is_refused_and_protection_stays():
    bms = Bms()
    # the old, unsigned way: a CONFIG switching an NVP string to layered oxide (v_max 3.70 -> 4.00 V)
    body = pr.pack_config(1, b"layered-oxide-mg-naf")
    frames = [pr.encode_frame(pr.CONFIG_CHUNK, 1, pr.pack_chunk(0, 20, b"layered-oxide-mg-naf")),
              pr.encode_frame(pr.CONFIG, 2, b"\x01\x00\x00\x00" + body + bytes(32))]
    replies, bms, _ = _serve(frames, bms)
    nack = pr.unpack_nack(replies[-1][2])
    assert nack[:2] == (pr.CONFIG, pr.NACK_AUTH) and "wrong tag" in nack[2]
    assert bms.preset == "nvp-mg-naf" and bms.protection.p["v_max"] == 3.7
    assert bms.stats[pr.STAT_AUTH_REJECTED] == 1


def test_a_config_signed_with_another_key_or_replayed_is_refused():
    replies, bms, session = _serve(_config_frames(5, 2, "nvp-bare-cu", key=bytes(32)))
    assert pr.unpack_nack(replies[-1][2])[1] == pr.NACK_AUTH and bms.n_cells == 1
    good = _config_frames(5, 2, "nvp-bare-cu")
    replies, bms, session = _serve(good, bms, session)
    assert replies[-1][0] == pr.ACK and bms.n_cells == 2
    replies, bms, session = _serve(good, bms, session)  # the same frames again (a lost ACK): ACKed, not re-applied
    assert replies[-1][0] == pr.ACK and bms.config_version == 2
    replies, bms, session = _serve(_config_frames(6, 3, "nvp-mg-naf"), bms, session)
    replies, bms, session = _serve(good, bms, session)  # an older signed frame
    assert "replayed" in pr.unpack_nack(replies[-1][2])[2] and bms.config_version == 3 and bms.n_cells == 3


def test_a_board_without_key_returns_to_its_repl_unsigned_and_one_with_a_key_does_not():
    import bms.comm.service as service

    for session, want in ((Session(None), service.REPL), (Session(Auth(KEY)), None)):
        it = iter(pr.encode_frame(pr.TO_REPL, 1))
        out = bytearray()
        assert serve(Bms(), lambda: next(it, -1), out.extend, session) == want


def test_a_board_without_key_refuses_safety_frames_but_answers_reads():
    frames = _config_frames(1, 2, "nvp-bare-cu") + [pr.encode_frame(pr.HELLO, 9), pr.encode_frame(pr.STATS_REQUEST, 10)]
    replies, bms, _ = _serve(frames, session=Session(None))
    nacks = [pr.unpack_nack(p) for t, s, p in replies if t == pr.NACK]
    assert [n[1] for n in nacks] == [pr.NACK_AUTH] and "no key" in nacks[0][2]
    assert [t for t, s, p in replies][-2:] == [pr.HELLO_REPLY, pr.STATS]


def _nvp(**over):
    from bms.config import cell

    p = cell.preset("nvp-mg-naf")
    p.update(over)
    return p


@pytest.mark.parametrize("over, field", [
    ({"v_max": 3.85}, "v_max"), ({"v_min": 1.6}, "v_min"), ({"t_max_c": 75.0}, "t_max_c"),
    ({"t_min_c": -35.0}, "t_min_c"), ({"i_chg_max_a": 2.5}, "i_chg_max_a"), ({"i_dis_max_a": 7.0}, "i_dis_max_a"),
])
def test_a_configuration_beyond_the_floor_is_refused_with_field_and_rule(over, field):
    from bms.core import floor

    with pytest.raises(ValueError, match="^%s: " % field):
        floor.check_config(_nvp(**over))
    floor.check_config(_nvp())  # the preset itself is inside


def test_a_board_provisioned_for_nvp_refuses_a_layered_oxide_configuration():
    bms = Bms(chemistry_lock="nvp")
    with pytest.raises(ValueError, match="chemistry: .*nvp"):
        bms.configure(1, "layered-oxide-mg-naf")
    assert bms.protection.p["v_max"] == 3.7


def test_a_reading_beyond_the_floor_latches_fault_until_an_authenticated_clear():
    bms = Bms()
    t = feed(bms, 3)
    t = feed(bms, 3, t, v=3.9)  # NVP floor 3.85 V
    assert bms.state == sm.FAULT and bms.flags & pr.FLAG_FAULT and not bms.flags & BOTH
    assert bms.latched[0] == ev.FLOOR_BREACH and bms.latched[1] == 0
    t = feed(bms, 10, t)  # back at rest voltage: still latched
    assert bms.state == sm.FAULT and not bms.flags & BOTH
    replies, bms, session = _serve([pr.encode_frame(pr.CLEAR_FAULT, 1, b"\x01\0\0\0" + bytes(32))], bms)
    assert pr.unpack_nack(replies[-1][2])[1] == pr.NACK_AUTH and bms.state == sm.FAULT
    clear = sign(Hmac(KEY), pr.VERSION, pr.CLEAR_FAULT, 7, b"")
    replies, bms, session = _serve([pr.encode_frame(pr.CLEAR_FAULT, 2, clear)], bms, session)
    assert replies[-1][0] == pr.ACK and bms.state == sm.STANDBY
    feed(bms, 1, t)
    assert bms.flags & BOTH == BOTH


def test_a_clear_while_the_floor_breach_stands_is_refused():
    bms = Bms()
    t = feed(bms, 3)
    feed(bms, 3, t, v=3.9)
    clear = sign(Hmac(KEY), pr.VERSION, pr.CLEAR_FAULT, 1, b"")
    replies, bms, _ = _serve([pr.encode_frame(pr.CLEAR_FAULT, 2, clear)], bms)
    assert pr.unpack_nack(replies[-1][2])[1] == pr.NACK_STATE and bms.state == sm.FAULT


def test_a_reconfiguration_keeps_a_standing_trip_and_a_plating_critical():
    bms = Bms()
    t = feed(bms, 5, t_c=70.0)
    bms.detectors.charge_inhibit = True  # a latched plating CRITICAL
    bms.configure(1, "nvp-bare-cu", soc0=0.5)
    feed(bms, 1, t, t_c=70.0)
    assert bms.protection.tripped() and bms.detectors.charge_inhibit and not bms.flags & pr.FLAG_CHARGE_ALLOWED


def test_soc0_sigma_is_honoured_and_cannot_be_claimed_below_one_percent():
    bms = Bms(soc0=0.4, soc0_sigma=0.03)
    assert bms.estimators[0].soc_sigma == pytest.approx(0.03)
    with pytest.raises(ValueError, match="soc0_sigma"):
        bms.configure(1, "nvp-mg-naf", 0.4, soc0_sigma=0.001)


# ---- 7. frames sized for the worst case ----

def test_an_estimate_of_max_cells_fits_a_frame_and_a_string_beyond_is_refused():
    n = pr.MAX_CELLS
    p = pr.pack_estimate(1, 0, 1.0, 1.0, [0.5] * n, [0.1] * n, [2.0] * n, [True] * n, sm.CHARGE)
    assert 3 + len(p) + 2 <= pr.MAX_FRAME
    assert len(pr.pack_sample(1, 0.0, [3.4] * n, [25.0] * n)) + 5 <= pr.MAX_FRAME
    (t, s, q), = pr.FrameReader().feed(pr.encode_frame(pr.ESTIMATE, 1, p))
    assert pr.unpack_estimate(q)["state"] == sm.CHARGE
    with pytest.raises(ValueError, match="n_cells"):
        Bms(n_cells=n + 1)


def test_nack_details_are_bounded():
    assert len(pr.pack_nack(1, pr.NACK_BAD_CONFIG, "x" * 5000)) == 2 + pr.MAX_DETAIL


def test_an_old_host_gets_a_version_nack_it_can_read():
    body = bytearray([2, pr.HELLO, 42])  # a v2 host's HELLO
    crc = pr.crc16(body)
    frame = pr.cobs_encode(bytes(body) + bytes([crc >> 8, crc & 0xFF])) + b"\x00"
    it = iter(frame)
    out = bytearray()
    serve(Bms(), lambda: next(it, -1), out.extend)
    raw = bytearray(600)
    m = pr.cobs_decode_into(out, len(out) - 1, raw)
    assert raw[0] == 2 and raw[1] == pr.NACK and raw[2] == 42  # in the host's version, with its seq
    refused, code, detail = pr.unpack_nack(bytes(raw[3 : m - 2]))
    assert code == pr.NACK_BAD_VERSION and "v3" in detail


# ---- 8. stuck sensors ----

def test_a_stuck_cell_voltage_is_found_while_current_flows_and_fails_safe():
    bms = Bms(n_cells=2, soc0=0.5, settings={"stuck_s": 60})
    t = 0
    for k in range(1, 200):
        t = 1000 * k
        flags = bms.on_sample(t, -2.0 + 0.001 * (k % 3), [3.35 - 0.0002 * k, 3.36], [25.0, 25.0])  # cell 1 stuck
        if bms.state == sm.HOLD:
            break
    assert ev.SENSOR_STUCK in kinds(bms) and bms.events[0][0] == 1 and 60 <= k <= 62
    assert not flags & BOTH


def test_a_stuck_cell_stays_stuck_while_the_paths_are_open_and_frees_when_it_moves():
    # before: with both paths open the current stopped, the stuck clock no longer ran, three sane samples trusted the
    # inputs again, the paths closed and the check re-tripped: sensor_stuck / inputs_trusted every 6-8 s
    bms = Bms(n_cells=2, soc0=0.5, settings={"stuck_s": 60})
    seen = []

    def sample(t, i_a, v_cell):
        flags = bms.on_sample(t, i_a, v_cell, [25.0, 25.0])
        seen.extend(e[1] for e in bms.events)
        return flags

    t = 0
    for k in range(1, 200):
        t = 1000 * k
        sample(t, -2.0 + 0.001 * (k % 3), [3.35 - 0.0002 * k, 3.36])  # cell 1 stuck
        if bms.state == sm.HOLD:
            break
    for k in range(1, 300):  # the paths are open: no current; cell 1 still reads the same, within its resolution
        t += 1000
        sample(t, 0.0005 * (k % 3), [3.32, 3.36 + 0.001 * (k % 2)])
        assert bms.state == sm.HOLD
    assert seen == [ev.SENSOR_STUCK]
    for k in range(1, 10):  # the sensor is back: it reads the cell (3.33 V), beyond the resolution of 3.36 V
        t += 1000
        flags = sample(t, 0.0005 * (k % 3), [3.32, 3.33 + 0.0003 * (k % 2)])
    assert seen == [ev.SENSOR_STUCK, ev.INPUTS_TRUSTED] and flags & BOTH == BOTH


def test_a_stuck_current_sensor_is_found_and_a_resting_cell_is_not_stuck():
    bms = Bms(soc0=0.5, settings={"stuck_s": 60})
    feed(bms, 300)  # at rest a constant voltage is normal
    assert bms.state == sm.STANDBY
    t = 300_000
    for k in range(1, 100):
        bms.on_sample(t + 1000 * k, -1.0, [3.35 - 0.0002 * k], [25.0])
        if bms.state == sm.HOLD:
            break
    assert [(e[0], e[1]) for e in bms.events] == [(ev.CH_CURRENT, ev.SENSOR_STUCK)]


# ---- 9. the plating flag, the clear, MemoryError in serve ----

def test_a_model_mismatch_warning_is_not_a_plating_warning():
    bms = Bms()
    t = feed(bms, 3)
    real = bms.detectors.update
    bms.detectors.update = lambda *a: [(0, ev.MODEL_MISMATCH, ev.WARNING, 0.0, 0.1)] + real(*a)
    feed(bms, 1, t)
    assert ev.MODEL_MISMATCH in kinds(bms) and not bms.flags & pr.FLAG_PLATING_WARNING


def test_clear_inhibit_is_reachable_over_the_link_with_a_tag():
    bms = Bms()
    t = feed(bms, 3)
    bms.detectors.charge_inhibit = True
    feed(bms, 1, t)
    assert bms.flags & pr.FLAG_PLATING_CRITICAL and not bms.flags & pr.FLAG_CHARGE_ALLOWED
    clear = sign(Hmac(KEY), pr.VERSION, pr.CLEAR_FAULT, 1, b"")
    replies, bms, _ = _serve([pr.encode_frame(pr.CLEAR_FAULT, 2, clear)], bms)
    assert replies[-1][0] == pr.ACK and not bms.detectors.charge_inhibit
    feed(bms, 1, t + 1000)
    assert bms.flags & pr.FLAG_CHARGE_ALLOWED and not bms.flags & pr.FLAG_PLATING_CRITICAL


def test_serve_survives_memory_error_in_its_handler(monkeypatch):
    import bms.comm.service as service

    calls = []

    def oom(*a, **k):
        calls.append(1)
        raise MemoryError

    monkeypatch.setattr(service, "handle_frame", oom)
    monkeypatch.setattr(service.pr, "pack_nack", oom)  # building the reply would run out too
    frames = [pr.encode_frame(pr.HELLO, 1), pr.encode_frame(pr.HELLO, 2)]
    it = iter(b"".join(frames))
    out = bytearray()
    bms = Bms()
    serve(bms, lambda: next(it, -1), out.extend)  # returns at end of stream: main() goes on
    monkeypatch.undo()
    got = pr.FrameReader().feed(bytes(out))
    assert len(got) == 2 and all(pr.unpack_nack(p)[1] == pr.NACK_MEMORY for t, s, p in got)
    assert bms.stats[pr.STAT_MEM_ERRORS] == 2


def test_no_sample_for_the_timeout_switches_both_paths_off():
    clock = [0]
    bms = Bms(settings={"timeout_ms": 5000})
    frames = [pr.encode_frame(pr.SAMPLE, 1, pr.pack_sample(1000, 0.0, [REST_V], [25.0]))]
    data = list(b"".join(frames)) + [None] * 10  # then the line goes quiet

    def read():
        clock[0] += 1000
        return data.pop(0) if data else -1

    out = bytearray()
    serve(bms, read, out.extend, clock=lambda: clock[0])
    got = pr.FrameReader().feed(bytes(out))
    events = [pr.unpack_event(p) for t, s, p in got if t == pr.EVENT]
    assert [(e[0], e[1]) for e in events] == [(ev.CH_LINK, ev.LINK_TIMEOUT)]
    assert bms.state == sm.HOLD and bms.i_chg_max_a == 0.0 and bms.i_dis_max_a == 0.0


def test_enable_outputs_follow_the_state():
    seen = []
    bms = Bms()
    bms.on_outputs = lambda chg, dis: seen.append((chg, dis))
    t = feed(bms, 2)
    bms.on_sample(t + 1000, math.nan, [REST_V], [25.0])
    assert seen[-2] == (True, True) and seen[-1] == (False, False)


def test_to_repl_needs_a_tag_and_then_ends_serve_for_the_repl():
    import bms.comm.service as service

    frames = [pr.encode_frame(pr.TO_REPL, 1, b"\x01\0\0\0" + bytes(32)),
              pr.encode_frame(pr.TO_REPL, 2, sign(Hmac(KEY), pr.VERSION, pr.TO_REPL, 1, b"")),
              pr.encode_frame(pr.HELLO, 3)]  # never read: the line belongs to the REPL now
    it = iter(b"".join(frames))
    out = bytearray()
    result = serve(Bms(), lambda: next(it, -1), out.extend, Session(Auth(KEY)))
    got = pr.FrameReader().feed(bytes(out))
    assert result == service.REPL
    assert [(t, s) for t, s, p in got] == [(pr.NACK, 1), (pr.ACK, 2)]
