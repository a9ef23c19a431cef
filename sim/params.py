"""Default parameters of the simulator, each with its source.

Everything here belongs to the simulator (the ground truth).  The firmware's
estimator identifies its own, approximate model: never import these values
from firmware/ (project rule).

Sources are cited next to each value; the collected figures are in
../shared/cell-physics.md.  Values marked UNSOURCED are orders of magnitude
chosen to give plausible behaviour; they are parameters, not facts.

Units: areal quantities per cm^2 of collector; resistances as area-specific
resistances (ASR, ohm*cm^2) which the cell divides by its collector area;
current densities in mA/cm^2; activation energies in J/mol.
"""

import numpy as np

R_GAS = 8.314462618  # J/(mol K)
FARADAY = 96485.33212  # C/mol
T_REF_K = 298.15  # reference temperature of every Arrhenius law below
EV_TO_J_PER_MOL = 96485.33212  # 1 eV per particle = 96.485 kJ/mol


def arrhenius_z(t_k):
    """(1/T - 1/T_REF) / R [mol/J]: exp(ea * z) is how much slower a process with activation energy ea runs at t_k
    than at T_REF_K (> 1 when colder). Scalars or numpy arrays."""
    return (1.0 / t_k - 1.0 / T_REF_K) / R_GAS

# --------------------------------------------------------------------------
# Cathodes: open-circuit potential vs Na/Na+ as a function of x, the sodium
# fraction of the cathode's sites (x = 1 fully sodiated = discharged).


def _u_nvp(x):
    """Na3V2(PO4)3: flat two-phase plateau at ~3.40 V.

    No public NVP table was found; its shape is LFP-like, so the Afshar 2017
    LFP fit (as used by PyBaMM) stands in, with x the sodium fraction
    (cell-physics.md, 'Cathode open-circuit voltage').
    """
    return 3.4077 - 0.020269 * x + 0.5 * np.exp(-150.0 * x) - 0.9 * np.exp(-30.0 * (1.0 - x))


def _dudt_nvp(x):
    """Entropic coefficient dU/dT [V/K] of NVP.

    Na||NVP dS ~ -14.5 J/mol/K flat over 10-90 % SoC -> dU/dT ~ -0.15 mV/K
    (Wei et al., J. Electrochem. Soc. 169, 050503, 2022).  It 'changes sharply
    below 10 % and above 90 %'; the direction and size of that change are
    UNSOURCED (here +/-0.4 mV/K towards the ends).
    """
    return -0.15e-3 + 0.4e-3 * np.exp(-x / 0.03) - 0.4e-3 * np.exp(-(1.0 - x) / 0.03)


def _u_layered(x):
    """Sloping layered oxide (O3/P2), ~2.0-4.0 V.

    No reliable public table was found (cell-physics.md); a smooth sloping
    curve (linear + logarithmic ends) is used instead -- UNSOURCED shape.
    """
    xc = np.clip(x, 1e-6, 1.0 - 1e-6)
    return 3.3 - 1.1 * (xc - 0.5) - 0.06 * np.log(xc / (1.0 - xc))


def _dudt_layered(x):
    """UNSOURCED: small negative entropic coefficient, -0.1 mV/K, flat."""
    return np.full_like(np.asarray(x, dtype=float), -0.1e-3)


CATHODES = {
    "nvp": {
        "u_of_x": _u_nvp,
        "dudt_of_x": _dudt_nvp,
        # Window: practical NVP window ~2.5-3.8 V (cell-physics.md, assumption);
        # we charge to 3.70 V so that the end of charge is on the steep branch.
        "v_max": 3.70,
        "v_min": 2.50,
        # ESC hysteresis (Plett): two-phase NVP shows a small hysteresis.
        # UNSOURCED magnitudes (LFP-like two-phase materials: 10-20 mV).
        "m_hyst_v": 0.012,
        "m0_hyst_v": 0.004,
        "gamma_hyst": 60.0,
    },
    "layered-oxide": {
        "u_of_x": _u_layered,
        "dudt_of_x": _dudt_layered,
        "v_max": 4.00,
        "v_min": 2.00,
        "m_hyst_v": 0.020,  # UNSOURCED: O3/P2 phase transitions give larger loops
        "m0_hyst_v": 0.005,
        "gamma_hyst": 40.0,
    },
}

# --------------------------------------------------------------------------
# Interphases on the current collector (the anode side).

