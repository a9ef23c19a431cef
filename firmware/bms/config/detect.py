# Thresholds of the plating-anomaly detectors (bms.detect), as data: defaults (the Mg/NaF interphase), composed
# with a cathode's and an interphase's own values (like PyBaMM's parameter sets). Same preset names as
# bms.config.cell. A config is a plain dict so it can travel over the protocol; validate() names a wrong key.
# Where the defaults come from, and which were chosen on the bench's threshold sweep: docs/detectors.md.
from bms.config.constants import I_NEAR_REST_C, I_REST_C, T_MIN_CHARGE_C

_BASE = {
    # --- phase tracking (string current) ---
    "i_rest_c": I_REST_C,  # |i| below this C-rate counts as rest ...
    "i_rest_k": 3.5,  # ... or below |offset| + this many sigmas of the current at rest (learnt), ...
    "i_rest_max_c": I_NEAR_REST_C,  # ... but never above this C-rate
    "seg_min_s": 60.0,  # shorter current segments are blips, not phases
    "q_nom_ah": 0.0,  # 0: take the estimators' capacity at the first update
    "ocv_avg_s": 60.0,  # rest voltage averaged over about this long reads as the relaxed OCV
    # --- soft short: late-rest voltage decay over the local OCV slope, against the string's median ---
    "ss_settle_s": 900.0,  # skip the start of a rest: relaxation
    "ss_min_fit_s": 600.0,  # fit the decay over at least this long
    "ss_eval_s": 1800.0,  # during long rests, re-evaluate every this many seconds of fit
    "ss_min_slope_v": 1.0,  # OCV slope [V per unit SoC] below which a leak is invisible in the voltage
    "ss_warn_c": 0.0028,  # leakage C-rate levels (ROC)
    "ss_alarm_c": 0.0035,
    "ss_crit_c": 0.2,
    "ss_k_sigma": 4.0,  # the fit's leak is divided by max(1, k * its noise sd / ss_alarm_c)
    # ... and the charge balance over whole cycles between relaxed-OCV anchors on the steep ends (same levels)
    "cb_min_slope_v": 1.0,  # OCV slope [V per unit SoC] at which a relaxed voltage reads the plated charge
    "cb_min_dis_frac": 0.5,  # at least this much capacity discharged between two anchors of the same kind
    "cb_base_n": 3,  # each cell's first rates per anchor kind: its own baseline
    "cb_own_gate": 1.0,  # x ss_warn_c: how far a cell must stand out from the string for its own baseline to count
    # --- dendrite: drops of the pseudo-OCV v - R0*i during a charge ---
    "dd_skip_s": 30.0,  # ignore the charge onset (nucleation, RC settling)
    "dd_win_s": 20.0,  # a drop is measured against the maximum over this window
    "dd_warn_v": 0.012,
    "dd_alarm_v": 0.020,
    "dd_crit_v": 0.300,  # collapse towards a hard short
    "dd_k_sigma": 8.0,  # and at least this many noise sigmas
    "dd_var_n": 100,  # steps that teach the noise before any drop is assessed
    "dd_count_alarm": 3,  # this many warning-size drops in one charge is an alarm too
    "dd_refractory_s": 60.0,
    "dd_di_c": 0.05,  # skip windows in which the current moved more than this C-rate
    # --- dead sodium without a balancer: per-cycle balance at the empty end, CUSUM over the cell's baseline ---
    "dn_soc_empty": 0.15,  # a rest after discharge anchors the count below this SoC (relaxed OCV) ...
    "dn_min_slope_v": 1.0,  # ... where the OCV is steep enough to read the SoC [V per unit SoC]
    "dn_band": 0.003,  # ... for cells within this SoC of the string's emptiest cell
    "dn_min_dis_frac": 0.5,  # at least this much capacity discharged between two anchors
    "dn_max_dsoc": 0.004,  # ... whose relaxed-OCV SoC moved by at most this
    "dn_skip_n": 2,  # first readings not used: the cells settle into their order at the cut-off
    "dn_base_cycles": 5,  # readings that make the baseline
    "dn_k": 0.00017,  # CUSUM slack [fraction of the charge discharged]: half a doubled dead-sodium rate's excess
    "dn_warn": 0.0025,  # CUSUM levels (ROC)
    "dn_alarm": 0.0035,
    "dn_crit": 0.02,
    "dn_k_sigma": 5.0,  # a reading's excess is divided by max(1, k * the integrated current noise / alarm level)
    # the string's loss at its cut-off (the cell that sets it)
    "dn_cut_soc": 0.01,  # read only after discharges that emptied a cell (relaxed-OCV SoC below this)
    "dn_cut_k": 0.00008,  # half the smallest target
    "dn_cut_warn": 0.0006,  # (ROC)
    "dn_cut_alarm": 0.0008,
    "dn_cut_t_ref_s": 18500.0,  # a longer cycle's excess is scaled down to this cycle length
    "dn_cut_rise": 0.001,  # a cut-off cell that kept more sodium than this (SoC) was cut off early: skipped
    # ... with a bottom balancer (bms.balance; its resistor is the board's): each cell's own loss
    "bal_max_s": 240.0,  # a window of draining lasts at most this (<= ss_settle_s)
    "dn_bal_k": 0.00006,  # ~ a third of the smallest target
    "dn_bal_warn": 0.0004,
    "dn_bal_alarm": 0.0005,
    # --- nucleation: overshoot at the onset of a charge from empty ---
    "nu_soc_max": 0.01,  # only charges that start from (nearly) bare collector (relaxed-OCV SoC)
    "nu_q_early": (0.0015, 0.0035),  # charge passed (fraction of capacity) where the overpotential still shows
    "nu_q_late": (0.008, 0.010),  # ... and where it has decayed
    "nu_band": 0.005,  # ... and only for cells within this SoC of the string's emptiest cell
    "nu_base_n": 4,  # baseline: straight line through the cell's previous charges, extrapolated
    "nu_warn_v": 0.003,  # growth of (early - late voltage) over the cell's baseline (ROC)
    "nu_alarm_v": 0.005,
    "nu_crit_v": 0.030,
    "nu_str_warn_v": 0.0025,  # the median growth of the string's cells in one charge (>= 3 cells evaluated)
    "nu_str_alarm_v": 0.003,
    "nu_k_sigma": 5.0,  # evidence divided by max(1, k * its noise sd / alarm level)
    # --- stripping void: polarisation at the end of discharge relative to mid discharge ---
    "sv_mid_lo": 0.45,
    "sv_mid_hi": 0.70,
    "sv_end_lo": 0.08,
    "sv_end_hi": 0.22,
    "sv_min_c": 0.1,  # only discharges above this C-rate (polarisation must be measurable)
    "sv_base_n": 3,
    "sv_warn": 0.17,  # growth of R_end/R_mid over the baseline ratio
    "sv_alarm": 0.2,
    "sv_crit": 3.0,
    # --- model mismatch: mean NIS over a window ---
    "mm_win_s": 600.0,
    "mm_soc_lo": 0.1,  # NIS is averaged only while the string's median SoC is inside this range
    "mm_soc_hi": 0.9,
    "mm_warn": 2.2,
    "mm_alarm": 3.0,
    "mm_crit": 0.0,  # 0: never critical (a model alarm alone should not stop charging)
    "mm_delay_n": 2,  # consecutive windows above a level
    # ... and the step resistance (rest -> load) against the string, over its own baseline
    "mm_step_c": 0.2,  # only current steps of at least this C-rate
    "mm_step_base_n": 3,  # steps per direction (charge, discharge) to learn the baseline
    "mm_step_soc_min": 0.05,  # no charge steps from a rest where the string's emptiest cell reads below this SoC
    "mm_r_warn": 1.14,
    "mm_r_alarm": 1.17,
    "mm_k_sigma": 5.0,  # the growth over 1 is divided by max(1, k * its noise sd / (mm_r_alarm - 1))
    # --- charge-current limit ---
    "cc_max_c": 1.0,  # allowed charge C-rate at 25 C on a fresh cell
    "cc_ea_ev": 0.14,  # Arrhenius of the critical current density
    "cc_t_min_c": T_MIN_CHARGE_C,  # no charging below
    "cc_age_exp": 2.0,  # limit scales as (q_est/q_nom)^age_exp as the cell ages
    "cc_risk": (1.0, 0.7, 0.4, 0.0),  # factor by the worst plating level: none, warning, alarm, critical
    # --- level machine ---
    "hyst_frac": 0.8,  # a level clears when the evidence falls below this fraction of its threshold
}

