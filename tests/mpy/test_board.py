# The board description (bms.config.board) and a real pack's loop (bms.hal.pack) with an emulated BQ76952.
import json

from bms.comm import protocol as pr
from bms.config import board as boardcfg
from bms.core import app
from bms.core import events as ev
from bms.hal import afe, pack
from chips import FakeBQ76952, FakeI2C

def _boards_dir():
    import os

    for d in ("firmware/boards/", "/rom/boards/"):  # the repository; the emulated MCU's ROMFS
        try:
            os.listdir(d)
            return d
        except OSError:
            pass
    raise OSError("no boards/ folder")


BOARDS = _boards_dir()


def _raises(d, words):
    try:
        boardcfg.validate(d)
    except ValueError as e:
        for w in words:
            assert w in str(e), (w, str(e))
        return
    raise AssertionError("accepted %r" % (d,))


def _pico():
    with open(BOARDS + "pico-bq76952-4s.json") as f:
        return json.load(f)


def test_every_board_file_validates():
    import os

    names = [n for n in os.listdir(BOARDS) if n.endswith(".json")]
    assert "hil-bench.json" in names and len(names) >= 3
    for n in names:
        d = boardcfg.load(BOARDS + n)
        assert d["afe"]["driver"] in boardcfg.DRIVERS


def test_unknown_missing_and_bad_keys_are_refused_by_name():
    d = _pico()
    d["sample_periode_ms"] = 500
    _raises(d, ["unknown key", "sample_periode_ms"])
    d = _pico()
    d["afe"]["chanels"] = [1, 2, 3]
    _raises(d, ["board.afe", "chanels"])
    d = _pico()
    del d["bal_r_ohm"]
    _raises(d, ["missing", "bal_r_ohm"])
    d = _pico()
    d["afe"]["channels"] = [1, 2]
    _raises(d, ["channels"])
    d = _pico()
    d["afe"]["driver"] = "ltc6811"
    _raises(d, ["ltc6811"])
    d = _pico()
    d["r_shunt_ohm"] = True
    _raises(d, ["r_shunt_ohm"])
    d = _pico()
    d["sample_period_ms"] = 1
    _raises(d, ["sample_period_ms"])


def _runner():
    board = boardcfg.load(BOARDS + "pico-bq76952-4s.json")
    chip = FakeBQ76952(r_shunt_ohm=board["r_shunt_ohm"])
    drv = pack.make_afe(board, i2c=FakeI2C(chip))
    bms = app.Bms(board["n_cells"], board["preset"], 0.5, bal_r_ohm=board["bal_r_ohm"])
    applied = drv.configure(afe.chip_limits(bms.protection.p))
    out = []
    runner = pack.PackRunner(bms, drv, board, out.append)
    for c in board["afe"]["channels"]:
        chip.cell_mv[c - 1] = 3350
    chip.current_a = 0.5
    return runner, chip, out, applied


def _estimate(p):
    # flags and cell count (protocol.unpack_estimate uses step slices, which MicroPython lacks: a host function)
    return {"flags": p[4] | (p[5] << 8), "n": p[15]}  # v3: t u32, flags u16, state u8, limits 2 x f32, n


def _frames(out):
    r = pr.FrameReader()
    frames = []
    for b in out:
        frames.extend(r.feed(b))
    return frames


def test_a_real_pack_samples_itself_streams_estimates_and_drives_the_chip():
    runner, chip, out, applied = _runner()
    assert applied["cov_v"] > 3.7
    for k in range(1, 6):
        runner.sample(1000 * k)
    frames = _frames(out)
    est = [_estimate(p) for t, s, p in frames if t == pr.ESTIMATE]
    assert len(est) == 5 and [s for t, s, p in frames] == [1, 2, 3, 4, 5]
    assert est[-1]["flags"] & pr.FLAG_CHARGE_ALLOWED and est[-1]["n"] == 4
    assert chip.fets() == (True, True)  # the firmware switched both on
    # the chip trips on its own (a cell beyond COV): the firmware reports it once and opens the charge path too
    chip.cell_mv[0] = 4200
    chip.step()
    del out[:]
    runner.sample(6000)
    runner.sample(7000)
    frames = _frames(out)
    kinds = [pr.unpack_event(p)[1] for t, s, p in frames if t == pr.EVENT]
    assert kinds.count(ev.OVER_VOLTAGE) >= 1
    chg, dsg = chip.fets()
    assert not chg and not runner.afe.chg_on


def test_the_board_s_balancing_resistor_reaches_the_balancer():
    runner, chip, out, applied = _runner()
    assert runner.bms.balancer is not None and runner.bms.balancer.r_ohm == 47.0
    bms = app.Bms(2, "nvp-mg-naf", bal_r_ohm=0.0)  # a board without balancing resistors: nothing is drained
    assert bms.balancer is None


def test_a_broken_bus_fails_safe():
    runner, chip, out, applied = _runner()
    runner.sample(1000)
    runner.afe.i2c.nak_all = True
    del out[:]
    runner.sample(2000)
    est = [_estimate(p) for t, s, p in _frames(out) if t == pr.ESTIMATE][-1]
    assert est["flags"] & pr.FLAG_SENSOR_FAULT and not est["flags"] & pr.FLAG_CHARGE_ALLOWED


def test_the_pack_loop_answers_the_host_between_samples_and_refuses_samples():
    runner, chip, out, applied = _runner()
    incoming = list(pr.encode_frame(pr.HELLO, 77, b"") + pr.encode_frame(pr.SAMPLE, 78, pr.pack_sample(1, 0.0, [3.3] * 4, [])))
    runner.period_ms = 10000  # one sample at t=0, then only host frames

    def read_byte():
        return incoming.pop(0) if incoming else -1

    runner.run(read_byte)
    frames = _frames(out)
    types = [(t, s) for t, s, p in frames]
    assert (pr.ESTIMATE, 1) in types and (pr.HELLO_REPLY, 77) in types
    nack = [pr.unpack_nack(p) for t, s, p in frames if t == pr.NACK and s == 78]
    assert nack and nack[0][0] == pr.SAMPLE
