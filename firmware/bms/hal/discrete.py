# An AFE built from discrete parts: an INA228 for the current (and, on a one-cell board, the cell voltage on
# its VBUS pin), NTCs on the MCU's ADC, cell taps on ADC inputs through dividers, and GPIO-driven balancing
# resistors and charge/discharge switches. It protects nothing by itself: the firmware's protections are
# the only ones, so the board must add a fuse.
from bms.hal.afe import FAULT_COMM, Afe


class DiscreteAfe(Afe):
    def __init__(self, ina, ntcs, taps=None, bal_pins=(), chg_pin=None, dsg_pin=None, active_high=True):
        """taps: [(adc, ratio)] measuring the string's k-th tap (cumulative voltage = read_u16 / 65535 x ratio);
        None: one cell, read on the INA228's VBUS."""
        n = len(taps) if taps else 1
        Afe.__init__(self, n, len(ntcs))
        self.ina = ina
        self.ntcs = ntcs
        self.taps = taps
        self.bal_pins = bal_pins
        self.chg_pin = chg_pin
        self.dsg_pin = dsg_pin
        self.on = 1 if active_high else 0
        self.comm_errors = 0

    def configure(self, limits):
        self.ina.configure()
        self.set_switches(False, False)
        return {}

    def read(self):
        try:
            self.i_a = self.ina.current_a()
            v = self.v_cell
            if self.taps is None:
                v[0] = self.ina.vbus_v()
            else:
                below = 0.0
                for k in range(self.n_cells):
                    adc, ratio = self.taps[k]
                    tap = adc.read_u16() * ratio / 65535.0
                    v[k] = tap - below
                    below = tap
        except OSError:
            self.comm_errors += 1
            self.faults = FAULT_COMM
            return self.faults
        t = self.t_c
        for k in range(len(self.ntcs)):
            t[k] = self.ntcs[k].read_c()
        self.faults = 0
        return 0

    def set_balance(self, mask):
        for k in range(len(self.bal_pins)):
            self.bal_pins[k].value(self.on if mask & (1 << k) else 1 - self.on)
        self.balance_mask = mask

    def set_switches(self, chg_on, dsg_on):
        if self.chg_pin is not None:
            self.chg_pin.value(self.on if chg_on else 1 - self.on)
        if self.dsg_pin is not None:
            self.dsg_pin.value(self.on if dsg_on else 1 - self.on)
        self.chg_on = chg_on
        self.dsg_on = dsg_on
