"""Bottom balancing of an anode-free string, and each cell's sodium loss per cycle read from it.

    bal = BottomBalancer(n_cells, q_nom_ah, v_stop=p["v_min"], r_ohm=20.0)
    bal.update(t_s, dt_s, i_a, v_cell, soc_low)   # every sample, before the estimators: decides the next interval
                                                  # (soc_low: the lowest cell's SoC estimate from the last one)
    bal.on[c]          # cell c's balancing resistor is switched on for the next interval (drive the pins)
    bal.i_a[c]         # its bleed current over the last interval [A] (>= 0): the cell's current is i_a - bal.i_a[c]
    bal.q_ah[c]        # charge bled from cell c so far [Ah]
    bal.loss[c]        # set when bal.fresh: cell c's sodium loss per cycle [fraction of the charge discharged]

Why the bottom: a string's discharge ends when one cell runs out of plated sodium; the others stop with what
they hold in reserve, and while a cell holds sodium in reserve, losing it faster leaves no trace at its
terminals (its cathode's state does not depend on it). Empty, though, is a sharp state in an anode-free cell:
the voltage collapses by the bare collector's potential within ~1 mAh. So at the rest after a discharge that
emptied a cell (the string's lowest cell at v_stop + cut_dv or below, and its estimated SoC below soc_open: a
load pulse that dips a cell with sodium in reserve does not open it), each cell's resistor drains it until its
voltage under that small current falls below v_stop: every cell then ends the cycle in the same state, and

    loss_c = (string's net charge in) - (charge bled from c)      between two such rests

is that cell's own loss, per cell, by coulomb counting alone (no OCV table). The string's current-sensor offset
and noise are the same in every cell's reading. A cell that is already below v_stop when the window opens (the
one that set the cut-off, stopped deeper by the discharge's last sample) anchors as it is: its residue then
jitters by up to one discharge sample's charge, which cancels in the sum of two readings.

A window closes when every cell is done, after max_s, or as soon as the string current moves (a charge starts):
a cell that did not reach v_stop reads nothing this time, and its next reading spans the cycles in between
(only the two ends must be empty).
"""

from bms.config.constants import I_NEAR_REST_C
from bms.sums import ChargeCount, Sums, floats

REST = 0
BLEED = 1  # a window is open: resistors on until each cell is empty
R_OHM_DEFAULT = 20.0  # the balancing resistor per cell until the board's configuration says (bms.config.board)


