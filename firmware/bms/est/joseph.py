# Covariance algebra and bounds for the 3-state SoC filter (scalar measurement), in 32-bit-safe form
# (micro:bit-sized; MicroPython 1.9 syntax). P is a row-major list of 9, always written symmetrically.
R3 = (0, 1, 2)


def predict_cov(P, F, q0, q1, q2):
    # P = F P F' + diag(q0, q1, q2) for F = diag(1, F[1], F[2]) (the SoC row of F is 1)
    f1 = F[1]
    f2 = F[2]
    P[0] += q0
    P[1] *= f1
    P[2] *= f2
    P[5] *= f1 * f2
    P[4] = P[4] * f1 * f1 + q1
    P[8] = P[8] * f2 * f2 + q2
    P[3] = P[1]
    P[6] = P[2]
    P[7] = P[5]


def p_ht(P, H, U):
    # U = P H' for H = [H[0], 1, H[2]]; returns H P H'
    h0 = H[0]
    h2 = H[2]
    U[0] = P[0] * h0 + P[1] + P[2] * h2
    U[1] = P[3] * h0 + P[4] + P[5] * h2
    U[2] = P[6] * h0 + P[7] + P[8] * h2
    return h0 * U[0] + U[1] + h2 * U[2]


PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def joseph(P, K, U, s, r):
    # Joseph form P = (I - K H) P (I - K H)' + K r K' for a scalar measurement, evaluated through
    # U = P H' and s = H P H' + r (no H needed):
    #   (I - K H) P = P - K U'   and   ((I - K H) P) H' = U - K (s - r) = W, so
    #   P_ij = P_ij - K_i U_j - W_i K_j + r K_i K_j
    # It holds for any gain K (errors in K stay second order in P) and is written symmetrically.
    for i, j in PAIRS:
        e = P[3 * i + j] - K[i] * U[j] - (U[i] - K[i] * (s - r)) * K[j] + r * K[i] * K[j]
        P[3 * i + j] = e
        P[3 * j + i] = e


SOC_MAX = 1.02  # a cell charged past v_max at rest sits a little above SoC 1 (OCV extrapolated)
P_LO = (1e-8, 1e-10, 1e-8)  # variance floors of soc, v1, h
P_HI = (0.16, 0.04, 1.0)  # variance caps (sigma 0.4, 0.2 V, 1)


def clamp(x, P, v1_max):
    # States to their ranges; variance floors (add to the diagonal) and caps (P <- D P D, D diagonal
    # > 0): both keep P PSD.
    x[0] = min(max(x[0], 0.0), SOC_MAX)
    x[1] = min(max(x[1], -v1_max), v1_max)
    x[2] = min(max(x[2], -1.0), 1.0)
    for j in R3:
        d = P[4 * j]
        if d < P_LO[j]:
            P[4 * j] = P_LO[j]
        elif d > P_HI[j]:
            d = (P_HI[j] / d) ** 0.5
            for c in R3:
                P[3 * j + c] *= d
                P[3 * c + j] *= d
            P[4 * j] = P_HI[j]  # exactly, not d*d*P[jj]
