# Covariance algebra and bounds for the 4-state SoC filter (scalar measurements), in 32-bit-safe form
# (micro:bit-sized; MicroPython 1.9 syntax). P is a row-major list of 16, always written symmetrically.
RN = (0, 1, 2, 3)


def predict_cov(P, d, c, q):
    # P = F P F' + diag(q) for F = diag(d) + c e3': the last state (the current-sensor offset) enters the
    # others through column 3 only; d[3] = 1, c[3] = 0, so row and column 3 serve as they are updated.
    for i in RN:
        for j in RN:
            P[4 * i + j] = d[i] * P[4 * i + j] + c[i] * P[12 + j]
    for i in RN:
        for j in RN:
            P[4 * i + j] = d[j] * P[4 * i + j] + c[j] * P[4 * i + 3]
        P[5 * i] += q[i]
        for j in range(i):
            P[4 * j + i] = P[4 * i + j]


def p_ht(P, H, U):
    # U = P H'; returns H P H'
    s = 0.0
    for i in RN:
        u = 0.0
        for j in RN:
            u += P[4 * i + j] * H[j]
        U[i] = u
        s += H[i] * u
    return s


def joseph(P, K, U, s, r):
    # Joseph form P = (I - K H) P (I - K H)' + K r K' for a scalar measurement, evaluated through
    # U = P H' and s = H P H' + r (no H needed):
    #   (I - K H) P = P - K U'   and   ((I - K H) P) H' = U - K (s - r) = W, so
    #   P_ij = P_ij - K_i U_j - W_i K_j + r K_i K_j
    # It holds for any gain K (errors in K stay second order in P) and is written symmetrically.
    for i in RN:
        w = U[i] - K[i] * (s - r)
        for j in range(i, 4):
            e = P[4 * i + j] - K[i] * U[j] - w * K[j] + r * K[i] * K[j]
            P[4 * i + j] = e
            P[4 * j + i] = e


SOC_MAX = 1.02  # a cell charged past v_max at rest sits a little above SoC 1 (OCV extrapolated)


def clamp(x, P, x_hi, p_lo, p_hi):
    # States to their ranges (soc 0..x_hi[0], the others -x_hi..x_hi); variance floors (add to the
    # diagonal) and caps (P <- D P D, D diagonal > 0): both keep P PSD.
    for j in RN:
        lo = 0.0 if j == 0 else -x_hi[j]
        x[j] = min(max(x[j], lo), x_hi[j])
        d = P[5 * j]
        if d < p_lo[j]:
            P[5 * j] = p_lo[j]
        elif d > p_hi[j]:
            d = (p_hi[j] / d) ** 0.5
            for c in RN:
                P[4 * j + c] *= d
                P[4 * c + j] *= d
            P[5 * j] = p_hi[j]  # exactly, not d*d*P[jj]
