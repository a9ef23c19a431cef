# The safety floor: absolute limits per chemistry, compiled into the firmware. No configuration can relax
# them: a configuration beyond them is refused (check_config), and a reading beyond them latches FAULT
# (bms.core.diag). Figures and sources: docs/safety.md.
#
# per chemistry: (v_min, v_max, t_min_c, t_max_c, t_charge_min_c, i_chg_c, i_dis_c)
#   v_*            cell voltage [V] the cell must never see (the protections trip inside them)
#   t_min_c/t_max_c  cell temperature [degC] for any current
#   t_charge_min_c   below it charging is blocked whatever the configuration (cold plating: the critical
#                    current density falls to ~0.35x at -20 degC, cell-physics.md)
#   i_chg_c, i_dis_c largest charge / discharge current as a C-rate of the configured nominal capacity
from bms.compat import const

V_MIN = const(0)
V_MAX = const(1)
T_MIN = const(2)
T_MAX = const(3)
T_CHARGE_MIN = const(4)
I_CHG_C = const(5)
I_DIS_C = const(6)

FLOORS = {
    # NVP: practical window ~2.5-3.8 V; its V4+/V5+ step and ether electrolytes' oxidation start above
    "nvp": (1.5, 3.85, -30.0, 65.0, -10.0, 1.0, 3.0),
    # layered oxides: sloping 2.0-4.0 V; O3 phase transitions above ~4.1 V
    "layered-oxide": (1.5, 4.15, -30.0, 65.0, -10.0, 1.0, 3.0),
    # cells a user fits (nabms fit --cathode): NVPF (Na3V2(PO4)2F3) works to ~4.3 V; LFP 2.0-3.65 V (its flat
    # OCV is the estimator's hard case: bench/outside_data.py)
    "nvpf": (1.5, 4.35, -30.0, 65.0, -10.0, 1.0, 3.0),
    "lfp": (2.0, 3.75, -30.0, 65.0, 0.0, 1.0, 3.0),
}
TRIP_MARGIN_V = 0.05  # protection's over-voltage trip sits this far above v_max: it must stay inside the floor
I_ABS_MAX_A = 200.0  # no configured current above this, whatever the capacity (bus bars, the sensor)


def floor_of(chemistry):
    f = FLOORS.get(chemistry)
    if f is None:
        raise ValueError("chemistry: %r has no safety floor (known: %s)" % (chemistry, ", ".join(sorted(FLOORS))))
    return f


def check_config(p):
    """Raise ValueError "field: rule" when the validated cell parameters p reach beyond the floor of their
    chemistry (p["cathode"]); return the floor tuple."""
    f = floor_of(p.get("cathode"))
    q = p["q_ah"]
    if p["v_max"] + TRIP_MARGIN_V > f[V_MAX]:
        raise ValueError("v_max: %.3f V + %.2f V trip margin exceeds the %s floor %.2f V" % (p["v_max"], TRIP_MARGIN_V, p["cathode"], f[V_MAX]))
    if p["v_min"] - 0.2 < f[V_MIN]:
        raise ValueError("v_min: %.3f V - 0.2 V trip margin is below the %s floor %.2f V" % (p["v_min"], p["cathode"], f[V_MIN]))
    if p["t_max_c"] > f[T_MAX]:
        raise ValueError("t_max_c: %.1f degC exceeds the floor %.1f degC" % (p["t_max_c"], f[T_MAX]))
    if p["t_min_c"] < f[T_MIN]:
        raise ValueError("t_min_c: %.1f degC is below the floor %.1f degC" % (p["t_min_c"], f[T_MIN]))
    if p["i_chg_max_a"] > f[I_CHG_C] * q or p["i_chg_max_a"] > I_ABS_MAX_A:
        raise ValueError("i_chg_max_a: %.3g A exceeds the floor %.2gC of %.3g Ah" % (p["i_chg_max_a"], f[I_CHG_C], q))
    if p["i_dis_max_a"] > f[I_DIS_C] * q or p["i_dis_max_a"] > I_ABS_MAX_A:
        raise ValueError("i_dis_max_a: %.3g A exceeds the floor %.2gC of %.3g Ah" % (p["i_dis_max_a"], f[I_DIS_C], q))
    return f