_CATHODES = {
    "nvp": {},
    "layered-oxide": {},
}
_INTERPHASES = {
    "mg-naf": {},
    # bare collectors: a faster baseline loss (the dead-sodium slack and levels scale up), a lower critical current
    "bare-cu": {"dn_k": 0.0007, "dn_warn": 0.006, "dn_alarm": 0.009, "dn_cut_k": 0.0003, "dn_cut_warn": 0.0012,
                "dn_cut_alarm": 0.0016, "dn_bal_k": 0.00022, "dn_bal_warn": 0.0008, "dn_bal_alarm": 0.001,
                "cc_max_c": 0.5},
}

PRESET_NAMES = tuple(sorted(c + "-" + i for c in _CATHODES for i in _INTERPHASES))
_WINDOWS = ("nu_q_early", "nu_q_late")
def preset(name, overrides=None):
    """A fresh dict of detector thresholds for a cell preset ("<cathode>-<interphase>"), with overrides applied
    and validated; ValueError for an unknown name or key."""
    for cathode in _CATHODES:
        interphase = name[len(cathode) + 1:]
        if name.startswith(cathode + "-") and interphase in _INTERPHASES:
            cfg = dict(_BASE)
            cfg.update(_CATHODES[cathode])
            cfg.update(_INTERPHASES[interphase])
            if overrides:
                cfg.update(overrides)
            return validate(cfg)
    raise ValueError("unknown detector preset %r (known: %s)" % (name, ", ".join(PRESET_NAMES)))


