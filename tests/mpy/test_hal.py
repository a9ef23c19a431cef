# The board layer's drivers against register-level emulations of their chips (tests/mpy/chips.py), on CPython
# (tests/test_mpy_modules_on_cpython.py) and on MicroPython (tests/test_on_micropython.py, tests/test_qemu.py).
import sys

from bms.config import cell as cellparams
from bms.hal import afe
from bms.hal.bq76952 import BQ76952
from bms.hal.discrete import DiscreteAfe
from bms.hal.ina228 import INA228
from bms.hal.ntc import Ntc
from chips import FakeAdc, FakeBQ76952, FakeI2C, FakeINA228

NVP = cellparams.validate(cellparams.preset("nvp-mg-naf"))
CHANNELS = (1, 2, 3, 16)  # the TRM's wiring for 4 cells: VC1..VC3 and VC16


R_SHUNT = 0.005  # 5 mOhm: the chip's OCC steps are 2 mV, 0.4 A here (a 1 mOhm shunt could not trip below 4 A)


def _bq(crc=False, channels=CHANNELS):
    chip = FakeBQ76952(crc=crc, r_shunt_ohm=R_SHUNT)
    drv = BQ76952(FakeI2C(chip), channels, ts=(1, 3), crc=crc, r_shunt_ohm=R_SHUNT)
    return chip, drv


def _close(a, b, tol):
    return abs(a - b) <= tol


def test_bq76952_configure_programs_the_protections_and_returns_what_the_chip_applied():
    for crc in (False, True):
        chip, drv = _bq(crc)
        want = afe.chip_limits(NVP)
        got = drv.configure(want)
        assert not chip.cfg_update and chip.bad_checksums == 0 and chip.crc_errors == 0
        assert chip.dm_value(0x9304) == (1 << 0) | (1 << 1) | (1 << 2) | (1 << 15)
        assert _close(got["cov_v"], want["cov_v"], 0.0253) and _close(got["cuv_v"], want["cuv_v"], 0.0253)
        q = 2.0 / (R_SHUNT * 1000)  # one OCC/OCD step [A]
        assert _close(got["occ_a"], want["occ_a"], q / 2) and _close(got["ocd_a"], want["ocd_a"], q / 2)
        assert got["scd_a"] >= want["scd_a"]  # the lowest setting at or above the level asked
        assert got["otc_c"] == round(want["otc_c"]) and got["utc_c"] == round(want["utc_c"])
        assert got["protections"] == (0xBC, 0x31)
        # the chip holds exactly what the driver says it applied
        assert chip.dm_value(0x9278) * 50.6 / 1000 == got["cov_v"]


def test_bq76952_configure_clamps_to_what_the_chip_can_do():
    chip, drv = _bq()
    lim = afe.chip_limits(NVP)
    lim["cuv_v"] = 0.2  # below the CUV range (20 x 50.6 mV)
    lim["ocd_a"] = 1000.0
    got = drv.configure(lim)
    assert got["cuv_v"] == 20 * 50.6 / 1000 and got["ocd_a"] == 100 * 2.0 / (R_SHUNT * 1000)


def test_bq76952_reads_cells_on_their_channels_current_temperatures():
    for crc in (False, True):
        chip, drv = _bq(crc)
        drv.configure(afe.chip_limits(NVP))
        for c in range(16):
            chip.cell_mv[c] = 9999  # unused inputs must not be read as cells
        for k, c in enumerate(CHANNELS):
            chip.cell_mv[c - 1] = 3300 + 10 * k
        chip.current_a = -2.5
        chip.ts_c = [21.0, 99.0, 27.5]
        assert drv.read() == 0
        assert [round(v * 1000) for v in drv.v_cell] == [3300, 3310, 3320, 3330]
        assert _close(drv.i_a, -2.5, 0.0011)
        assert _close(drv.t_c[0], 21.0, 0.06) and _close(drv.t_c[1], 27.5, 0.06)


def test_bq76952_protects_by_itself_and_reports_its_flags():
    chip, drv = _bq()
    drv.configure(afe.chip_limits(NVP))
    for c in CHANNELS:
        chip.cell_mv[c - 1] = 3300
    drv.set_switches(True, True)
    chip.step()
    assert drv.read() == 0 and drv.fet_status() == (True, True)
    chip.cell_mv[CHANNELS[2] - 1] = int(1000 * (NVP["v_max"] + 0.2))  # beyond the chip's COV
    chip.step()
    assert drv.read() & afe.FAULT_COV
    assert drv.fet_status() == (False, True)  # charge off by the chip alone; discharge still allowed
    chip.cell_mv[CHANNELS[2] - 1] = 3300
    chip.current_a = -100.0  # a short: beyond SCD
    chip.step()
    f = drv.read()
    assert f & afe.FAULT_SCD and f & afe.FAULT_OCD and drv.fet_status() == (True, False)


def test_bq76952_balancing_mask_and_switches_map_to_the_chip():
    chip, drv = _bq()
    drv.set_balance(0b1010)  # cells 1 and 3 -> VC2 and VC16
    assert chip.cb_active == (1 << 1) | (1 << 15) and drv.balance_mask == 0b1010
    drv.set_switches(False, True)
    assert chip.fets() == (False, True)
    drv.set_switches(True, False)
    assert chip.fets() == (True, False)
    drv.set_switches(False, False)
    assert chip.fets() == (False, False)
    drv.set_switches(True, True)
    assert chip.fets() == (True, True)


