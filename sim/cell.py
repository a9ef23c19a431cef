"""Vectorised physics of N anode-free sodium cells in one series string.

State of each cell (all arrays of shape (n,), charge in Ah):

* Sodium inventory, conserved exactly:
  ``q_cath + q_plated + q_dead + q_sei == q_total`` (constant per cell).
  ``q_cath`` sodium in the cathode, ``q_plated`` active metal on the
  collector, ``q_dead`` electrically isolated metal, ``q_sei`` sodium bound in
  the interphase (formation + growth + calendar corrosion).
* Charge bookkeeping, exact to rounding, for any current profile::

      q_in_ah == d(q_plated + q_dead + q_sei) + q_leak_ah + q_ox_ah - q_corr_ah

  ``q_in_ah`` external charge (charge > 0), ``q_leak_ah`` charge through a
  soft/hard short, ``q_ox_ah`` overcharge side reaction (charging an empty
  cathode), ``q_corr_ah`` collector corrosion (discharging an empty anode).

Terminal voltage (charge-positive current i through the electrochemistry)::

    v = U_cath(x, T) - U_an(q_plated)                 open-circuit voltage
        + M h + M0 s                                   ESC hysteresis (Plett)
        + v_rc1 + v_rc2                                two RC pairs, Arrhenius
        + R0 i + R_int i / a                           ohmic + interface
        + (2RT/F) asinh(j / 2 j0 a)                    plating/stripping (BV)
        + eta_nuc exp(-q_plated / q_nuc)  (charging)   nucleation spike
        - eta_void expm1(j_loc / j_void - 1) (discharging, above critical)

with ``a`` the contact fraction (voids, and depletion of the plated layer at
the end of discharge).  A short is a conductance g in parallel; the step
solves ``i_ext = i + g v`` implicitly in the linear part, so hard shorts are
stable at any step length.  Nonlinear terms use the current of the previous
step's split (explicit), which is exact for the current sign and accurate
for 1 s steps.
"""

import numpy as np

from sim import params as P

_N_TABLE = 2001  # uniform grid in the cathode sodium fraction x (0..1)


