"""Identify the firmware estimator's cell parameters from simulated lab tests (not from sim's code).

    python bench/estimator_identify.py [--preset nvp-mg-naf ...]

Treats the simulator as a cell on a lab bench, seen only through a SensorModel (1 mV, 2 mA noise):
  * OCV(SoC) at 25 degC: C/20 discharge from full and C/20 charge back; pseudo-OCV = mean of the two
    branches at equal coulomb-counted SoC (cancels IR drop and hysteresis to first order);
    hysteresis estimate = half the branch gap minus the IR part.
  * R0, R1, tau1 at 0, 25, 45 degC: a C/2 discharge pulse at 50 % SoC sampled at 0.1 s; R0 from the
    instantaneous step, R1 and tau1 by a one-RC least-squares fit of the pulse; Arrhenius activation
    energies by a straight-line fit of ln R against 1/T.
Prints the figures; the firmware presets (firmware/bms/cellparams.py) carry them rounded.
"""

import argparse
import math

import numpy as np
from scipy.optimize import curve_fit

from sim import profiles
from sim.pack import Pack
from sim.sensors import SensorModel

SOC_BP = {
    "nvp": (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5, 0.7, 0.85, 0.92, 0.96, 0.98, 0.99, 1.0),
    "layered-oxide": (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0),
}
V_LIM = {"nvp": (2.5, 3.7), "layered-oxide": (2.0, 4.0)}


def _pack(cathode, interphase, t_c, soc0):
    return Pack(cathode=cathode, interphase=interphase, n_cells=1, q_ah=2.0, t_amb_c=t_c, seed=0,
                spread=False, soc0=soc0)


def _sensors():
    return SensorModel(seed=3, v_noise_v=1e-3, i_noise_a=2e-3)


def ocv_curve(cathode, interphase, c_rate=0.05, dt=10.0):
    v_min, v_max = V_LIM[cathode]
    i = c_rate * 2.0
    pk = _pack(cathode, interphase, 25.0, 1.0)
    sens = _sensors()
    dis = pk.run(profiles.cc(-i, v_min=v_min), dt_s=dt, sensors=sens)
    chg = pk.run(profiles.cc(i, v_max=v_max), dt_s=dt, sensors=sens)
    ah_d = np.cumsum(-dis["i_meas"]) * dt / 3600.0
    ah_c = np.cumsum(chg["i_meas"]) * dt / 3600.0
    q = ah_d[-1]
    soc_d = 1.0 - ah_d / q  # discharge from full
    soc_c = ah_c / q  # charge from empty
    vd = dis["v_meas"][:, 0]
    vc = chg["v_meas"][:, 0]
    bp = np.array(SOC_BP[cathode])
    od = np.interp(bp, soc_d[::-1], vd[::-1])
    oc = np.interp(bp, soc_c, vc)
    return bp, (od + oc) / 2.0, (oc - od) / 2.0, q


def pulse(cathode, interphase, t_c, i_a=-1.0, dt=0.1, pulse_s=60.0):
    pk = _pack(cathode, interphase, t_c, 0.5)
    sens = _sensors()
    pk.run(profiles.rest(600.0), dt_s=1.0)
    r = pk.run(profiles.sequence([profiles.rest(2.0), profiles.cc(i_a, duration_s=pulse_s)]), dt_s=dt, sensors=sens)
    v = r["v_meas"][:, 0]
    n0 = int(round(2.0 / dt))
    v_rest = np.mean(v[n0 - 10:n0])
    dv = v[n0:] - v_rest  # negative for discharge
    t = (np.arange(len(dv)) + 1) * dt
    r0 = dv[0] / i_a

    def model(t, r1, tau):
        return i_a * (r0 + r1 * (1 - np.exp(-t / tau)))

    (r1, tau), _ = curve_fit(model, t, dv, p0=(0.02, 20.0), bounds=([0, 0.5], [1.0, 1000.0]))
    return r0, r1, tau, float(np.mean(r["t_meas"]))


def arrhenius(ts, rs):
    x = 1.0 / (np.array(ts) + 273.15) - 1.0 / 298.15
    slope, icpt = np.polyfit(x, np.log(rs), 1)
    return slope * 8.314, math.exp(icpt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", nargs="*", default=["nvp-mg-naf", "nvp-bare-cu", "layered-oxide-mg-naf", "layered-oxide-bare-cu"])
    a = ap.parse_args(argv)
    for name in a.preset:
        cathode = "nvp" if name.startswith("nvp") else "layered-oxide"
        interphase = name[len(cathode) + 1:]
        bp, ocv, hyst, q = ocv_curve(cathode, interphase)
        print("== %s  (C/20 capacity %.4f Ah)" % (name, q))
        print("soc_pts", tuple(round(float(s), 4) for s in bp))
        print("ocv_pts", tuple(round(float(v), 3) for v in ocv))
        print("half branch gap [mV]", tuple(round(1000 * float(h), 1) for h in hyst))
        rows = [pulse(cathode, interphase, t) for t in (0.0, 25.0, 45.0)]
        for t, (r0, r1, tau, tm) in zip((0, 25, 45), rows):
            print("  T=%2d C (cell %.1f C): R0 %.4f  R1 %.4f  tau1 %.1f s" % (t, tm, r0, r1, tau))
        tms = [row[3] for row in rows]
        ea0, r0_25 = arrhenius(tms, [row[0] for row in rows])
        ea1, r1_25 = arrhenius(tms, [row[1] for row in rows])
        print("  Arrhenius: R0_25 %.4f Ea %.0f J/mol;  R1_25 %.4f Ea %.0f J/mol" % (r0_25, ea0, r1_25, ea1))


if __name__ == "__main__":
    main()
