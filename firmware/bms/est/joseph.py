# Covariance algebra and bounds for the 4-state SoC filter (scalar measurements), in 32-bit-safe form
# (micro:bit-sized; MicroPython 1.9 syntax). P is a row-major list of 16, always written symmetrically.
def predict_cov(f, dt, ds):
    # P = F P F' + Q for filter f, F = diag(d) + c e3' (the current-sensor offset, the last state, enters the
    # others through column 3 only; d[3] = 1, c[3] = 0):
    #   P_ij = d_i d_j P_ij + d_i P_i3 c_j + c_i P_3j d_j + c_i c_j P_33,  Q = diag(q) dt + q_dsoc |ds| on SoC.
    # Row by row over the upper triangle, written symmetrically: each entry uses P_i3, P_3j, P_33 not yet
    # written (j >= i, and row 3 last).
    P = f.P
    d = f.d
    c = f.c
    q = f.q
    for i in range(4):
        for j in range(i, 4):
            e = d[i] * (d[j] * P[4 * i + j] + P[4 * i + 3] * c[j]) + c[i] * (P[12 + j] * d[j] + c[j] * P[15])
            P[4 * i + j] = e
            P[4 * j + i] = e
        P[5 * i] += dt * q[i]
    P[0] += q[4] * abs(ds)
    clamp(f.x, P, f.x_hi)


def p_ht(P, H, U):
    # U = P H'; returns H P H'
    s = 0
    for i in range(4):
        e = 0
        for j in range(4):
            e += P[4 * i + j] * H[j]
        U[i] = e
        s += H[i] * e
    return s


def joseph(P, K, U, s, r):
    # Joseph form P = (I - K H) P (I - K H)' + K r K' for a scalar measurement, evaluated through
    # U = P H' and s = H P H' + r (no H needed):
    #   (I - K H) P = P - K U'   and   ((I - K H) P) H' = U - K (s - r) = W, so
    #   P_ij = P_ij - K_i U_j - W_i K_j + r K_i K_j
    # It holds for any gain K (errors in K stay second order in P) and is written symmetrically.
    for i in range(4):
        f = U[i] - K[i] * (s - r)  # W_i
        for j in range(i, 4):
            e = P[4 * i + j] - K[i] * U[j] - f * K[j] + r * K[i] * K[j]
            P[4 * i + j] = e
            P[4 * j + i] = e


def update(f, y, R, H, n=4):
    # Scalar update: S = H P H' + R;  K = P H'/S (K[j] = 0 for j >= n: a
    # consider state);  x += K y;  Joseph form (valid for any K).  Returns S.
    P = f.P
    K = f.K
    U = f.U
    x = f.x
    S = p_ht(P, H, U) + R
    for j in range(4):
        K[j] = U[j] / S if j < n else 0
        x[j] += K[j] * y
    joseph(P, K, U, S, R)
    clamp(x, P, f.x_hi)
    return S


SOC_MAX = 1.02  # a cell charged past v_max at rest sits a little above SoC 1 (OCV extrapolated)
P_LO = (1e-8, 1e-10, 1e-8, 1e-6)  # variance floors of soc, v1, h, b (b in units of its own prior sigma)
P_HI = (0.16, 0.04, 1, 1)  # variance caps (sigma 0.4, 0.2 V, 1, the offset's prior)


def clamp(x, P, x_hi):
    # States to their ranges (soc 0..x_hi[0], the others -x_hi..x_hi); variance floors (add to the
    # diagonal) and caps (P <- D P D, D diagonal > 0): both keep P PSD.
    for j in range(4):
        x[j] = min(max(x[j], -x_hi[j] if j else 0), x_hi[j])
        d = P[5 * j]
        if d < P_LO[j]:
            P[5 * j] = P_LO[j]
        elif d > P_HI[j]:
            d = (P_HI[j] / d) ** 0.5
            for c in range(4):
                P[4 * j + c] *= d
                P[4 * c + j] *= d
            P[5 * j] = P_HI[j]  # exactly, not d*d*P[jj]