class CellArray:
    """N cells in series.  See the module docstring for the model."""

    def __init__(self, cathode, interphase, n_cells, q_ah, t_amb_c, rng, spread, soc0,
                 overrides=None):
        if cathode not in P.CATHODES:
            raise ValueError("cathode must be one of %s, got %r" % (sorted(P.CATHODES), cathode))
        if interphase not in P.INTERPHASES:
            raise ValueError("interphase must be one of %s, got %r"
                             % (sorted(P.INTERPHASES), interphase))
        if not (isinstance(n_cells, (int, np.integer)) and n_cells >= 1):
            raise ValueError("n_cells must be an integer >= 1, got %r" % (n_cells,))
        if not (q_ah > 0 and np.isfinite(q_ah)):
            raise ValueError("q_ah must be a positive finite capacity in Ah, got %r" % (q_ah,))
        if not 0.0 <= soc0 <= 1.0:
            raise ValueError("soc0 must be within 0..1, got %r" % (soc0,))
        n = int(n_cells)
        self.n = n
        cath = dict(P.CATHODES[cathode])
        ip = dict(P.INTERPHASES[interphase])
        c = dict(P.CELL)
        for key, val in (overrides or {}).items():
            for d in (c, ip, cath):
                if key in d:
                    d[key] = val
                    break
            else:
                raise ValueError("unknown parameter override %r" % key)
        self.cath, self.ip, self.c = cath, ip, c
        self.v_max, self.v_min = cath["v_max"], cath["v_min"]

        sp = _spread_dict(spread)
        ones = np.ones(n)
        q_mult = 1.0 + sp["q_rel_std"] * rng.standard_normal(n)
        r_mult = np.exp(sp["r_rel_std"] * rng.standard_normal(n))
        sd_mult = np.exp(sp["self_discharge_log_std"] * rng.standard_normal(n)
                         - 0.5 * sp["self_discharge_log_std"] ** 2)
        ha_mult = 1.0 + sp["ha_rel_std"] * rng.standard_normal(n)
        t_amb = np.broadcast_to(np.asarray(t_amb_c, dtype=float), (n,)).copy()
        t_amb += sp["t_amb_std_c"] * rng.standard_normal(n)
        self.t_amb_c = t_amb

        # OCV tables on a uniform x grid (cheap interpolation for 10^4 cells).
        xg = np.linspace(0.0, 1.0, _N_TABLE)
        self._u_tab = cath["u_of_x"](xg)
        self._du_tab = np.append(np.diff(self._u_tab), 0.0)
        self._dudt_tab = cath["dudt_of_x"](xg)
        self._r2m_tab = 1.0 + (c["r2_end_factor"] - 1.0) * (np.exp(-xg / 0.05)
                                                             + np.exp(-(1.0 - xg) / 0.05))
        # Full charge = the cathode fraction whose OCV equals v_max at 25 C.
        self.x_min = float(np.interp(-cath["v_max"], -self._u_tab, xg))
        self.x_max0 = 1.0 - ip["formation_loss"]
        # The bare collector's potential, kept below the discharged cathode's so the OCV of an
        # empty cell stays positive (a low-voltage cathode pulls it down).
        u_end = float(np.interp(self.x_max0, xg, self._u_tab))
        self.u_coll = min(c["u_collector_v"], 0.9 * u_end)

        q_nom = q_ah * np.clip(q_mult, 0.5, 1.5)
        self.q_nom = q_nom
        self.q_site = q_nom / (self.x_max0 - self.x_min)
        self.inv_q_site = 1.0 / self.q_site
        self.q_total = self.q_site.copy()  # all sodium came from the cathode (x = 1 as built)
        area = q_nom * 1000.0 / c["loading_mah_cm2"]
        self.area_cm2 = area
        self.ma_per_a = 1000.0 / area  # A -> mA/cm^2
        to_ah = area / 1000.0  # mAh/cm^2 -> Ah
        self.inv_q_wet = 1.0 / (c["q_wet_mah_cm2"] * to_ah)
        self.inv_q_nuc = 1.0 / (c["q_nuc_mah_cm2"] * to_ah)
        self.q_contact = c["q_contact_mah_cm2"] * to_ah
        self.inv_q_refill = 1.0 / (c["void_refill_mah_cm2"] * to_ah)
        self.q_thin = c["void_thin_mah_cm2"] * to_ah

        self.r0 = c["r0_asr"] / area * r_mult
        self.r1 = c["r1_asr"] / area * r_mult
        self.r2 = c["r2_asr"] / area * r_mult
        self.r_int = ip["r_int_asr"] / area * r_mult
        self.c1 = c["tau1_s"] / self.r1
        self.c2 = c["tau2_s"] / self.r2
        self.k_cal = c["calendar_frac_per_month"] * q_nom / (30.0 * 86400.0) * sd_mult  # Ah/s
        m_kg = q_nom * 3.3 / c["wh_per_kg"]
        self.ha = c["ha_w_k_per_ah"] * q_nom * np.clip(ha_mult, 0.5, 1.5)
        self.mcp = m_kg * c["cp_j_kg_k"]
        # Fault multipliers (sim.faults sets them).
        self.dead_mult = ones.copy()
        self.ccd_mult = ones.copy()
        self.void_crit_mult = ones.copy()
        self.nuc_mult = ones.copy()

        # Dynamic state.
        self.q_plated = soc0 * q_nom
        self.q_cath = self.x_max0 * self.q_site - self.q_plated
        self.q_sei = (1.0 - self.x_max0) * self.q_site
        self.q_dead = np.zeros(n)
        self.q_ox = np.zeros(n)
        self.q_corr = np.zeros(n)
        self.q_leak = np.zeros(n)
        self.q_in = 0.0  # external charge, the same for every cell in the string
        self.q_in_adj = np.zeros(n)  # per-cell net charge of cycles booked by sim.ageing
        self.v1 = np.zeros(n)
        self.v2 = np.zeros(n)
        self.h = np.zeros(n)
        self.s = 0.0
        self.t_c = t_amb.copy()
        self.dendrite = np.zeros(n)  # normalised length, >= 1 once it has penetrated
        self.void = np.zeros(n)  # reversible void fraction of the interface
        self.void_res = np.zeros(n)  # voids that never refill
        self.g_short = np.zeros(n)  # parallel conductance [S]
        self.g_short_growth = np.zeros(n)  # per-second relative growth while charging
        self.hard = np.zeros(n, dtype=bool)
        self.g_micro = np.zeros(n)
        self.micro_on = np.zeros(n, dtype=bool)  # cells that show transient micro-shorts
        self.any_short = False
        self.g_bleed = np.zeros(n)  # balancing resistors switched across cells [S] (a BMS's, not a fault)
        self.i_leak = np.zeros(n)
        self.i_int = np.zeros(n)
        self.v = self.ocv()
        # Physics episodes (dendrite growth, void formation) for the labels: an episode stays
        # open while it recurs within episode_gap_s, so pulsed loads give one label, not many.
        self._ep_open = {"dendrite": np.zeros(n, dtype=bool), "void": np.zeros(n, dtype=bool)}
        self._ep_last = {"dendrite": np.zeros(n), "void": np.zeros(n)}
        self._ep_start = {"dendrite": np.zeros(n), "void": np.zeros(n)}
        self._ep_emitted = {"dendrite": np.zeros(n, dtype=bool), "void": np.zeros(n, dtype=bool)}
        self._ep_any = False
        self.events = []  # (kind, cells, info) raised by the physics; Pack turns them into labels
        self._t_cache = None
        self._dt_cache = None
        self._r_lin_prev = None
        self._voids_any = False  # any void ever formed (skips the constriction term until then)
        self._rng = rng

    # ------------------------------------------------------------------ lookups
    def _lookup(self, x):
        xf = x * (_N_TABLE - 1)
        np.clip(xf, 0.0, _N_TABLE - 1.000001, out=xf)
        k = xf.astype(np.intp)
        w = xf - k
        return k, w

    def ocv(self):
        """True open-circuit voltage [V] without hysteresis."""
        k, w = self._lookup(self.q_cath * self.inv_q_site)
        u = self._u_tab[k] + w * self._du_tab[k] + self._dudt_tab[k] * (self.t_c - 25.0)
        qw = self.q_plated * self.inv_q_wet
        return u - self.u_coll * np.exp(-qw * qw)

    def u_anode(self):
        """Anode potential vs Na/Na+ [V] during the last step (a reference-electrode view):
        collector potential minus plating/stripping, interface and nucleation overpotentials."""
        if not hasattr(self, "_anode"):
            qw = self.q_plated * self.inv_q_wet
            return self.u_coll * np.exp(-qw * qw)
        u_an, eta, r_an = self._anode
        return u_an - eta - r_an * self.i_int

    def q_usable(self):
        """Usable capacity [Ah]: active sodium above the cathode's full-charge fraction."""
        return np.maximum(self.q_cath + self.q_plated - self.x_min * self.q_site, 1e-12)

    # ------------------------------------------------------- temperature cache
    def _refresh(self, t_k, dt):
        """Arrhenius factors and RC decays; recomputed when T moved > 0.2 K or dt changed."""
        if (self._dt_cache == dt and self._t_cache is not None
                and np.max(np.abs(t_k - self._t_cache)) < 0.2):
            return
        c, ip = self.c, self.ip
        self._t_cache = t_k.copy()
        self._dt_cache = dt
        z = P.arrhenius_z(t_k)  # > 0 when colder

        def slower(ea):  # resistances rise when cold
            return np.exp(ea * z)

        self.r0_t = self.r0 * slower(c["ea_r0"])
        self.r_int_t = self.r_int * slower(c["ea_r_int"])
        r1_t = self.r1 * slower(c["ea_r1"])
        r2_t = self.r2 * slower(c["ea_r2"])
        self.a1 = np.exp(-dt / (r1_t * self.c1))
        self.a2 = np.exp(-dt / (r2_t * self.c2))
        self.r1_t, self.r2_t = r1_t, r2_t
        self.j0_t = ip["j0_ma_cm2"] / slower(c["ea_j0"])
        self.ccd_t = ip["j_ccd_ma_cm2"] / slower(c["ea_ccd"])
        self.jvoid_t = ip["j_void_ma_cm2"] / slower(c["ea_ccd"])
        self.f_dead_t = ip["f_dead"] * slower(c["ea_dead"])
        self.f_sei_t = ip["f_sei"] / slower(c["ea_sei"])
        self.k_cal_t = self.k_cal / slower(c["ea_calendar"])
        self.b_bv = 2.0 * P.R_GAS * t_k / P.FARADAY
        self.a_th = np.exp(-dt * self.ha / self.mcp)

    # -------------------------------------------------------------------- step
    def step(self, i_ext, dt, t_s):
        """Advance all cells by dt seconds with series current i_ext [A] (charge > 0)."""
        c = self.c
        t_k = self.t_c + 273.15
        self._refresh(t_k, dt)
        cath = self.cath

        # Open-circuit voltage at the start of the step.
        k, w = self._lookup(self.q_cath * self.inv_q_site)
        dudt = self._dudt_tab[k]
        qw = self.q_plated * self.inv_q_wet
        u_an = self.u_coll * np.exp(-qw * qw)
        ocv = self._u_tab[k] + w * self._du_tab[k] + dudt * (self.t_c - 25.0) - u_an
        r2_t = self.r2_t * self._r2m_tab[k]

        if abs(i_ext) > 0.01 * self.q_nom[0]:
            self.s = 1.0 if i_ext > 0 else -1.0
        contact = 1.0 - self.void - self.void_res
        i_g = i_ext - self.i_leak  # split of the previous step (for nonlinear terms)
        if i_ext > 0.0:
            r_an = self.r_int_t / contact
            j_g = i_g * self.ma_per_a
            eta = self.b_bv * np.arcsinh(j_g / (2.0 * self.j0_t * contact))
            nuc = self.ip["eta_nuc_v"] * self.nuc_mult * np.exp(-self.q_plated * self.inv_q_nuc)
            eta += nuc * np.minimum(1.0, np.abs(j_g) * 20.0)
        elif i_ext < 0.0:
            a_strip = contact * self.q_plated / (self.q_plated + self.q_contact) + 1e-6
            r_an = self.r_int_t / a_strip
            j_g = i_g * self.ma_per_a
            eta = self.b_bv * np.arcsinh(j_g / (2.0 * self.j0_t * a_strip))
            # Above the critical stripping current the anode polarisation turns exponential
            # (Lowack et al.); accumulated voids constrict the current (rises towards the end).
            over = np.abs(j_g) / contact / (self.jvoid_t * self.void_crit_mult) - 1.0
            np.clip(over, 0.0, 3.0, out=over)
            eta -= c["eta_void_v"] * np.expm1(over)
            if self._voids_any:
                phi = np.minimum((self.void + self.void_res) / c["void_constriction"], 5.0)
                eta -= c["eta_constriction_v"] * np.expm1(phi) * np.abs(j_g)
        else:
            r_an = self.r_int_t / contact
            eta = 0.0
        r0 = self.r0_t
        if self.any_short:
            r0 = r0 * (1.0 - c["r0_drop_at_penetration"] * np.minimum(self.dendrite, 1.0))
        r_lin = r0 + r_an + self.r1_t * (1.0 - self.a1) + r2_t * (1.0 - self.a2)
        e0 = (ocv + cath["m_hyst_v"] * self.h + cath["m0_hyst_v"] * self.s
              + self.a1 * self.v1 + self.a2 * self.v2 + eta)
        if self.any_short:
            if i_ext > 0.0 and self._r_lin_prev is not None:
                self._micro_events(dt, t_s)
            self._r_lin_prev = r_lin
            g = self.g_short + self.g_micro + self.g_bleed
            v = (e0 + r_lin * i_ext) / (1.0 + r_lin * g)
            i_leak = g * v
            i_int = i_ext - i_leak
        else:
            v = e0 + r_lin * i_ext
            i_leak = self.i_leak  # zeros
            i_int = np.full(self.n, float(i_ext))
        if i_ext < 0.0:
            # An empty collector corrodes instead of stripping: its potential is capped.
            floor = ocv + u_an - c["u_corr_v"] + r0 * i_ext
            if self.any_short:
                low = v < floor
                if low.any():
                    v = np.maximum(v, floor)
                    i_leak = g * v
                    i_int = i_ext - i_leak
            else:
                np.maximum(v, floor, out=v)
        self.v1 = self.a1 * self.v1 + self.r1_t * (1.0 - self.a1) * i_int
        self.v2 = self.a2 * self.v2 + r2_t * (1.0 - self.a2) * i_int
        decay = np.exp(-cath["gamma_hyst"] * abs(i_ext) * dt / 3600.0 * self.inv_q_site)
        if i_ext != 0.0:
            self.h = decay * self.h + (1.0 - decay) * (1.0 if i_ext > 0 else -1.0)

        # Sodium flows.
        dq = i_int * (dt / 3600.0)
        j_int = i_int * self.ma_per_a
        if self.any_short or i_ext > 0.0:
            self._plate(np.maximum(dq, 0.0), j_int)
        if self.any_short or i_ext < 0.0:
            short = self._strip(np.maximum(-dq, 0.0), j_int)
            if short.any():
                if self.any_short:
                    # A short alone cannot corrode the collector: what it asked beyond the
                    # sodium available never flows, and the short pulls the cell to ~0 V.
                    forced = max(-i_ext, 0.0) * dt / 3600.0
                    starved = np.maximum(short - forced, 0.0)
                    if starved.any():
                        self.q_corr = self.q_corr - starved
                        short = short - starved
                        i_starved = starved * (3600.0 / dt)
                        i_leak = i_leak - i_starved
                        i_int = i_int + i_starved
                        g = self.g_short + self.g_micro + self.g_bleed
                        v = np.where(starved > 0, i_leak / np.where(g > 0, g, 1.0), v)
                corroding = short > 1e-15
                if corroding.any():
                    # External current drove the empty collector to its corrosion potential:
                    # that is the voltage the step ends with.
                    floor = ocv + u_an - c["u_corr_v"] + r0 * i_int
                    v = np.where(corroding, floor, v)
        cal = self.k_cal_t * dt * np.minimum(1.0, self.q_plated / self.q_contact)
        self.q_plated = self.q_plated - cal
        self.q_sei = self.q_sei + cal
        self.q_in += i_ext * dt / 3600.0
        if self.any_short:
            self.q_leak = self.q_leak + i_leak * (dt / 3600.0)

        # Interface morphology: dendrites on plating, voids on stripping.
        if i_ext > 0.0:
            self._grow_dendrites(j_int, contact, dt, t_s)
        elif i_ext < 0.0:
            self._grow_voids(j_int, dt, t_s)
        if self.any_short:
            self._shorts(i_ext, r_lin, v, dt, t_s)

        # Lumped thermal model: irreversible + reversible (entropic) heat, convection.
        heat = i_int * (v - ocv + t_k * dudt)
        if self.any_short:
            # a short heats the cell; a balancing resistor heats the BMS board
            heat = heat + (i_leak - self.g_bleed * v) * v
        if self.n > 1 and c["neighbour_w_k"] > 0.0:
            # Conduction to the neighbours in the string (cells stacked in a row).
            d = np.diff(self.t_c)
            lap = np.zeros(self.n)
            lap[:-1] += d
            lap[1:] -= d
            heat = heat + c["neighbour_w_k"] * lap
        t_inf = self.t_amb_c + heat / self.ha
        # Thermal runaway is not modelled: keep the temperature in a range the laws cover.
        self.t_c = np.clip(t_inf + (self.t_c - t_inf) * self.a_th, -80.0, 400.0)

        self.v = v
        self.i_leak = i_leak
        self.i_int = i_int
        if self._ep_any:
            self._close_episodes(t_s + dt)
        self._anode = (u_an, eta, r_an)

    def _plate(self, dq_p, j_int):
        plated = np.minimum(dq_p, self.q_cath)  # an empty cathode cannot give more sodium
        self.q_ox = self.q_ox + (dq_p - plated)
        sei = plated * self.f_sei_t
        self.q_cath = self.q_cath - plated
        self.q_plated = self.q_plated + plated - sei
        self.q_sei = self.q_sei + sei
        # Plating refills voids; a small share of each refilled void stays for good.
        if self.void.any():
            closed = self.void * np.minimum(1.0, plated * self.inv_q_refill)
            self.void = self.void - closed
            self.void_res = self.void_res + self.c["void_residual_frac"] * closed

    def _strip(self, dq_s, j_int):
        # Dead sodium: a share of each stripped amount is left isolated; more at high
        # current density and low temperature.
        f_dead = self.f_dead_t * self.dead_mult * np.sqrt(np.abs(j_int))
        stripped = np.minimum(dq_s, self.q_plated / (1.0 + f_dead))
        corr = dq_s - stripped
        self.q_corr = self.q_corr + corr
        dead = stripped * f_dead
        self.q_plated = self.q_plated - stripped - dead
        self.q_dead = self.q_dead + dead
        self.q_cath = self.q_cath + stripped
        return corr

    def _grow_dendrites(self, j_int, contact, dt, t_s):
        c = self.c
        dead_frac = self.q_dead * self.inv_q_site
        ccd = self.ccd_t * self.ccd_mult * contact * (1.0 - np.minimum(dead_frac, 0.5))
        over = np.maximum(j_int, 0.0) / contact / ccd - 1.0
        growing = over > 0.0
        if growing.any():
            self.dendrite = self.dendrite + c["dendrite_growth_per_s"] * dt * np.maximum(over, 0.0)
            self._episode("dendrite", growing, t_s, dt, self.dendrite)
            pen = (self.dendrite >= 1.0) & (self.g_short == 0.0)
            if pen.any():
                cells = np.flatnonzero(pen)
                self.g_short[cells] = self.q_nom[cells] / c["soft_short_r_ohm_ah"]
                self.g_short_growth[cells] = c["soft_short_growth_per_s"]
                self.micro_on[cells] = True
                self.any_short = True
                self._ep_open["dendrite"][cells] = False  # the growth episode ends in a short
                self._ep_emitted["dendrite"][cells] = True
                self.events.append(("penetration", cells, t_s))

    def _grow_voids(self, j_int, dt, t_s):
        c = self.c
        # Dendrite tips strip first: unpenetrated dendrites retract while discharging.
        if self.dendrite.any():
            retract = c["dendrite_retract_per_s"] * dt * np.abs(j_int)
            self.dendrite = np.where(self.dendrite >= 1.0, self.dendrite,
                                     np.maximum(self.dendrite - retract, 0.0))
        contact = 1.0 - self.void - self.void_res
        over = np.abs(np.minimum(j_int, 0.0)) / contact / (self.jvoid_t * self.void_crit_mult) - 1.0
        voiding = over > 0.0
        if voiding.any():
            room = np.maximum(c["void_max"] - self.void - self.void_res, 0.0)
            # Creep refills voids while the metal is thick; a thin layer cannot keep up, so
            # voids (and the polarisation) grow towards the end of the discharge.
            thin = self.q_thin / (self.q_plated + self.q_thin)
            self.void = self.void + (c["void_growth_per_s"] * dt * np.clip(over, 0.0, 5.0)
                                     * room * thin)
            self._episode("void", voiding, t_s, dt, self.void + self.void_res)
            self._voids_any = True

    def _episode(self, kind, active, t_s, dt, size):
        """Track a physics episode per cell; its label appears once `size` is material."""
        is_open = self._ep_open[kind]
        new = active & ~is_open
        if new.any():
            is_open |= new
            self._ep_start[kind][new] = t_s
            self._ep_emitted[kind][new] = False
            self._ep_any = True
        emit = is_open & ~self._ep_emitted[kind] & (size >= self.c["label_min_" + kind])
        if emit.any():
            idx = np.flatnonzero(emit)
            self.events.append((kind + "_start", idx, self._ep_start[kind][idx]))
            self._ep_emitted[kind][idx] = True
        self._ep_last[kind][active] = t_s + dt

    def _close_episodes(self, t_now):
        gap = self.c["episode_gap_s"]
        still = False
        for kind, is_open in self._ep_open.items():
            if is_open.any():
                last = self._ep_last[kind]
                stale = is_open & (t_now - last >= gap)
                if stale.any():
                    idx = np.flatnonzero(stale & self._ep_emitted[kind])
                    if idx.size:
                        self.events.append((kind + "_stop", idx, last[idx]))
                    is_open[stale] = False
                still = still or bool(is_open.any())
        self._ep_any = still

    def _shorts(self, i_ext, r_lin, v, dt, t_s):
        c = self.c
        if i_ext > 0.0:
            # A filament keeps growing while sodium plates into it.
            soft = (self.g_short > 0.0) & ~self.hard
            self.g_short = self.g_short * (1.0 + self.g_short_growth * dt * soft)
            to_hard = soft & (self.g_short * c["hard_short_threshold_ohm_ah"] > self.q_nom)
            if to_hard.any():
                cells = np.flatnonzero(to_hard)
                self.make_hard(cells)
                self.events.append(("hard", cells, t_s))
        if self.g_micro.any():
            self.g_micro = self.g_micro * np.exp(-dt / c["micro_tau_s"])
            self.g_micro[self.g_micro < 1e-6] = 0.0

    def _micro_events(self, dt, t_s):
        """Transient micro-shorts during charge: 20-80 mV drops with quick recovery."""
        c = self.c
        cand = np.flatnonzero(self.micro_on & ~self.hard)
        if not cand.size:
            return
        p = c["micro_rate_per_h"] * dt / 3600.0
        hit = cand[self._rng.random(cand.size) < p]
        if hit.size:
            lo, hi = c["micro_drop_v"]
            drop = self._rng.uniform(lo, hi, hit.size)
            v_h = np.maximum(self.v[hit], 0.5)
            # drop = r_lin * i_micro  and  i_micro = g * v  (r_lin of the previous step)
            self.g_micro[hit] += drop / (self._r_lin_prev[hit] * (v_h - drop))
            self.events.append(("micro", hit, t_s, drop))

    def scale_resistance(self, cells, factor):
        """The cathode/electrolyte side's resistances times factor, RC time constants kept (an impedance fault)."""
        for arr in (self.r0, self.r1, self.r2):
            arr[cells] *= factor
        self.c1[cells] /= factor
        self.c2[cells] /= factor
        self._t_cache = None  # the temperature-scaled copies are recomputed on the next step

    def make_soft(self, cells, r_ohm, growth_per_s, micro):
        self.g_short[cells] = 1.0 / r_ohm
        self.g_short_growth[cells] = growth_per_s
        self.micro_on[cells] = micro
        self.any_short = True

    def set_bleed(self, g_s):
        """Balancing conductances across the cells [S] (0: open).  They drain a cell like a short (through the
        same path, so an empty cell's voltage collapses), but heat the board, not the cell."""
        self.g_bleed = np.asarray(g_s, dtype=float).copy()
        if self.g_bleed.any():
            self.any_short = True

    def make_hard(self, cells, r_ohm=None):
        r = self.c["hard_short_r_ohm_ah"] / self.q_nom[cells] if r_ohm is None else r_ohm
        self.g_short[cells] = 1.0 / r
        self.hard[cells] = True
        self.micro_on[cells] = False
        self.any_short = True


def _spread_dict(spread):
    if spread is True:
        return dict(P.SPREAD)
    if spread is False or spread is None:
        return {k: 0.0 for k in P.SPREAD}
    if isinstance(spread, dict):
        unknown = set(spread) - set(P.SPREAD)
        if unknown:
            raise ValueError("unknown spread keys %s; known: %s" % (sorted(unknown), sorted(P.SPREAD)))
        d = dict(P.SPREAD)
        d.update(spread)
        return d
    raise ValueError("spread must be True, False or a dict, got %r" % (spread,))
