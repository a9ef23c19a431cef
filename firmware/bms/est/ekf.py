# Extended Kalman filter for SoC on the ECM of bms.est.model (micro:bit-sized core; MicroPython 1.9 syntax).
# x = [soc, v1, h, b] (b: current-sensor offset in units of its prior sigma, bms.est.model). Textbook names (filterpy): x, P, F, Q, R, K, y, S.
#   predict (every tick):        x = f(x, u);  P = F P F' + Q
#   update (a valid measurement): y = z - h(x);  S = H P H' + R;  K = P H'/S;  x += K y;
#                                 P = (I-KH) P (I-KH)' + K R K'  (Joseph)
# Voltage: H = [w*dOCV/dsoc, 1, M, 0] (the offset: see bms.est.model); nominal R = sigma_v^2 + ri*i^2 (set by CellEstimator).
# Flat plateau (bms.est.model.h): w = max(0, 1 - s0^2/k^2): where the OCV slope k is below s0 the voltage does not move
#   SoC (a constant model bias would integrate into SoC for as long as the plateau lasts).
# Adaptive R (covariance matching, Mehra 1972): c = the innovations' mean NIS under the nominal S over
#   ~r_adapt_s; S = max(1, c) * S_nominal. A wrong model widens R instead of being gated; the gate
#   (on the adapted S) only drops lone outliers, and each gated sample raises c, so runs of them end.
#   nis stays y^2/S_nominal: how far the cell is from its configured model (the detectors read it).
# 32-bit floats: P symmetric by construction, variance floors/caps that keep it PSD, bounded states
#   (bms.est.joseph.clamp), divisors bounded away from zero (S >= R > 0, tau1 >= 0.1 s).
from bms.est.joseph import update
from bms.est.kalman import init, predict, step
from bms.est.model import CellModel


class SocEkf:
    def __init__(self, p, soc0, v=None):
        # v: the variance of soc0 (None: soc_sigma0^2)
        self.m = CellModel(p)
        init(self, p, soc0, v)

    predict = predict  # (dt, i, t_c, q_ah): x = f(x, u);  P = F P F' + Q
    update = update  # (y, R, H, n=4): S = H P H' + R;  K = P H'/S;  x += K y;  Joseph form
    step = step  # (dt, i, v, t_c, q_ah): predict, then the voltage update with the adaptive R; False if gated