def validate(cfg):
    """cfg, or ValueError naming the key: unknown, missing, non-numeric, negative or mis-ordered."""
    for key in cfg:
        if key not in _BASE:
            raise ValueError("detector config: unknown key %r" % (key,))
    for key in _BASE:
        if key not in cfg:
            raise ValueError("detector config lacks %r" % key)
        x = cfg[key]
        if key in _WINDOWS:
            if len(x) != 2 or not 0.0 <= x[0] < x[1] < 0.2:
                raise ValueError("%s must be a window (lo, hi) of charge fractions, 0 <= lo < hi < 0.2" % key)
        elif key == "cc_risk":
            if len(x) != 4 or not all(0.0 <= r <= 1.0 for r in x):
                raise ValueError("cc_risk must be 4 factors in 0..1")
        elif not isinstance(x, (int, float)) or x != x or (x < 0.0 and key != "cc_t_min_c"):
            raise ValueError("detector config %r must be a non-negative number, got %r" % (key, x))
    _check_order(cfg)
    return cfg


def _check_order(cfg):
    from bms.detect.levels import CHANNELS

    for _, _, (warn, alarm, crit), _, _ in CHANNELS:
        if cfg[warn] > cfg[alarm]:
            raise ValueError("%s must not exceed %s" % (warn, alarm))
        if crit is not None and cfg[crit] and cfg[crit] < cfg[alarm]:
            raise ValueError("%s must be 0 (off) or at least %s" % (crit, alarm))
    if cfg["nu_q_early"][1] > cfg["nu_q_late"][0]:
        raise ValueError("nu_q_early must end before nu_q_late starts")
    if not cfg["mm_r_alarm"] > 1.0:
        raise ValueError("mm_r_alarm must be above 1 (a growth of the step resistance)")
    if cfg["i_rest_max_c"] < cfg["i_rest_c"]:
        raise ValueError("i_rest_max_c must be at least i_rest_c")
    if not cfg["dn_cut_t_ref_s"] > 0.0:
        raise ValueError("dn_cut_t_ref_s must be a positive cycle length in s")
    if cfg["bal_max_s"] > cfg["ss_settle_s"]:
        raise ValueError("bal_max_s must not exceed ss_settle_s: the late-rest fit must not see a cell draining")
    if not 0.0 < cfg["hyst_frac"] <= 1.0:
        raise ValueError("hyst_frac must be in (0, 1]")
    if cfg["sv_end_hi"] > cfg["sv_mid_lo"] or cfg["sv_end_lo"] >= cfg["sv_end_hi"] or cfg["sv_mid_lo"] >= cfg["sv_mid_hi"]:
        raise ValueError("stripping-void SoC windows must be ordered: end_lo < end_hi <= mid_lo < mid_hi")
