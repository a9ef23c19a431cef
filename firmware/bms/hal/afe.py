# The analog front end (AFE) as the firmware sees it, whatever the chip: cell voltages, pack current,
# temperatures and the chip's own fault flags in; balancing mask and charge/discharge switches out.
# One driver per chip (bms.hal.injected, bq76952, discrete); each fills the same arrays, so the tick reads
# them without allocating. After LibreSolar's bms_ic ops table: configure() returns what the chip applied.
from array import array

from bms.compat import const

# fault flags a chip reports by itself (its hardware protections), one bit each, in `faults`
FAULT_COV = const(0x01)  # cell over-voltage
FAULT_CUV = const(0x02)  # cell under-voltage
FAULT_OCC = const(0x04)  # over-current in charge
FAULT_OCD = const(0x08)  # over-current in discharge
FAULT_SCD = const(0x10)  # short circuit in discharge
FAULT_OT = const(0x20)  # over-temperature (charge, discharge or the chip's own)
FAULT_UT = const(0x40)  # under-temperature
FAULT_COMM = const(0x80)  # the chip did not answer, or answered with a bad CRC/checksum: readings held
FAULT_NAMES = ("cov", "cuv", "occ", "ocd", "scd", "ot", "ut", "comm")

# where the chip's own trips sit, beyond the firmware's diagnostics rows (bms.core.protection trips first at
# v_max + 0.05 V / v_min - 0.2 V / 1.25 x the current limits): the chip is the backstop when the MCU hangs
COV_MARGIN_V = 0.10
CUV_MARGIN_V = 0.30
OC_FACTOR = 1.5
SC_FACTOR = 3.0
OT_MARGIN_C = 5.0


def chip_limits(p):
    """The hardware protection levels an AFE is programmed with, from a validated cell-parameter dict (its
    operating limits): {cov_v, cuv_v, occ_a, ocd_a, scd_a, otc_c, otd_c, utc_c} plus delays in ms."""
    return {
        "cov_v": p["v_max"] + COV_MARGIN_V, "cov_ms": 1000,
        "cuv_v": p["v_min"] - CUV_MARGIN_V, "cuv_ms": 2000,
        "occ_a": OC_FACTOR * p["i_chg_max_a"], "occ_ms": 500,
        "ocd_a": OC_FACTOR * p["i_dis_max_a"], "ocd_ms": 500,
        "scd_a": SC_FACTOR * p["i_dis_max_a"],
        "otc_c": p["t_max_c"] + OT_MARGIN_C, "otd_c": p["t_max_c"] + OT_MARGIN_C,
        "utc_c": p["t_min_c"] - OT_MARGIN_C,
    }


class Afe:
    """The interface. A driver fills v_cell [V], i_a [A, > 0 charge], t_c [degC] and faults in read()."""

    def __init__(self, n_cells, n_temps):
        self.n_cells = n_cells
        self.v_cell = array("f", [0.0] * n_cells)
        self.t_c = array("f", [25.0] * n_temps)
        self.i_a = 0.0
        self.faults = 0
        self.balance_mask = 0  # bit k: cell k's balancing resistor on
        self.chg_on = False
        self.dsg_on = False

    def configure(self, limits):
        """Program the chip's own protections (chip_limits()); returns the levels it applied (quantised,
        clamped to what it can do); an empty dict when it protects nothing by itself."""
        return {}

    def read(self):
        """Fill v_cell, i_a, t_c, faults from the chip; returns faults. Does not allocate."""
        return self.faults

    def set_balance(self, mask):
        self.balance_mask = mask

    def set_switches(self, chg_on, dsg_on):
        self.chg_on = chg_on
        self.dsg_on = dsg_on