INTERPHASES = {
    # Dual Mg (sodiophilic) / NaF (sodiophobic, Na+-conducting) layer of the
    # seed study: eScience 2024, DOI 10.1016/j.esci.2024.100274 -- 82.7 %
    # retention over 350 cycles, lower plating overpotential and higher CCD
    # than without the interphase.
    "mg-naf": {
        # Na|interphase ASR: engineered interfaces 20-150 ohm cm^2; 23 ohm cm^2
        # for grain-boundary-sealed NZSP (J. Mater. Chem. A 2022, d1ta10816f).
        "r_int_asr": 20.0,
        # Exchange current density of Na plating/stripping: UNSOURCED.
        "j0_ma_cm2": 2.0,
        # Nucleation overpotential: 'a few mV' with sodiophilic seeds such as Mg
        # (Ortmann et al., AEM 2023, 10.1002/aenm.202302729; magnitude UNSOURCED).
        "eta_nuc_v": 0.008,
        # Critical current density at 25 C: Al pellet 6.0, Al foil 1.2 mA/cm^2 at
        # 4 mAh/cm^2 (Deysher et al., ChemRxiv 10.26434/chemrxiv-2023-tkcd9);
        # the seed study reports a higher CCD with the interphase.  Chosen 3.0
        # (1.5C at 2 mAh/cm^2): fast or cold charging grows dendrites.
        "j_ccd_ma_cm2": 3.0,
        # Critical stripping current for void formation (Spencer Jolly et al.,
        # ACS AMI 12, 678, 2020: pressure-dependent, ~2.5 mA/cm^2 at > 9 MPa).
        "j_void_ma_cm2": 3.0,
        # Sodium lost per plated/stripped charge at the reference condition
        # (1 mA/cm^2, 25 C).  Calibrated so the documented protocol
        # (sim/ageing.py: CALIBRATION_PROTOCOL) keeps 82.7 % after 350 cycles
        # (seed study); 0.827^(1/350) -> average CE 99.946 % (cell-physics.md).
        "f_sei": 1.30e-4,
        "f_dead": 2.97e-4,
        # Formation loss (first plating on the fresh collector): first-cycle CE
        # 93 % for the Al pellet (Deysher et al.); a sodiophilic seed does
        # better -- UNSOURCED 97 %.
        "formation_loss": 0.03,
    },
    # Bare copper collector (the seed study's control; Deysher et al.'s Al foil
    # is the analogous poorly-wetting case).
    "bare-cu": {
        # Bare Na|NASICON ~1e3 ohm cm^2 (Batteries 9, 8, 2023); with liquid-like
        # wetting in practice less.  UNSOURCED choice within 100s of ohm cm^2.
        "r_int_asr": 80.0,
        "j0_ma_cm2": 0.5,  # UNSOURCED
        # 'tens of mV' on bare collectors (Ortmann et al.; magnitude UNSOURCED).
        "eta_nuc_v": 0.045,
        # Al foil 1.2 mA/cm^2 (Deysher et al.); chosen 1.5.
        "j_ccd_ma_cm2": 1.5,
        "j_void_ma_cm2": 1.2,
        # 'A bare collector should fade several times faster' (cell-physics.md);
        # Na5V2(PO4)3 on bare Al/C: 93 % after 130 cycles (ibid.) -> ~5.6e-4 per
        # cycle in a liquid cell; chosen ~4.5x the mg-naf loss.
        "f_sei": 6.5e-4,
        "f_dead": 1.50e-3,
        "formation_loss": 0.07,  # first-cycle CE 93 % (Deysher et al.)
    },
}

# --------------------------------------------------------------------------
# Cell-level parameters common to both presets.

