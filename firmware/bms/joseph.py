# Covariance algebra for a 3-state Kalman filter with a scalar measurement, in 32-bit-safe form
# (micro:bit-sized; MicroPython 1.9 syntax). P is a row-major list of 9, always written symmetrically.
from math import sqrt

R3 = (0, 1, 2)


def joseph(P, K, H, r, A, B):
    # P = (I - K H) P (I - K H)' + K r K'  (Joseph form: PSD for any gain); A, B are scratch lists of 9.
    for i in R3:
        for c in R3:
            A[3 * i + c] = (1.0 if i == c else 0.0) - K[i] * H[c]
    for i in R3:  # B = A P
        for c in R3:
            B[3 * i + c] = A[3 * i] * P[c] + A[3 * i + 1] * P[3 + c] + A[3 * i + 2] * P[6 + c]
    for i in R3:  # P = B A' + r K K'
        for c in range(i, 3):
            e = B[3 * i] * A[3 * c] + B[3 * i + 1] * A[3 * c + 1] + B[3 * i + 2] * A[3 * c + 2] + r * K[i] * K[c]
            P[3 * i + c] = e
            P[3 * c + i] = e


def bound(P, lo, hi):
    # Variance floors (add to the diagonal) and caps (P <- D P D, D diagonal > 0): both keep P PSD.
    for j in R3:
        d = P[4 * j]
        if d < lo[j]:
            P[4 * j] = lo[j]
        elif d > hi[j]:
            d = sqrt(hi[j] / d)
            for c in R3:
                P[3 * j + c] *= d
                P[3 * c + j] *= d
