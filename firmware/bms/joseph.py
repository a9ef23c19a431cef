# Covariance algebra and bounds for the 3-state SoC filter (scalar measurement), in 32-bit-safe form
# (micro:bit-sized; MicroPython 1.9 syntax). P is a row-major list of 9, always written symmetrically.
R3 = (0, 1, 2)


def joseph(P, K, H, r, B):
    # P = A P A' + K r K', A = I - K H  (Joseph form: PSD for any gain); B is a scratch list of 9.
    for i in R3:  # B = A P
        for c in R3:
            B[3 * i + c] = P[3 * i + c] - K[i] * (H[0] * P[c] + H[1] * P[3 + c] + H[2] * P[6 + c])
    for i in R3:  # P = B A' + r K K'
        for c in range(i, 3):
            e = B[3 * i + c] - (B[3 * i] * H[0] + B[3 * i + 1] * H[1] + B[3 * i + 2] * H[2]) * K[c] + r * K[i] * K[c]
            P[3 * i + c] = e
            P[3 * c + i] = e


P_LO = (1e-8, 1e-10, 1e-8)  # variance floors of soc, v1, h
P_HI = (0.16, 0.04, 1.0)  # variance caps (sigma 0.4, 0.2 V, 1)


def clamp(x, P, v1_max):
    # States to their ranges; variance floors (add to the diagonal) and caps (P <- D P D, D diagonal
    # > 0): both keep P PSD.
    x[0] = min(max(x[0], 0.0), 1.0)
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