CELL = {
    # Areal capacity: Deysher et al. test at 4 mAh/cm^2; 2 mAh/cm^2 keeps
    # 1C = 2 mA/cm^2 (UNSOURCED choice).
    "loading_mah_cm2": 2.0,
    # Ohmic ASR: NZSP ~5 mS/cm, 500 um ~ 10 ohm cm^2 (cell-physics.md), plus
    # contacts/tabs; a thinner practical separator -> 8 (UNSOURCED).  Electrolyte Ea ~17 kJ/mol (Li-ion analogue).
    "r0_asr": 8.0,
    "ea_r0": 17e3,
    "ea_r_int": 35e3,  # charge transfer 30-60 kJ/mol (Li-ion analogue)
    "ea_j0": 35e3,
    # Two RC pairs: cathode charge transfer (fast) and solid diffusion (slow).
    # No published Na-ion R/C tables (cell-physics.md); UNSOURCED ASR and time
    # constants, Arrhenius 40 and 30 kJ/mol (Li-ion analogues, 30-60 kJ/mol).
    "r1_asr": 8.0,
    "tau1_s": 12.0,
    "ea_r1": 40e3,
    "r2_asr": 12.0,
    "tau2_s": 400.0,
    "ea_r2": 30e3,
    # Concentration effect: the diffusion resistance rises near the ends of the
    # cathode's stoichiometry (UNSOURCED factor).
    "r2_end_factor": 2.0,
    # CCD vs temperature: Arrhenius E_A ~0.13-0.15 eV (Lowack et al., arXiv
    # 2603.23340): 0 C ~0.6x, -20 C ~0.35-0.4x the 25 C value.
    "ea_ccd": 0.14 * EV_TO_J_PER_MOL,
    # Dead sodium: grows with current density (exponent) and at low
    # temperature (Arrhenius-like with negative sense).  UNSOURCED.
    "dead_j_exp": 0.5,
    "ea_dead": 20e3,
    # SEI: grows faster when warm.  UNSOURCED.
    "ea_sei": 30e3,
    # Calendar corrosion of plated sodium, fraction of capacity per month when
    # fully charged.  UNSOURCED (2 %/month).
    "calendar_frac_per_month": 0.02,
    "ea_calendar": 40e3,
    # Anode open-circuit potential when the collector is bare (no sodium):
    # the cell's OCV collapses at the end of discharge (anode-limited knee).
    # UNSOURCED (Cu vs Na ~2.5-3 V).
    "u_collector_v": 2.8,
    # Over-discharge: the empty collector oxidises (Cu ~3.4 V vs Na, UNSOURCED);
    # the charge goes to q_corr and the cell voltage is floored accordingly.
    "u_corr_v": 3.4,
    # Sodium amount over which the collector becomes 'wetted' (anode OCV -> 0)
    # and over which the nucleation overpotential decays.  UNSOURCED.
    # Wetting is Gaussian in the plated amount (the potential of the bare
    # collector vanishes within a few monolayers), so the nucleation dip shows.
    "q_wet_mah_cm2": 0.001,
    "q_nuc_mah_cm2": 0.004,
    # Below this plated amount stripping loses contact area (depletion).
    "q_contact_mah_cm2": 0.02,
    # Exponential stripping polarisation above the critical stripping current
    # (Lowack et al.: the anode voltage turns exponential above it).  UNSOURCED.
    "void_growth_per_s": 1.0 / 1800.0,
    "void_refill_mah_cm2": 0.2,
    "void_thin_mah_cm2": 0.2,  # below this plated amount creep cannot refill voids
    "void_residual_frac": 0.05,
    "void_max": 0.85,
    "eta_void_v": 0.01,  # eta = eta_void * expm1(j_local / j_void - 1), overdrive capped at 3
    # Constriction by accumulated voids: eta = eta_c * expm1(void / void_c) * j [mA/cm^2].
    "eta_constriction_v": 0.005,
    "void_constriction": 0.1,
    # Dendrites: normalised length grows when the local plating current
    # density exceeds the CCD; penetration (length 1) makes a soft short.
    "dendrite_growth_per_s": 1.0 / 600.0,  # per unit of overdrive j/CCD - 1
    "dendrite_retract_per_s": 1.0 / 36000.0,  # per mA/cm^2 of stripping
    "soft_short_r_ohm_ah": 400.0,  # leak resistance x capacity at penetration
    "soft_short_growth_per_s": 1.0 / 3600.0,  # conductance growth while charging
    "hard_short_threshold_ohm_ah": 2.0,
    "hard_short_r_ohm_ah": 0.05,
    "r0_drop_at_penetration": 0.3,  # series resistance falls (Ortmann et al.)
    # Transient micro-shorts: 20-80 mV drops with quick recovery
    # (Xu & Liao, arXiv 2506.13394).
    "micro_rate_per_h": 6.0,
    "micro_drop_v": (0.020, 0.080),
    "micro_tau_s": 4.0,
    # A dendrite/void episode that recurs within this gap is one label; it is labelled
    # (from its start) once it is material: dendrite length / void fraction at least
    "episode_gap_s": 120.0,
    "label_min_dendrite": 0.02,
    "label_min_void": 0.01,
    # Lumped thermal model: mass from the seed study's 254.4 Wh/kg; cp and
    # convection UNSOURCED (pouch-cell typical).
    "wh_per_kg": 254.4,
    "cp_j_kg_k": 1000.0,
    "ha_w_k_per_ah": 0.05,
    "neighbour_w_k": 0.02,  # conductance between adjacent cells of a string (UNSOURCED)
}

# Default cell-to-cell spread (relative standard deviations), UNSOURCED.
SPREAD = {
    "q_rel_std": 0.015,
    "r_rel_std": 0.05,
    "self_discharge_log_std": 0.5,
    "ha_rel_std": 0.05,
    "t_amb_std_c": 0.3,
}