class BottomBalancer:
    def __init__(self, n_cells, q_nom_ah, v_stop, r_ohm, max_s=240.0, cut_dv=0.3, soc_open=0.03, i_rest_c=I_NEAR_REST_C,
                 min_dis_frac=0.5, seg_min_s=60.0):
        if n_cells < 1:
            raise ValueError("n_cells must be >= 1")
        if not r_ohm > 0.0:
            raise ValueError("r_ohm must be a positive balancing resistance in ohm, got %r" % (r_ohm,))
        if not q_nom_ah > 0.0:
            raise ValueError("q_nom_ah must be a positive capacity in Ah, got %r" % (q_nom_ah,))
        self.n = n = n_cells
        self.q_nom = q_nom_ah
        self.v_stop = v_stop
        self.r_ohm = r_ohm
        self.max_s = max_s
        self.cut_dv = cut_dv
        self.soc_open = soc_open
        self.i_rest_a = i_rest_c * q_nom_ah  # the string is at rest below this (a charger's start is far above)
        self.min_dis_ah = min_dis_frac * q_nom_ah
        self.seg_min_s = seg_min_s
        self.on = [False] * n
        self.i_a = floats(n)
        self._q = Sums(n)  # compensated: these sums grow by a few mAh every cycle for the string's life
        self.q_ah = self._q.v  # charge bled from each cell so far [Ah]
        self.bleeding = False  # some cell bled during the last interval
        self.state = REST
        self.windows = 0  # bleed windows opened so far
        self._count = ChargeCount()
        self.ah_net = 0.0  # the string's counted charge [Ah] (charge > 0)
        self.ah_dis = 0.0
        self._v_prev = floats(n)
        self._dis_t0 = None  # start of the current discharge segment
        self._v_low = 0.0  # the lowest cell voltage seen in the current discharge
        self._t_open = 0.0
        self._done = [False] * n  # reached v_stop in this window
        # each cell's anchor: the counters when it last ended a window empty
        self._a_ok = [False] * n
        self._a_net = floats(n)
        self._a_q = floats(n)
        self._a_dis = floats(n)
        self.loss = floats(n)
        self.has_loss = [False] * n
        self.fresh = False  # a window closed in the last update with readings in has_loss/loss

    def update(self, t_s, dt_s, i_a, v_cell, soc_low=0.0):
        n = self.n
        self.fresh = False
        # 1. the last interval: the string's count, and each resistor's charge (its current from the cell's
        # voltage at both ends of the interval)
        count = self._count
        count.add(i_a * dt_s / 3600.0)
        self.ah_net = count.net
        self.ah_dis = count.dis
        any_on = False
        for c in range(n):
            v = v_cell[c]
            if self.on[c] and v == v:
                i_b = 0.5 * (v + self._v_prev[c]) / self.r_ohm
                if i_b < 0.0:
                    i_b = 0.0
                self.i_a[c] = i_b
                self._q.add(c, i_b * dt_s / 3600.0)
                any_on = True
            else:
                self.i_a[c] = 0.0
            self._v_prev[c] = v
        self.bleeding = any_on
        # 2. the string's phase
        if i_a < -self.i_rest_a:
            low = _lowest(v_cell)
            if self._dis_t0 is None:
                self._dis_t0 = t_s
                self._v_low = low
            elif low < self._v_low:  # the knee can fall between two samples: the lowest seen in the discharge
                self._v_low = low
            if self.state == BLEED:
                self._close(t_s)
            self.state = REST
            return
        if i_a > self.i_rest_a:
            self._dis_t0 = None
            if self.state == BLEED:
                self._close(t_s)
            self.state = REST
            return
        # at rest: the first sample after a discharge opens a window if that discharge emptied a cell (after a
        # partial one every cell holds sodium in reserve, and draining them all would throw the charge away). The
        # lowest voltage seen in it or now: a cut-off between two samples shows in the cell that ran out, still on
        # its steep empty branch
        if self._dis_t0 is not None:
            long_enough = t_s - self._dis_t0 >= self.seg_min_s
            self._dis_t0 = None
            low = _lowest(v_cell)
            if self._v_low < low:
                low = self._v_low
            if long_enough and low <= self.v_stop + self.cut_dv and soc_low <= self.soc_open:
                self._open(t_s, v_cell)
                return
        if self.state == BLEED:
            self._step(t_s, v_cell)

    def abort(self):
        """Every resistor off at once (the measurements cannot be trusted). What they drained meanwhile is not
        counted, so every cell's next reading starts from its next empty state."""
        for c in range(self.n):
            self.on[c] = False
            self._done[c] = False
            self._a_ok[c] = False
        self._dis_t0 = None
        self.state = REST

    def _open(self, t_s, v_cell):
        self.state = BLEED
        self.windows += 1
        self._t_open = t_s
        for c in range(self.n):
            self._done[c] = False
        self._step(t_s, v_cell)

    def _step(self, t_s, v_cell):
        """Each cell's resistor stays on while the cell holds sodium above v_stop; off when it is below (or its
        reading is not a number: a cell that cannot be measured is not drained)."""
        n = self.n
        left = False
        for c in range(n):
            v = v_cell[c]
            if self._done[c]:
                continue
            if v != v or v <= 0.0:
                self.on[c] = False
                continue
            if v < self.v_stop:
                self.on[c] = False
                self._done[c] = True
            else:
                self.on[c] = True
                left = True
        if not left or t_s - self._t_open >= self.max_s:
            self._close(t_s)
            self.state = REST

    def _close(self, t_s):
        """Every resistor off; each cell that ended the window empty reads its loss since its previous anchor."""
        n = self.n
        m = 0
        for c in range(n):
            self.on[c] = False
            self.has_loss[c] = False
            if not self._done[c]:
                continue  # not empty now: its anchor stays, the next reading spans the cycles in between
            if self._a_ok[c]:
                dis = self.ah_dis - self._a_dis[c]
                if dis >= self.min_dis_ah:
                    self.loss[c] = ((self.ah_net - self._a_net[c]) - (self.q_ah[c] - self._a_q[c])) / dis
                    self.has_loss[c] = True
                    m += 1
            self._a_ok[c] = True
            self._a_net[c] = self.ah_net
            self._a_q[c] = self.q_ah[c]
            self._a_dis[c] = self.ah_dis
            self._done[c] = False
        self.fresh = m > 0


def _lowest(v_cell):
    """The lowest cell voltage that is a number (a cell that cannot be measured says nothing; 1e9 if none)."""
    low = 1e9
    for v in v_cell:
        if v == v and v < low:
            low = v
    return low
