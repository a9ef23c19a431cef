"""Collects a run's signals (true state and, optionally, sensor readings) into numpy arrays."""

import numpy as np


class Recorder:
    def __init__(self, n_cells, with_sensors=False):
        self.n_cells = n_cells
        self.with_sensors = with_sensors
        self._rows = {k: [] for k in self.keys()}

    def keys(self):
        k = ["t_s", "i_a", "v_cell", "t_c", "soc", "ocv", "i_leak_a", "q_ah"]
        if self.with_sensors:
            k += ["v_meas", "i_meas", "t_meas"]
        return k

    def add(self, st, i_a, meas=None):
        r = self._rows
        r["t_s"].append(st.t_s)
        r["i_a"].append(i_a)
        r["v_cell"].append(st.v_cell)
        r["t_c"].append(st.t_c)
        r["soc"].append(st.soc)
        r["ocv"].append(st.ocv)
        r["i_leak_a"].append(st.i_leak_a)
        r["q_ah"].append(st.q_ah)
        if self.with_sensors:
            v, i, t = meas
            r["v_meas"].append(v)
            r["i_meas"].append(i)
            r["t_meas"].append(t)

    def arrays(self):
        out = {}
        for k, rows in self._rows.items():
            if rows:
                out[k] = np.asarray(rows, dtype=float)
            else:
                out[k] = np.zeros((0,) if k in ("t_s", "i_a", "i_meas") else (0, self.n_cells))
        return out
