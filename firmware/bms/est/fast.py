"""The SoC filter's covariance algebra unrolled, for boards with room for it (MicroPython 1.9 syntax).

bms.est.joseph is the reference: loops, small enough for the micro:bit to compile. On the firmware's boards the
loops and their index arithmetic cost more than the float operations (docs/boards.md, the tick budget), so
install() puts these in its place: the same operations in the same order over the upper triangle's 10 entries
(the terms the model's F makes zero, and its unit factors, left out: the same values, to the sign of a zero).
tests/test_estimator.py checks both give the same P, x and K.
"""
from bms.est import ekf, kalman
from bms.est import joseph as core

P_LO = core.P_LO
P_HI = core.P_HI


def predict_cov(f, dt, ds):
    # P = F P F' + Q for filter f, F = diag(d) + c e3' (the current-sensor offset, the last state, enters the
    # others through column 3 only):
    #   P_ij = d_i d_j P_ij + d_i P_i3 c_j + c_i P_3j d_j + c_i c_j P_33,  Q = diag(q) dt + q_dsoc |ds| on SoC.
    # The model (bms.est.model.f) writes d = (1, a1, ah, 1) and c = (c0, 0, 0, 0): the terms with a zero factor
    # and the unit factors are left out (the same values). Each entry uses P_i3, P_3j, P_33 not yet written.
    P = f.P
    d = f.d
    a = d[1]
    h = d[2]
    c = f.c[0]
    q = f.q
    p03 = P[3]
    p33 = P[15]
    P[0] = (P[0] + p03 * c) + c * (P[12] + c * p33) + dt * q[0]
    P[1] = P[4] = a * P[1] + c * (P[13] * a)
    P[2] = P[8] = h * P[2] + c * (P[14] * h)
    P[3] = P[12] = p03 + c * p33
    P[5] = a * (a * P[5]) + dt * q[1]
    P[6] = P[9] = a * (h * P[6])
    P[7] = P[13] = a * P[7]
    P[10] = h * (h * P[10]) + dt * q[2]
    P[11] = P[14] = h * P[11]
    P[15] = p33 + dt * q[3]
    P[0] += q[4] * abs(ds)
    clamp(f.x, P, f.x_hi)


def p_ht(P, H, U):
    # U = P H'; returns H P H'
    h0 = H[0]
    h1 = H[1]
    h2 = H[2]
    h3 = H[3]
    u0 = U[0] = P[0] * h0 + P[1] * h1 + P[2] * h2 + P[3] * h3
    u1 = U[1] = P[4] * h0 + P[5] * h1 + P[6] * h2 + P[7] * h3
    u2 = U[2] = P[8] * h0 + P[9] * h1 + P[10] * h2 + P[11] * h3
    u3 = U[3] = P[12] * h0 + P[13] * h1 + P[14] * h2 + P[15] * h3
    return h0 * u0 + h1 * u1 + h2 * u2 + h3 * u3


def joseph(P, K, U, s, r):
    # Joseph form P = (I - K H) P (I - K H)' + K r K' for a scalar measurement, evaluated through
    # U = P H' and s = H P H' + r (no H needed):
    #   (I - K H) P = P - K U'   and   ((I - K H) P) H' = U - K (s - r) = W, so
    #   P_ij = P_ij - K_i U_j - W_i K_j + r K_i K_j
    # It holds for any gain K (errors in K stay second order in P) and is written symmetrically.
    # (A loop: unrolled, this function is more bytecode than the micro:bit can compile.)
    sr = s - r
    for i in range(4):
        k = K[i]
        w = U[i] - k * sr  # W_i
        rk = r * k
        for j in range(i, 4):
            kj = K[j]
            P[4 * i + j] = P[4 * j + i] = P[4 * i + j] - k * U[j] - w * kj + rk * kj


def update(f, y, R, H, n=4):
    # bms.est.joseph.update: S = H P H' + R;  K = P H'/S (K[j] = 0 for j >= n);  x += K y;  Joseph form
    P = f.P
    K = f.K
    U = f.U
    x = f.x
    S = p_ht(P, H, U) + R
    for j in range(n):
        k = U[j] / S
        K[j] = k
        x[j] += k * y
    for j in range(n, 4):
        K[j] = 0
    core.joseph(P, K, U, S, R)  # looked up each time: a test may put a variant there
    clamp(x, P, f.x_hi)
    return S


def clamp(x, P, x_hi):
    # States to their ranges (soc 0..x_hi[0], the others -x_hi..x_hi); variance floors (add to the
    # diagonal) and caps (P <- D P D, D diagonal > 0): both keep P PSD. Unrolled, as above.
    v = x[0]
    if v < 0:
        x[0] = 0
    elif v > x_hi[0]:
        x[0] = x_hi[0]
    for j in (1, 2, 3):
        v = x[j]
        hi = x_hi[j]
        if v < -hi:
            x[j] = -hi
        elif v > hi:
            x[j] = hi
    if not P_LO[0] <= P[0] <= P_HI[0]:
        _bound(P, 0)
    if not P_LO[1] <= P[5] <= P_HI[1]:
        _bound(P, 1)
    if not P_LO[2] <= P[10] <= P_HI[2]:
        _bound(P, 2)
    if not P_LO[3] <= P[15] <= P_HI[3]:
        _bound(P, 3)


def _bound(P, j):
    d = P[5 * j]
    if d < P_LO[j]:
        P[5 * j] = P_LO[j]
    elif d > P_HI[j]:
        d = (P_HI[j] / d) ** 0.5
        for c in range(4):
            P[4 * j + c] *= d
            P[4 * c + j] *= d
        P[5 * j] = P_HI[j]  # exactly, not d*d*P[jj]


def install():
    """Put the unrolled forms in place of bms.est.joseph's loops (idempotent)."""
    if core.joseph is joseph:
        return
    core.predict_cov = kalman.predict_cov = predict_cov
    core.p_ht = kalman.p_ht = p_ht
    core.joseph = joseph
    core.clamp = clamp
    core.update = update
    kalman.update = update
    setattr(ekf.SocEkf, "update", update)  # the class took joseph.update when it was made
