"""The firmware application on CPython: fail-safe on untrusted sensors, protections, config errors, and a
main loop that survives any bytes."""

import math

import pytest

from bms.core import events as ev
from bms.comm import protocol as pr
from bms.comm.auth import Auth, Hmac, config_requests
from bms.comm.service import Session, serve
from bms.core import state as sm
from bms.core.app import GOOD_SAMPLES_TO_TRUST, Bms

REST_V = 3.40  # on the NVP plateau


def feed_rest(bms, n, t0_ms=0, v=REST_V, n_cells=1):
    for k in range(1, n + 1):
        bms.on_sample(t0_ms + 1000 * k, 0.0, [v] * n_cells, [25.0] * n_cells)
    return t0_ms + 1000 * n


def kinds(bms):
    return [e[1] for e in bms.events]


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, 7.0])
def test_untrusted_cell_voltage_fails_safe_and_recovers(bad):
    bms = Bms(n_cells=2)
    t = feed_rest(bms, 5, n_cells=2)
    assert bms.flags & pr.FLAG_CHARGE_ALLOWED
    soc_before = [e.soc for e in bms.estimators]
    flags = bms.on_sample(t + 1000, 0.0, [REST_V, bad], [25.0, 25.0])
    assert flags & pr.FLAG_SENSOR_FAULT and not flags & pr.FLAG_CHARGE_ALLOWED and bms.i_chg_max_a == 0.0
    expected = ev.SENSOR_INVALID if not math.isfinite(bad) else ev.OPEN_WIRE
    assert [(e[0], e[1], e[2]) for e in bms.events] == [(1, expected, ev.CRITICAL)]
    assert [e.soc for e in bms.estimators] == soc_before  # estimate held, not fed garbage
    assert bms.stats[pr.STAT_NAMES.index("samples_rejected")] == 1
    # a second bad sample is counted but raises no second event
    bms.on_sample(t + 2000, 0.0, [REST_V, bad], [25.0, 25.0])
    assert bms.events == [] and bms.stats[pr.STAT_NAMES.index("samples_rejected")] == 2
    # charging stays off until enough good samples in a row
    t += 2000
    for k in range(GOOD_SAMPLES_TO_TRUST - 1):
        t += 1000
        assert not bms.on_sample(t, 0.0, [REST_V] * 2, [25.0] * 2) & pr.FLAG_CHARGE_ALLOWED
    assert bms.on_sample(t + 1000, 0.0, [REST_V] * 2, [25.0] * 2) & pr.FLAG_CHARGE_ALLOWED


def test_a_cell_collapsing_continuously_is_read_and_latches_the_floor_but_a_step_to_zero_is_an_open_wire():
    # an anode-free cell stripped by a short falls through 0.5 V slowly; an open sense wire jumps there
    collapsing = Bms(n_cells=2)
    t = feed_rest(collapsing, 3, n_cells=2)
    for v in (1.6, 1.4, 1.1, 0.8, 0.55, 0.45, 0.3, 0.2):
        t += 1000
        collapsing.on_sample(t, 0.0, [REST_V, v], [25.0, 25.0])
        assert ev.OPEN_WIRE not in kinds(collapsing), v
    assert collapsing.stats[pr.STAT_NAMES.index("samples_rejected")] == 0
    assert collapsing.state == sm.FAULT and not collapsing.flags & pr.FLAG_CHARGE_ALLOWED
    assert collapsing.estimators[1].soc < 0.05  # the estimator read the empty cell
    stepped = Bms(n_cells=2)
    t = feed_rest(stepped, 3, n_cells=2)
    stepped.on_sample(t + 1000, 0.0, [REST_V, 0.2], [25.0, 25.0])
    assert kinds(stepped) == [ev.OPEN_WIRE]
    stepped.on_sample(t + 2000, 0.0, [REST_V, 0.2], [25.0, 25.0])  # still a step from the last plausible 3.4 V
    assert stepped.stats[pr.STAT_NAMES.index("samples_rejected")] == 2
    first = Bms(n_cells=1)  # no history: a first reading near 0 V is not trusted
    first.on_sample(1000, 0.0, [0.1], [25.0])
    assert kinds(first) == [ev.OPEN_WIRE]


def test_nan_current_or_temperature_fails_safe():
    bms = Bms()
    t = feed_rest(bms, 3)
    assert bms.on_sample(t + 1000, math.nan, [REST_V], [25.0]) & pr.FLAG_SENSOR_FAULT
    bms2 = Bms()
    t = feed_rest(bms2, 3)
    assert not bms2.on_sample(t + 1000, 0.0, [REST_V], [math.nan]) & pr.FLAG_CHARGE_ALLOWED


