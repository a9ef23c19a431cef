"""nabms simulator: the ground truth for the estimator, the detectors and the bench.

Physics-informed, numpy-vectorised anode-free (zero-sodium-excess) sodium cells in series
strings.  Entry points: sim.pack.Pack, sim.sensors.SensorModel, sim.profiles, sim.ageing,
the `nabms-sim` command (sim.cli).  See docs/simulator.md.  Never import from firmware/.
"""
