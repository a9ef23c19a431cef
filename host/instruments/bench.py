"""A simulated string driven through instruments: the profile's current goes to the supply/load, the cells'
voltages to the cell emulator; what the instruments read back is what the string's sensors then measure."""

from __future__ import annotations

import numpy as np

from host.instruments import InstrumentError
from host.instruments.scpi import CellEmulator, SupplyLoad, open_resource


class InstrumentedPack:
    """sim.pack.Pack's interface (step, set_bleed, labels, ...) with the current and voltages through SCPI."""

    def __init__(self, pack, visa: dict | None):
        visa = visa or {}
        if "supply" not in visa or "emulator" not in visa:
            raise InstrumentError("target instruments needs --visa supply=RESOURCE,emulator=RESOURCE[,backend=@sim]")
        backend = visa.get("backend", "")
        self.pack = pack
        self.supply = SupplyLoad(open_resource(visa["supply"], backend), v_limit_v=float(np.max(pack.v_max)) + 0.1)
        self.emulator = CellEmulator(open_resource(visa["emulator"], backend))
        if pack.n_cells > self.emulator.n_channels:
            raise InstrumentError("cell emulator has %d channels, the scenario %d cells" % (self.emulator.n_channels, pack.n_cells))
        self.emulator.set_voltages(pack.state.v_cell)
        self.emulator.output(True)
        self.supply.output(True)

    def __getattr__(self, name):
        return getattr(self.pack, name)

    def step(self, i_a, dt_s):
        self.supply.set_current(i_a)
        st = self.pack.step(self.supply.measure_current(), dt_s)
        self.emulator.set_voltages(st.v_cell)
        st.v_cell = np.asarray(self.emulator.measure_voltages(self.pack.n_cells))
        return st

    def close(self):
        for inst in (self.supply, self.emulator):
            try:
                inst.output(False)
            except InstrumentError:
                pass
            inst.close()