def test_over_voltage_trips_after_its_delay_and_releases_with_hysteresis():
    bms = Bms()
    p_vmax = bms.protection.p["v_max"]
    t = feed_rest(bms, 3)
    t += 200
    bms.on_sample(t, 0.0, [p_vmax + 0.1], [25.0])
    assert ev.OVER_VOLTAGE not in kinds(bms)  # 200 ms: shorter than the row's delay
    t += 400
    bms.on_sample(t, 0.0, [p_vmax + 0.1], [25.0])
    assert ev.OVER_VOLTAGE in kinds(bms)
    assert bms.flags & pr.FLAG_PROTECTION_TRIP and not bms.flags & pr.FLAG_CHARGE_ALLOWED
    assert bms.flags & pr.FLAG_DISCHARGE_ALLOWED  # discharging brings the voltage down: allowed
    t = feed_rest(bms, 2, t, v=p_vmax)  # inside the hysteresis band: still tripped
    assert bms.flags & pr.FLAG_PROTECTION_TRIP
    feed_rest(bms, 2, t, v=REST_V)
    assert not bms.flags & pr.FLAG_PROTECTION_TRIP and bms.flags & pr.FLAG_CHARGE_ALLOWED


def test_charge_limit_tapers_towards_v_max():
    bms = Bms()
    v_max = bms.protection.p["v_max"]
    feed_rest(bms, 2)
    full = bms.i_chg_max_a
    limits = []
    for k, v in enumerate((v_max - 0.04, v_max - 0.02, v_max, v_max + 0.02, v_max + 0.03)):
        bms.on_sample(3000 + 1000 * k, 0.5, [v], [25.0])
        limits.append(bms.i_chg_max_a)
    assert full > limits[0] > limits[1] > limits[2] > limits[3] > limits[4] == 0.0
    # at v_max a CV tail current is still allowed, so a CC-CV charger can finish
    assert limits[2] == pytest.approx(0.05 * bms.protection.p["q_ah"])


def test_cold_stops_charging_but_not_discharging():
    bms = Bms()
    raised = []
    for k in range(1, 6):
        bms.on_sample(1000 * k, 0.0, [REST_V], [-25.0])
        raised += kinds(bms)
    assert raised.count(ev.UNDER_TEMPERATURE_CHARGE) == 1  # raised once, on entry
    assert not bms.flags & pr.FLAG_CHARGE_ALLOWED and bms.i_chg_max_a == 0.0
    assert bms.flags & pr.FLAG_DISCHARGE_ALLOWED


@pytest.mark.parametrize(
    "n_cells, preset, soc0, words",
    [(0, "nvp-mg-naf", None, "n_cells"), (200, "nvp-mg-naf", None, "n_cells"), (1, "lfp-graphite", None, "unknown preset"), (1, "nvp-mg-naf", 1.5, "soc0")],
)
def test_bad_config_is_refused_with_reason_and_running_config_kept(n_cells, preset, soc0, words):
    bms = Bms(n_cells=2)
    t = feed_rest(bms, 3, n_cells=2)
    with pytest.raises(ValueError, match=words):
        bms.configure(n_cells, preset, soc0)
    assert bms.n_cells == 2 and bms.preset == "nvp-mg-naf"
    bms.on_sample(t + 1000, 0.0, [REST_V] * 2, [25.0] * 2)  # still runs


def test_time_must_advance():
    bms = Bms()
    feed_rest(bms, 2)
    flags = bms.on_sample(2000, 0.0, [REST_V], [25.0])  # the same stamp again: fails safe, never raises
    assert not flags & (pr.FLAG_CHARGE_ALLOWED | pr.FLAG_DISCHARGE_ALLOWED) and kinds(bms) == [ev.TIME_PAST]


KEY = bytes(range(32))


def _serve_bytes(data, bms=None, session=None):
    bms = bms or Bms()
    it = iter(data)
    out = bytearray()
    serve(bms, lambda: next(it, -1), out.extend, session or Session(Auth(KEY)))
    return pr.FrameReader().feed(bytes(out)), bms


def config_bytes(counter, n_cells, doc, soc0=math.nan, seq0=3):
    reqs = config_requests(Hmac(KEY), counter, n_cells, doc.encode(), soc0)
    return b"".join(pr.encode_frame(t, seq0 + k, p) for k, (t, p) in enumerate(reqs))


