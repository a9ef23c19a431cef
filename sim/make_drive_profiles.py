"""Regenerate the synthetic drive-style profiles shipped in sim/profiles/*.csv.

    python -m sim.make_drive_profiles

Not measured data: each profile is built from a fixed seed as a speed trace
(accelerate / cruise / brake / stop phases) turned into a C-rate with a simple
road-load power model (P ~ a*v + b*v^3 + m*v*dv/dt, regeneration at 60 %
when braking).  Columns: t_s (1 s grid from 0), c_rate (A per Ah of cell
capacity; > 0 charges, i.e. regeneration).  Nothing is downloaded.
"""

import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")

# name: (seed, duration s, max speed m/s, stop probability, C-rate at peak power)
SPECS = {
    "urban": (11, 1800, 14.0, 0.5, 2.0),
    "highway": (12, 3600, 33.0, 0.05, 1.5),
    "aggressive": (13, 1200, 30.0, 0.3, 3.0),
}


def speed_trace(rng, duration, v_top, p_stop):
    v = np.zeros(duration)
    t = 0
    speed = 0.0
    while t < duration:
        target = rng.uniform(0.3, 1.0) * v_top
        accel = rng.uniform(0.8, 2.5) if v_top < 20 else rng.uniform(0.5, 3.0)
        while speed < target and t < duration:
            speed = min(target, speed + accel)
            v[t] = speed
            t += 1
        for _ in range(int(rng.uniform(20, 180))):
            if t >= duration:
                break
            speed = max(0.0, speed + rng.normal(0, 0.3))
            v[t] = speed
            t += 1
        if rng.random() < p_stop:
            decel = rng.uniform(1.0, 3.0)
            while speed > 0 and t < duration:
                speed = max(0.0, speed - decel)
                v[t] = speed
                t += 1
            for _ in range(int(rng.uniform(5, 40))):
                if t >= duration:
                    break
                v[t] = 0.0
                t += 1
    return v


def c_rate(v, c_peak):
    a = np.gradient(v)
    power = 0.02 * v + 1.2e-4 * v ** 3 + 1.0 * v * a  # arbitrary units, drive > 0
    power = np.where(power < 0, 0.6 * power, power)  # only part of braking is recovered
    scale = c_peak / np.percentile(power, 99.5)
    return -np.clip(power * scale, -c_peak / 2, c_peak)  # discharge when driving


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (seed, dur, v_top, p_stop, c_peak) in SPECS.items():
        rng = np.random.default_rng(seed)
        c = c_rate(speed_trace(rng, dur, v_top, p_stop), c_peak)
        path = os.path.join(OUT, name + ".csv")
        with open(path, "w") as fh:
            fh.write("t_s,c_rate\n")
            for k, x in enumerate(c):
                fh.write("%d,%.4f\n" % (k, x))
        print("%s: %d s, mean %.3f C, min %.2f C, max %.2f C" % (path, dur, c.mean(), c.min(), c.max()))


if __name__ == "__main__":
    main()
