# Bottom balancer (bms.balance) on a toy string: runs on CPython (pytest) and on the MicroPython unix port
# (tests/test_on_micropython.py). Against the simulator: tests/test_detect_sim.py.
from bms.balance import BottomBalancer

Q_AH = 2.0
V_STOP = 2.5
R_OHM = 20.0
DT_S = 2.0


class ToyCell:
    """Plated sodium with a cliff: 3.2 V while more than 1 mAh is plated, 1.5 V below (an anode-free cell's empty
    end, coarsely).  The loss per cycle comes off the plated sodium at each charge."""

    def __init__(self, plated_ah, loss_ah=0.0):
        self.plated_ah = plated_ah
        self.loss_ah = loss_ah

    def v(self):
        return 3.2 if self.plated_ah > 0.001 else 1.5

    def step(self, i_a, dt_s):
        self.plated_ah += i_a * dt_s / 3600.0


def _run(cells, bal, n_cycles, t_s=0.0, i_dis_a=-1.0, dis_stop=True, v_nan_cell=None):
    """CC charge of 1.2 Ah, rest, CC discharge until a cell empties (or 0.5 Ah when dis_stop is False), rest 30 min;
    the balancer's resistors drain the cells as a BMS's would."""
    n = len(cells)

    def tick(i_a):
        nonlocal t_s
        for k in range(n):
            i_k = i_a - (cells[k].v() / R_OHM if bal.on[k] else 0.0)
            cells[k].step(i_k, DT_S)
        t_s += DT_S
        v = [c.v() for c in cells]
        if v_nan_cell is not None:
            v[v_nan_cell] = float("nan")
        bal.update(t_s, DT_S, i_a, v)

    for _ in range(n_cycles):
        for _ in range(int(3600 / DT_S)):  # 1.2 A for 1 h
            tick(1.2)
        for c in cells:
            c.plated_ah -= c.loss_ah
        for _ in range(int(600 / DT_S)):
            tick(0.0)
        q = 0.0
        while True:
            tick(i_dis_a)
            q -= i_dis_a * DT_S / 3600.0
            if (dis_stop and min(c.v() for c in cells) < V_STOP) or (not dis_stop and q >= 0.5):
                break
        for _ in range(int(1800 / DT_S)):
            tick(0.0)
    return t_s


def test_every_cell_is_drained_to_the_empty_state_and_its_own_loss_read():
    losses = [0.002, 0.002, 0.004]  # Ah per cycle: cell 2 loses twice as fast
    cells = [ToyCell(0.030, losses[0]), ToyCell(0.012, losses[1]), ToyCell(0.050, losses[2])]
    bal = BottomBalancer(3, Q_AH, V_STOP, R_OHM, max_s=1200.0)  # time to drain a new string's 38 mAh of spread
    got = []
    orig = bal._close

    def close(t_s):
        orig(t_s)
        if bal.fresh:
            got.append([bal.loss[k] if bal.has_loss[k] else None for k in range(3)])

    bal._close = close
    _run(cells, bal, 4)
    assert bal.windows == 4
    for c in cells:  # each ended the last rest empty, not drained further
        assert 0.0 < c.plated_ah <= 0.001
        assert not bal.on[cells.index(c)]
    assert len(got) == 3  # from the second window on, each with every cell's reading
    last = got[-1]
    for k in range(3):
        # loss per charge discharged (~1.2 Ah a cycle), to within one sample's bleed (0.16 A x 2 s = 0.09 mAh)
        assert abs(last[k] * 1.2 - losses[k]) < 0.0002, (k, last)
    assert last[2] > last[0] + 0.0015


def test_a_window_drains_for_at_most_max_s_and_the_cell_reads_once_it_reaches_empty():
    cells = [ToyCell(0.004, 0.002), ToyCell(0.004, 0.002), ToyCell(0.030, 0.002)]  # cell 2: 26 mAh to drain
    bal = BottomBalancer(3, Q_AH, V_STOP, R_OHM, max_s=240.0)  # ~10.7 mAh per window
    t_s = _run(cells, bal, 2)
    assert 0.018 < bal.q_ah[2] < 0.023 and not bal._a_ok[2]  # two capped windows, no anchor yet
    assert bal._a_ok[0] and bal._a_ok[1]
    _run(cells, bal, 2, t_s=t_s)
    assert bal._a_ok[2] and cells[2].plated_ah <= 0.001


def test_a_partial_discharge_drains_nothing():
    cells = [ToyCell(0.8), ToyCell(0.9), ToyCell(1.0)]
    bal = BottomBalancer(3, Q_AH, V_STOP, R_OHM)
    _run(cells, bal, 2, dis_stop=False)
    assert bal.windows == 0
    assert list(bal.q_ah) == [0.0, 0.0, 0.0]


def test_a_charge_that_starts_closes_the_window_and_switches_every_resistor_off():
    cells = [ToyCell(0.040), ToyCell(0.500)]  # cell 1 holds far more than a window can drain
    bal = BottomBalancer(2, Q_AH, V_STOP, R_OHM, max_s=100000.0)
    t_s = 0.0
    while min(c.v() for c in cells) >= V_STOP:
        t_s += DT_S
        for c in cells:
            c.step(-1.0, DT_S)
        bal.update(t_s, DT_S, -1.0, [c.v() for c in cells])
    for _ in range(30):
        t_s += DT_S
        bal.update(t_s, DT_S, 0.0, [c.v() for c in cells])
    assert bal.on == [False, True]
    t_s += DT_S
    bal.update(t_s, DT_S, 1.0, [c.v() for c in cells])
    assert bal.on == [False, False] and not bal.fresh


def test_a_cell_whose_voltage_is_not_a_number_is_never_drained():
    cells = [ToyCell(0.030, 0.002), ToyCell(0.012, 0.002), ToyCell(0.050, 0.002)]
    bal = BottomBalancer(3, Q_AH, V_STOP, R_OHM)
    _run(cells, bal, 2, v_nan_cell=0)
    assert bal.windows == 2
    assert bal.q_ah[0] == 0.0
    assert bal.q_ah[2] > 0.0


def test_bad_construction_is_refused():
    for kw in ({"r_ohm": 0.0}, {"q_nom_ah": -1.0}):
        args = {"n_cells": 2, "q_nom_ah": Q_AH, "v_stop": V_STOP, "r_ohm": R_OHM}
        args.update(kw)
        try:
            BottomBalancer(**args)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (kw,))