def test_bq76952_bus_and_crc_errors_hold_the_readings_and_flag_comm():
    chip, drv = _bq(crc=True)
    for c in CHANNELS:
        chip.cell_mv[c - 1] = 3400
    assert drv.read() == 0
    chip.crc = False  # the chip stops sending CRCs (or noise on the line): every check fails
    chip.cell_mv[0] = 2000
    assert drv.read() & afe.FAULT_COMM and round(drv.v_cell[0] * 1000) == 3400
    drv.i2c.nak_all = True
    assert drv.read() & afe.FAULT_COMM and drv.comm_errors == 2


def test_bq76952_refuses_a_wiring_it_cannot_have():
    for bad in ((1, 2), (0, 1, 2), (1, 2, 17)):
        try:
            BQ76952(FakeI2C(), bad)
        except ValueError:
            continue
        raise AssertionError("accepted channels %r" % (bad,))


class _NullI2C:
    # transfers that touch nothing: what remains allocated is the driver's own
    def readfrom_mem_into(self, addr, reg, buf):
        pass

    def writeto_mem(self, addr, reg, buf):
        pass


def test_bq76952_read_allocates_only_its_float_results():
    if sys.implementation.name != "micropython":
        return  # heap accounting needs MicroPython's gc.mem_alloc
    import gc

    for crc in (False, True):
        drv = BQ76952(_NullI2C(), tuple(range(1, 17)), ts=(1, 2, 3), crc=crc)
        drv.read()
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        drv.read()
        used = gc.mem_alloc() - a0
        gc.enable()
        # one boxed float per value (16 cells, current, 3 temperatures; 32 B each on the 64-bit unix port,
        # none where the port packs floats in the object word): nothing else
        assert used <= 32 * (16 + 1 + 3), used


def test_ina228_calibrates_and_reads_current_bus_voltage_and_temperature():
    for fine, i_max, r in ((False, 20.0, 0.002), (True, 10.0, 0.002)):
        chip = FakeINA228(r_shunt_ohm=r)
        drv = INA228(FakeI2C(chip), r_shunt_ohm=r, i_max_a=i_max, fine_range=fine)
        got = drv.configure()
        assert got["shunt_cal"] == round(13107.2e6 * i_max / 524288 * r * (4 if fine else 1))
        assert got["fine_range"] == fine and got["adc_config"] >> 12 == 0xF
        for i_a in (-i_max * 0.9, -1.0, 0.0, 0.37, i_max * 0.9):
            chip.current_a = i_a
            assert _close(drv.current_a(), i_a, 3 * i_max / 524288 + 1e-4 * abs(i_a)), (fine, i_a, drv.current_a())
        chip.vbus_v = 3.456
        chip.die_c = -12.5
        assert _close(drv.vbus_v(), 3.456, 2e-4) and _close(drv.die_c(), -12.5, 0.01)


def test_ina228_refuses_what_it_cannot_do():
    chip = FakeINA228()
    chip.regs[0x3F] = 0x2271  # an INA227-like id
    for drv, err in ((INA228(FakeI2C(chip), 0.002, 20.0), OSError), (INA228(FakeI2C(FakeINA228()), 0.002, 50.0, fine_range=True), ValueError)):
        try:
            drv.configure()
        except err:
            continue
        raise AssertionError("configured")


def test_ntc_beta_and_steinhart_hart_read_the_temperature_and_a_broken_sensor_reads_nan():
    import math

    adc = FakeAdc(r_fixed_ohm=10000.0)
    beta = Ntc(adc, 10000.0, beta=3950.0)
    # Steinhart-Hart coefficients fitted through three points of the same Beta curve: the two models agree there
    pts = []
    for t in (-20.0, 25.0, 70.0):
        adc.set_temperature(t)
        pts.append((1.0 / (t + 273.15), math.log(adc.r_ohm)))
    (y1, l1), (y2, l2), (y3, l3) = pts
    g2 = (y2 - y1) / (l2 - l1)
    g3 = (y3 - y1) / (l3 - l1)
    c = (g3 - g2) / (l3 - l2) / (l1 + l2 + l3)
    b = g2 - c * (l1 * l1 + l1 * l2 + l2 * l2)
    a = y1 - (b + l1 * l1 * c) * l1
    sh = Ntc(adc, 10000.0, sh=(a, b, c))
    for t in (-20.0, 0.0, 25.0, 45.0, 70.0):
        adc.set_temperature(t)
        assert _close(beta.read_c(), t, 0.1), (t, beta.read_c())
        assert _close(sh.read_c(), t, 0.5), (t, sh.read_c())
    adc.r_ohm = 1e9  # open
    assert beta.read_c() != beta.read_c()
    adc.r_ohm = 0.0  # shorted
    assert beta.read_c() != beta.read_c()


class _Pin:
    def __init__(self):
        self.v = None

    def value(self, v):
        self.v = v


def test_discrete_afe_reads_one_cell_on_the_ina228_and_drives_its_pins():
    chip = FakeINA228(r_shunt_ohm=0.002)
    adc = FakeAdc()
    chg, dsg, bal = _Pin(), _Pin(), _Pin()
    a = DiscreteAfe(INA228(FakeI2C(chip), 0.002, 20.0), [Ntc(adc, 10000.0)], bal_pins=[bal], chg_pin=chg,
                    dsg_pin=dsg, active_high=False)
    assert a.configure({}) == {} and (chg.v, dsg.v) == (1, 1)  # active low: off is high
    chip.vbus_v = 3.3
    chip.current_a = 1.5
    adc.set_temperature(30.0)
    assert a.read() == 0
    assert _close(a.v_cell[0], 3.3, 2e-4) and _close(a.i_a, 1.5, 1e-3) and _close(a.t_c[0], 30.0, 0.1)
    a.set_switches(True, False)
    a.set_balance(1)
    assert (chg.v, dsg.v, bal.v) == (0, 1, 0)
    a.ina.i2c.nak_all = True
    assert a.read() == afe.FAULT_COMM