def test_serve_answers_sample_and_nacks_damage_without_stopping():
    good = pr.encode_frame(pr.SAMPLE, 5, pr.pack_sample(1000, 0.0, [REST_V], [25.0]))
    damaged = bytearray(good)
    damaged[4] ^= 0x10
    wrong_len = pr.encode_frame(pr.SAMPLE, 6, b"\x01\x02")
    unknown = pr.encode_frame(0x55, 7)
    late = pr.encode_frame(pr.SAMPLE, 8, pr.pack_sample(2000, 0.0, [REST_V], [25.0]))
    replies, bms = _serve_bytes(bytes(damaged) + good + wrong_len + unknown + late + pr.encode_frame(pr.STATS_REQUEST, 9))
    types = [(t, s) for t, s, _ in replies]
    assert (pr.NACK, 0) in types and (pr.ESTIMATE, 5) in types and (pr.ESTIMATE, 8) in types
    nacks = {s: pr.unpack_nack(p) for t, s, p in replies if t == pr.NACK}
    assert nacks[0][1] == pr.NACK_CORRUPT and nacks[6][1] == pr.NACK_BAD_PAYLOAD and nacks[7][1] == pr.NACK_UNKNOWN_TYPE
    stats = pr.unpack_stats(replies[-1][2])
    assert stats["rx_crc_errors"] + stats["rx_framing_errors"] == 1 and stats["rx_bad_payload"] == 1 and stats["rx_unknown_type"] == 1


def test_serve_config_nack_names_the_problem():
    replies, bms = _serve_bytes(config_bytes(1, 1, "nvp-unobtainium"))
    t, s, p = replies[-1]
    refused, code, detail = pr.unpack_nack(p)
    assert (t, s, refused, code) == (pr.NACK, 4, pr.CONFIG, pr.NACK_BAD_CONFIG) and "unknown preset" in detail
    replies, bms = _serve_bytes(config_bytes(2, 3, "nvp-bare-cu", 0.5), bms)
    assert replies[-1][0] == pr.ACK and bms.n_cells == 3 and bms.estimators[0].soc == pytest.approx(0.5)


def test_retransmitted_sample_is_answered_again_not_processed_twice():
    frame = pr.encode_frame(pr.SAMPLE, 11, pr.pack_sample(1000, -0.5, [REST_V], [25.0]))
    replies, bms = _serve_bytes(frame + frame + pr.encode_frame(pr.STATS_REQUEST, 12))
    estimates = [p for t, s, p in replies if t == pr.ESTIMATE]
    assert len(estimates) == 2 and estimates[0] == estimates[1]
    stats = pr.unpack_stats(replies[-1][2])
    assert stats["rx_frames"] == 3 and stats["rx_bad_payload"] == 0  # the copy was not re-run ("time does not advance")


def test_balancing_resistors_drain_after_a_full_discharge_and_drop_on_an_untrusted_sample():
    bms = Bms(n_cells=3, soc0=0.03)  # near empty: a window opens only when a cell's estimate says so too
    p_vmin = bms.protection.p["v_min"]
    t = feed_rest(bms, 3, n_cells=3, v=3.1)
    for k in range(120):  # a 1 A discharge until cell 0 reaches the cut-off (cells 1 and 2 hold sodium)
        t += 1000
        v0 = 3.0 if k < 119 else p_vmin - 0.05
        bms.on_sample(t, -1.0, [v0, 3.0, 3.0], [25.0] * 3)
    assert bms.balancer.on == [False, False, False]
    assert min(e.soc for e in bms.estimators) < bms.balancer.soc_open
    t += 1000
    bms.on_sample(t, 0.0, [2.3, 3.2, 3.2], [25.0] * 3)  # the first rest sample: the window opens
    est = pr.unpack_estimate(bms.estimate_payload())
    assert est["bleed"] == [False, True, True]  # cell 0 is already empty
    seen = []
    update = bms.estimators[1].update
    bms.estimators[1].update = lambda dt_s, i_a, v, t_c: seen.append(i_a) or update(dt_s, i_a, v, t_c)
    t += 1000
    bms.on_sample(t, 0.0, [2.3, 3.2, 3.2], [25.0] * 3)
    i_bleed = 3.2 / bms.balancer.r_ohm
    assert bms.balancer.i_a[1] == pytest.approx(i_bleed)
    assert seen == [pytest.approx(-i_bleed)]  # the drained cell's estimator is given the resistor's current
    t += 1000
    bms.on_sample(t, 0.0, [2.3, 3.2, math.nan], [25.0] * 3)
    assert pr.unpack_estimate(bms.estimate_payload())["bleed"] == [False, False, False]
