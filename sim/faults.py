"""Physical fault injection for sim.pack.Pack, with ground-truth labels.

A fault spec is a dict; every spec has ``kind``, ``cell`` (0-based index in the
string) and ``t_start_s`` (simulated time at which it starts; default 0).

=================  ==========================================================
kind               extra keys (defaults)
=================  ==========================================================
``soft_short``     ``r_ohm`` leak resistance at onset (400 ohm*Ah / q);
                   ``growth_per_h`` relative rise of the leak conductance per
                   hour of charging (0.0: constant); ``micro`` transient
                   20-80 mV drops during charge (True).  Grows into a
                   ``hard_short`` once r < 2 ohm*Ah / q.
``hard_short``     ``r_ohm`` (0.05 ohm*Ah / q): the voltage collapses towards 0.
``dendrite``       ``ccd_factor`` (0.25): the cell's critical current density is
                   multiplied by it, so ordinary charging grows dendrites which
                   penetrate into a soft short (physics, labelled separately).
``dead_sodium``    ``factor`` (5.0): dead-sodium growth per stripped charge is
                   multiplied by it (accelerated capacity fade); ``t_end_s``
                   optional.
``void``           ``factor`` (0.2): critical stripping current multiplied by it,
                   so discharges form voids (contact loss, rising polarisation
                   towards the end of discharge, lower CCD on the next charge).
``nucleation``     ``factor`` (4.0): the nucleation overpotential at each plating
                   onset on the bare collector is multiplied by it (a degraded
                   sodiophilic layer).
``impedance``      ``factor`` (3.0): the cell's ohmic and RC resistances are
                   multiplied by it, time constants kept (electrolyte dry-out,
                   a corroded tab or weld): a cell that no longer fits its
                   model, with no plating trouble of its own.
=================  ==========================================================

Labels (``Pack.labels``) are dicts ``{"cell", "kind", "t_start_s", "t_end_s",
"magnitude", "unit", "source"}``; ``source`` is ``"injected"`` for the spec
itself and ``"physics"`` for what the model produced (a dendrite growth
episode, penetration into a soft short, soft -> hard short, a void-forming
discharge, a transient ``micro_short``).  A label of a kind that is still open
for a cell is not opened twice.
"""

import math

KINDS = ("soft_short", "hard_short", "dendrite", "dead_sodium", "void", "nucleation", "impedance")

_DEFAULTS = {
    "soft_short": {"r_ohm": None, "growth_per_h": 0.0, "micro": True},
    "hard_short": {"r_ohm": None},
    "dendrite": {"ccd_factor": 0.25},
    "dead_sodium": {"factor": 5.0, "t_end_s": None},
    "void": {"factor": 0.2},
    "nucleation": {"factor": 4.0},
    "impedance": {"factor": 3.0},
}


def validate(spec, n_cells):
    """Return a complete copy of one fault spec or raise ValueError saying what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("a fault spec must be a dict, got %r" % (spec,))
    kind = spec.get("kind")
    if kind not in _DEFAULTS:
        raise ValueError("fault kind must be one of %s, got %r" % (KINDS, kind))
    known = {"kind", "cell", "t_start_s"} | set(_DEFAULTS[kind])
    unknown = set(spec) - known
    if unknown:
        raise ValueError("fault %s: unknown keys %s (known: %s)" % (kind, sorted(unknown), sorted(known)))
    out = dict(_DEFAULTS[kind])
    out.update(spec)
    out.setdefault("t_start_s", 0.0)
    cell = out.get("cell")
    if not isinstance(cell, int) or not 0 <= cell < n_cells:
        raise ValueError("fault %s: cell must be an int in 0..%d, got %r" % (kind, n_cells - 1, cell))
    t0 = out["t_start_s"]
    if not (isinstance(t0, (int, float)) and math.isfinite(t0) and t0 >= 0):
        raise ValueError("fault %s: t_start_s must be a finite time >= 0, got %r" % (kind, t0))
    for key in ("r_ohm", "factor", "ccd_factor"):
        val = out.get(key)
        if val is not None and not (isinstance(val, (int, float)) and val > 0 and math.isfinite(val)):
            raise ValueError("fault %s: %s must be positive, got %r" % (kind, key, val))
    return out


def activate(spec, cells, add_label):
    """Apply one validated spec to the CellArray and record its label."""
    kind, cell, t0 = spec["kind"], spec["cell"], float(spec["t_start_s"])
    c = cells.c
    q = float(cells.q_nom[cell])
    if kind == "soft_short":
        r = spec["r_ohm"] if spec["r_ohm"] is not None else c["soft_short_r_ohm_ah"] / q
        cells.make_soft([cell], r, spec["growth_per_h"] / 3600.0, bool(spec["micro"]))
        add_label(cell, "soft_short", t0, r, "ohm", "injected")
    elif kind == "hard_short":
        r = spec["r_ohm"] if spec["r_ohm"] is not None else c["hard_short_r_ohm_ah"] / q
        cells.make_hard([cell], r)
        add_label(cell, "hard_short", t0, r, "ohm", "injected")
    elif kind == "dendrite":
        cells.ccd_mult[cell] *= spec["ccd_factor"]
        add_label(cell, "dendrite", t0, spec["ccd_factor"], "ccd_factor", "injected")
    elif kind == "dead_sodium":
        cells.dead_mult[cell] *= spec["factor"]
        lab = add_label(cell, "dead_sodium", t0, spec["factor"], "dead_rate_factor", "injected")
        if spec["t_end_s"] is not None and lab is not None:
            lab["t_end_s"] = float(spec["t_end_s"])
    elif kind == "void":
        cells.void_crit_mult[cell] *= spec["factor"]
        add_label(cell, "void", t0, spec["factor"], "void_crit_factor", "injected")
    elif kind == "nucleation":
        cells.nuc_mult[cell] *= spec["factor"]
        add_label(cell, "nucleation", t0, spec["factor"], "eta_nuc_factor", "injected")
    elif kind == "impedance":
        cells.scale_resistance([cell], spec["factor"])
        add_label(cell, "impedance", t0, spec["factor"], "resistance_factor", "injected")


def deactivate(spec, cells):
    """End a fault that has a t_end_s (only dead_sodium has one)."""
    if spec["kind"] == "dead_sodium":
        cells.dead_mult[spec["cell"]] /= spec["factor"]
