# Thresholds of the plating-anomaly detectors (bms.detect), as data: defaults (the Mg/NaF interphase), composed
# with a cathode's and an interphase's own values (like PyBaMM's parameter sets). Same preset names as
# bms.config.cell. A config is a plain dict so it can travel over the protocol; validate() names a wrong key.
# Where the defaults come from, and which were chosen on the bench's threshold sweep: docs/detectors.md.
from bms.config.constants import I_NEAR_REST_C, I_REST_C, T_MIN_CHARGE_C

_BASE = {
    # --- phase tracking (string current) ---
    "i_rest_c": I_REST_C,  # |i| below this C-rate counts as rest ...
    "i_rest_k": 3.5,  # ... or below |offset| + this many sigmas of the current samples at rest (learnt), ...
    "i_rest_max_c": I_NEAR_REST_C,  # ... but never above this C-rate
    "seg_min_s": 60.0,  # shorter current segments are blips, not phases
    "q_nom_ah": 0.0,  # 0: take the estimators' capacity at the first update
    "ocv_avg_s": 60.0,  # rest voltage averaged over about this long reads as the relaxed OCV
    # --- 1. soft short: late-rest voltage decay over the local OCV slope, relative to the string's median ---
    "ss_settle_s": 900.0,  # skip the start of a rest: relaxation
    "ss_min_fit_s": 600.0,  # fit the decay over at least this long
    "ss_eval_s": 1800.0,  # during long rests, re-evaluate every this many seconds of fit
    "ss_min_slope_v": 1.0,  # OCV slope [V per unit SoC] below which a leak is invisible in the voltage
    "ss_warn_c": 0.0028,  # leakage C-rate levels (C/360, C/285, C/5) (the scale rests on the OCV table's slope) (ROC)
    "ss_alarm_c": 0.0035,
    "ss_crit_c": 0.2,
    # the rest fit's leak is divided by max(1, ss_k_sigma * sd / ss_alarm_c), sd its standard error from the voltage
    # noise learnt at rest (1 mV over a 900 s fit at 2 s on a 1 V/SoC slope: sd ~0.7e-3 C; 3 mV: ~2e-3 C)
    "ss_k_sigma": 4.0,
    # ... and the charge balance over whole cycles between relaxed-OCV anchors on the steep ends (same levels)
    "cb_min_slope_v": 1.0,  # OCV slope [V per unit SoC] at which a relaxed voltage reads the plated charge
    "cb_min_dis_frac": 0.5,  # at least this much capacity discharged between two anchors of the same kind
    "cb_base_n": 3,  # each cell's first rates per anchor kind: its own baseline (a sensor offset, its usual loss)
    "cb_own_gate": 1.0,  # with >= 3 anchored cells the own-baseline rate counts only for a cell that also stands out
    #                      from the string's median by this fraction of ss_warn_c (else a step common to the string)
    # --- 2. dendrite events during charge: drops of the pseudo-OCV v - R0*i ---
    "dd_skip_s": 30.0,  # ignore the charge onset (nucleation, RC settling)
    "dd_win_s": 20.0,  # a drop is measured against the maximum over this window
    "dd_warn_v": 0.012,
    "dd_alarm_v": 0.020,  # Xu & Liao: 20-80 mV drops
    "dd_crit_v": 0.300,  # collapse towards a hard short
    "dd_k_sigma": 8.0,  # and at least this many noise sigmas
    "dd_var_n": 100,  # sample-to-sample steps that teach the noise (a running mean) before any drop is assessed
    "dd_count_alarm": 3,  # this many warning-size drops in one charge is an alarm too
    "dd_refractory_s": 60.0,
    "dd_di_c": 0.05,  # skip windows in which the current moved more than this C-rate
    # --- 3. dead sodium: per-cycle charge balance, CUSUM against the cell's own baseline ---
    "dn_soc_empty": 0.15,  # a rest after discharge anchors the count below this SoC (relaxed OCV) ...
    "dn_min_slope_v": 1.0,  # ... where the OCV is steep enough to read the SoC [V per unit SoC]
    "dn_band": 0.003,  # ... for cells within this SoC of the string's emptiest cell (the string's balance is theirs)
    "dn_min_dis_frac": 0.5,  # at least this much capacity discharged between two anchors
    "dn_max_dsoc": 0.004,  # ... whose relaxed-OCV SoC moved by at most this (the table's error grows with the move)
    "dn_skip_n": 2,  # the first per-cycle losses of each cell are not used: the string's cells settle into their order
    #                  at the cut-off over the first cycles (after assembly, a balance, a first full discharge)
    "dn_base_cycles": 5,  # cycles to learn the baseline loss (median)
    # expected loss per cycle (fraction of capacity): 0.054 % for Mg/NaF (eScience 2024), about 2/3 of it dead
    # sodium; a doubling of the dead-sodium rate adds ~0.035 %/cycle -> CUSUM slack half of that
    "dn_k": 0.00017,
    "dn_warn": 0.0025,  # CUSUM levels: loss in excess of the baseline + slack, fraction of capacity (ROC)
    "dn_alarm": 0.0035,
    "dn_crit": 0.02,
    # a reading's excess is divided by max(1, dn_k_sigma * sd / alarm level), sd the integrated noise of the current
    # samples (sigma_i learnt at rest) per capacity discharged: the levels hold for a quiet sensor (5 mA on 2 Ah at
    # 2 s: sd ~0.13 per mille per 0.5C cycle); a noisier one (20 mA: ~0.53 per mille) needs this many sigmas
    "dn_k_sigma": 5.0,
    # the string's loss at its cut-off (the cell that sets it): CUSUM slack and levels, fraction of capacity
    "dn_cut_soc": 0.01,  # read only after discharges that emptied a cell (relaxed-OCV SoC below this)
    "dn_cut_k": 0.00008,  # half the smallest target: a doubled dead-sodium rate adds ~0.17 per mille warm
    "dn_cut_warn": 0.0006,  # healthy strings stayed below 0.5 per mille in both suites (ROC)
    "dn_cut_alarm": 0.0008,
    # ... with a bottom balancer (bms.balance; its resistor is a board value): each cell's own loss, over its
    # baseline, less the string's median. A window of draining lasts at most bal_max_s (<= ss_settle_s)
    "bal_max_s": 240.0,
    "dn_bal_k": 0.00006,  # ~ a third of the smallest target (a doubling adds ~0.17 per mille at 45 C)
    "dn_bal_warn": 0.0004,
    "dn_bal_alarm": 0.0005,  # above the cut-off cell's jitter (one 1 A, 2 s sample: 0.28 per mille of 2 Ah)
    # a reading over a longer cycle scatters more (calendar losses, integrated current noise, healthy cells'
    # different calendar losses when the cut-off passes between them): its excess is scaled to this cycle length
    # (time per capacity discharged), the one the levels were set on (0.5C CC-CV, 30 min rests: median 18,300 s)
    "dn_cut_t_ref_s": 18500.0,
    # a cut-off cell that kept more sodium than in the baseline cycles (relaxed-OCV SoC up by more than this) was
    # cut off earlier by a grown end-of-discharge polarisation (cold, high rate): that reading is its residue's
    # growth, not a loss, and is skipped
    "dn_cut_rise": 0.001,
    # --- 4. nucleation overpotential: overshoot at the onset of a charge from empty ---
    "nu_soc_max": 0.01,  # only charges that start from (nearly) bare collector (relaxed-OCV SoC)
    "nu_q_early": (0.0015, 0.0035),  # charge passed (fraction of capacity) where the overpotential still shows
    "nu_q_late": (0.008, 0.010),  # ... and where it has decayed (sodium covers the collector)
    "nu_band": 0.005,  # ... and only for cells within this SoC of the string's emptiest cell
    "nu_base_n": 4,  # baseline: straight line through the cell's previous charges, extrapolated
    "nu_warn_v": 0.003,  # growth of (early - late voltage) over the cell's baseline (ROC)
    "nu_alarm_v": 0.005,  # healthy cells' single readings scatter up to 4.7 mV with the start state (both suites)
    "nu_crit_v": 0.030,
    "nu_str_warn_v": 0.0025,  # ... the median growth of the string's cells in one charge (>= 3 cells evaluated)
    "nu_str_alarm_v": 0.003,  # healthy strings' medians stayed <= 2.3 mV (both suites)
    # both channels' evidence is divided by max(1, nu_k_sigma * sd / alarm level), sd its standard error from the
    # voltage noise (learnt at rest): the levels above hold for a quiet front end (1 mV at 0.5C, 2 s: sd ~0.8 mV
    # per cell); a noisier one (3 mV: sd ~2.5 mV) needs this many sigmas of its own
    "nu_k_sigma": 5.0,
    # --- 5. stripping void: polarisation at the end of discharge relative to mid discharge ---
    "sv_mid_lo": 0.45,
    "sv_mid_hi": 0.70,
    "sv_end_lo": 0.08,
    "sv_end_hi": 0.22,
    "sv_min_c": 0.1,  # only discharges above this C-rate (polarisation must be measurable)
    "sv_base_n": 3,
    "sv_warn": 0.17,  # growth of R_end/R_mid over the baseline ratio (healthy <= 0.12 in both suites)
    "sv_alarm": 0.2,
    "sv_crit": 3.0,
    # --- 6. model mismatch: mean NIS over a window ---
    "mm_win_s": 600.0,
    "mm_soc_lo": 0.1,  # NIS is averaged only while the EKF's SoC is inside this range
    "mm_soc_hi": 0.9,
    "mm_warn": 2.2,
    "mm_alarm": 3.0,
    "mm_crit": 0.0,  # 0: never critical (a model alarm alone should not stop charging)
    "mm_delay_n": 2,  # consecutive windows above a level
    # model mismatch, second channel: step resistance (rest -> load) relative to the string, over its own baseline
    "mm_step_c": 0.2,  # only current steps of at least this C-rate
    "mm_step_base_n": 3,  # steps per direction (charge, discharge) to learn the baseline
    "mm_step_soc_min": 0.05,  # no charge steps from a rest where the string's emptiest cell reads below this SoC
    "mm_r_warn": 1.14,  # healthy cells up to 1.12 (warm: ~30 mV steps), resistance x3 from 1.20 (cold layered oxide)
    "mm_r_alarm": 1.17,
    # the growth over 1 is divided by max(1, mm_k_sigma * sd / (mm_r_alarm - 1)), sd the step's relative scatter from
    # the voltage noise: the levels hold for a quiet front end (1 mV on a 30 mOhm step at 0.5C: sd 3.4 %)
    "mm_k_sigma": 5.0,
    # --- charge-current limit ---
    "cc_max_c": 1.0,  # allowed charge C-rate at 25 C on a fresh cell
    "cc_ea_ev": 0.14,  # Arrhenius of the critical current density (Lowack et al.)
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
    # bare collectors: faster baseline loss (inferred 4x), so the dead-sodium slack and levels scale up (the
    # cut-off channel: slack x4 with the loss rate, levels x2); a lower critical current density
    "bare-cu": {"dn_k": 0.0007, "dn_warn": 0.006, "dn_alarm": 0.009, "dn_cut_k": 0.0003, "dn_cut_warn": 0.0012,
                "dn_cut_alarm": 0.0016, "dn_bal_k": 0.00022, "dn_bal_warn": 0.0008, "dn_bal_alarm": 0.001,
                "cc_max_c": 0.5},
}

PRESET_NAMES = tuple(sorted(c + "-" + i for c in _CATHODES for i in _INTERPHASES))
_WINDOWS = ("nu_q_early", "nu_q_late")
# (warn, alarm, critical or None) keys: the levels of every channel (bms.detect.levels.CHANNELS)
_LEVELS = (
    ("ss_warn_c", "ss_alarm_c", "ss_crit_c"),
    ("dd_warn_v", "dd_alarm_v", "dd_crit_v"),
    ("dn_warn", "dn_alarm", "dn_crit"),
    ("dn_cut_warn", "dn_cut_alarm", "dn_crit"),
    ("dn_bal_warn", "dn_bal_alarm", "dn_crit"),
    ("nu_warn_v", "nu_alarm_v", "nu_crit_v"),
    ("nu_str_warn_v", "nu_str_alarm_v", "nu_crit_v"),
    ("sv_warn", "sv_alarm", "sv_crit"),
    ("mm_warn", "mm_alarm", "mm_crit"),
    ("mm_r_warn", "mm_r_alarm", None),
)


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
    for warn, alarm, crit in _LEVELS:
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
