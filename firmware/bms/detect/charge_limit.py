"""The string's plating-risk-aware charge-current limit [A]: Arrhenius in the coldest cell's temperature (the
critical current density falls when cold), scaled down as the cells age and by the worst detector level."""
from math import exp

from bms.config.constants import K_BOLTZMANN_EV, T_REF_K, ZERO_C_K


def charge_limit_a(cfg, q_nom, t_c, ests, worst_level, inhibit):
    if inhibit:
        return 0.0
    t_min = 1e9
    q_min = 1e9
    for c in range(len(ests)):
        if t_c[c] < t_min:
            t_min = t_c[c]
        if ests[c].q_ah < q_min:
            q_min = ests[c].q_ah
    if t_min < cfg["cc_t_min_c"]:
        return 0.0
    f_t = exp(-cfg["cc_ea_ev"] / K_BOLTZMANN_EV * (1.0 / (t_min + ZERO_C_K) - 1.0 / T_REF_K))
    if f_t > 1.0:  # never above its 25 C value
        f_t = 1.0
    age = q_min / q_nom
    if age > 1.0:
        age = 1.0
    elif age < 0.0:
        age = 0.0
    return cfg["cc_max_c"] * q_nom * f_t * age ** cfg["cc_age_exp"] * cfg["cc_risk"][worst_level]
