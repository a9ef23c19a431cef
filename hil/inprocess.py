"""The firmware's whole sample pipeline (bms.core.app.Bms.on_sample: plausibility, balancer, estimators,
detectors, protections) driven in process, for benches and tests; no pty, no protocol.

    board = InProcessBms(n_cells, "nvp-mg-naf", detect_overrides={"nu_base_n": 3}, balance=True)
    board.trace = lambda cell, channel, t_s, value: ...      # every detector evaluation (threshold sweeps)
    events = board.sample(t_s, i_a, v_cell, t_c)              # [(cell, kind, severity, t_s, value), ...]
    board.bms.balancer.on                                     # the resistors to switch in the simulator

run_closed_loop() drives a simulated string (sim.cycler.Cycler, sim.sensors.SensorModel) through it, with the
firmware's balancing resistors switched in the simulator.
"""
from bms.balance import R_OHM_DEFAULT
from bms.config import cell as cell_config
from bms.config import detect as detect_config
from bms.core.app import Bms
from bms.detect.plating import build


class InProcessBms:
    def __init__(self, n_cells, preset, detect_overrides=None, balance=True, bal_r_ohm=R_OHM_DEFAULT):
        bal_r_ohm = bal_r_ohm if balance else 0.0  # 0: a board without balancing resistors
        self.bms = Bms(n_cells, preset, bal_r_ohm=bal_r_ohm)
        if detect_overrides:  # the same string with other detector thresholds
            cfg = detect_config.preset(preset, detect_overrides)
            self.bms.balancer, self.bms.detectors = build(n_cells, cell_config.preset(preset), cfg, bal_r_ohm)
        self.events = []  # every event so far, times in s
        self.t_s = 0.0  # the last sample's time
        self._trace = None

    @property
    def trace(self):
        return self._trace

    @trace.setter
    def trace(self, fn):
        # the detectors' clock is the application's estimator time (it skips held samples and bridged gaps): a
        # trace is stamped with the sample's own time instead
        self._trace = fn
        self.bms.detectors.trace = None if fn is None else (lambda c, ch, t_s, v: fn(c, ch, self.t_s, v))

    def sample(self, t_s, i_a, v_cell, t_c):
        """One sample through Bms.on_sample (its clock is in ms); the events it raised, times in s."""
        bms = self.bms
        self.t_s = t_s
        bms.on_sample(int(round(t_s * 1000.0)), i_a, v_cell, t_c)
        out = [(e[0], e[1], e[2], e[3] / 1000.0, e[4]) for e in bms.events]
        self.events.extend(out)
        return out


def run_closed_loop(board, cycler, sensors, t_max_s=float("inf")):
    """Cycle the simulated string, measure it, feed the firmware, switch the resistors it asks for."""
    pack = cycler.pack
    while not cycler.done() and cycler.t < t_max_s:
        t, i, _, st = cycler.step()
        v_m, i_meas, t_m = sensors.measure(t, i, st)
        board.sample(t, i_meas, v_m.tolist(), t_m.tolist())
        bal = board.bms.balancer
        if bal is not None:
            pack.set_bleed(bal.on)
    return board.events
