# The SoC filter's steps as functions over a bms.est.ekf.SocEkf f (micro:bit-sized core; MicroPython 1.9 syntax;
# a module of its own so that each module the micro:bit compiles stays small). Equations: bms.est.ekf.
from bms.est.joseph import SOC_MAX, p_ht, predict_cov, update


def init(f, p, soc0, v=None):
    # v: the variance of soc0 (None: soc_sigma0^2)
    f.r = p["sigma_v"] ** 2 + 1e-8  # nominal R at rest (CellEstimator adds a recent-load term)
    f.ri = p["sigma_v_per_a"] ** 2  # model error growing with |i| (CellEstimator scales it with R0(T))
    f.gate = p["nis_gate"]
    f.tau_r = p["r_adapt_s"]
    f.x_hi = (SOC_MAX, p["v1_max_v"], 1.0, 4.0)  # state bounds (the offset: 4 sigma)
    # Q per second (soc, v1, h, b) and per unit SoC moved
    f.q = (p["q_soc_per_s"], p["q_v1_v2_per_s"], p["q_h_per_s"], 1 / 86400.0, p["q_soc_per_dsoc"])
    f.x = [0.5 if soc0 is None else soc0, 0.0, 0.0, 0.0]
    f.P = P = [0.0] * 16  # the offset in units of its prior sigma: P[15] = 1
    P[0] = p["soc_sigma0"] ** 2 if v is None else v
    P[5] = 1e-4
    P[10] = 0.25
    P[15] = 1.0
    f.d = [1.0] * 4  # F = diag(d) + c e3'
    f.c = [0.0] * 4
    f.H = [0.0, 1.0, 0.0, 0.0]
    f.K = [0.0] * 4
    f.U = [0.0] * 4  # P H'
    f.v_pred = f.y = f.S = f.R = f.nis = 0.0
    f.r_scale = 1.0  # c: mean NIS under the nominal S (R is widened by it when > 1)
    f.n_rejected = 0


def predict(f, dt, i, t_c, q_ah):
    # x = f(x, u);  P = F P F' + Q.  Returns the SoC step.
    m = f.m
    m.at(t_c)
    ds = m.f(f.x, f.d, f.c, dt, i, q_ah)
    predict_cov(f, dt, ds)
    return ds


def step(f, dt, i, v, t_c, q_ah):
    # One predict + voltage update with the adaptive R; returns False if the voltage was NIS-gated.
    dt = max(dt, 0)
    predict(f, dt, i, t_c, q_ah)
    x = f.x
    H = f.H
    f.v_pred = f.m.h(x, H, i, t_c)
    y = v - f.v_pred
    f.y = y
    R = f.r + f.ri * i * i
    # covariance matching: c = mean NIS under the nominal S; S = max(1, c) * S_nominal
    kk = p_ht(f.P, H, f.U)  # H P H'
    S = kk + R
    f.nis = y * y / S
    c = max(f.r_scale, 1)
    c += dt / (dt + f.tau_r) * (min(f.nis, f.gate * c) - c)
    f.r_scale = c
    if c > 1:
        S *= c
    f.S = S
    f.R = S - kk
    if y * y > f.gate * S:
        f.n_rejected += 1
        return False
    update(f, y, f.R, H, 3)
    return True
