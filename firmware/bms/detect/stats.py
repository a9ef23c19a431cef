"""Small statistics and OCV helpers the detectors share."""


def median(xs):
    s = sorted(xs)
    m = len(s)
    if m == 0:
        return 0.0
    h = m >> 1
    return s[h] if m & 1 else 0.5 * (s[h - 1] + s[h])


def median_last3(buf, x):
    """Append x to buf, keep its last three values, return their median."""
    buf.append(x)
    if len(buf) > 3:
        buf.pop(0)
    return median(buf)


class RunningMedian:
    """The median of a list whose values move a little every tick, without allocating: an index order kept from
    the last call and re-sorted by insertion (nearly sorted already: ~n steps)."""

    def __init__(self, n):
        self._order = list(range(n))

    def of(self, xs):
        o = self._order
        m = len(o)
        for k in range(1, m):
            j = o[k]
            x = xs[j]
            p = k - 1
            while p >= 0 and xs[o[p]] > x:
                o[p + 1] = o[p]
                p -= 1
            o[p + 1] = j
        if m == 0:
            return 0.0
        h = m >> 1
        return xs[o[h]] if m & 1 else 0.5 * (xs[o[h - 1]] + xs[o[h]])


def noise_factor(k_sigma, sd, level):
    """>= 1: how far k_sigma standard errors (sd) reach above a level set with a quiet front end; a detector
    divides its evidence (or its excess) by it."""
    f = k_sigma * sd / level
    return f if f > 1.0 else 1.0


def soc_of_ocv(est, v, t_c):
    """SoC whose model OCV is v (bisection on the estimator's monotonic OCV curve)."""
    lo = 0.0
    hi = 1.0
    if v <= est.ocv(lo, t_c):
        return lo
    if v >= est.ocv(hi, t_c):
        return hi
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        if est.ocv(mid, t_c) < v:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ocv_slope(est, soc, t_c):
    """dOCV/dSoC [V per unit SoC] over +/-0.2 % around soc (the ends are strongly curved)."""
    a = soc - 0.002
    b = soc + 0.002
    if a < 0.0:
        a = 0.0
    if b > 1.0:
        b = 1.0
    return (est.ocv(b, t_c) - est.ocv(a, t_c)) / (b - a)
