# The HIL bench's AFE: the host injects each sample (SAMPLE frames) and reads back the balancing mask and the
# limits from ESTIMATE. Nothing is switched here: the simulator plays the chip.
from bms.hal.afe import Afe


class InjectedAfe(Afe):
    def inject(self, i_a, v_cell, t_c):
        v = self.v_cell
        for k in range(self.n_cells):
            v[k] = v_cell[k]
        t = self.t_c
        for k in range(min(len(t), len(t_c))):
            t[k] = t_c[k]
        self.i_a = i_a
