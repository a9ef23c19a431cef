# An NTC thermistor read through the MCU's ADC (machine.ADC.read_u16), in a divider with a fixed resistor to the
# ADC's reference. Beta model by default; Steinhart-Hart when its three coefficients are given.
import math

_T0_K = 273.15
_OPEN = 65000  # read_u16 at the rails: a broken or shorted sensor, reported as NaN (the application fails safe)
_SHORT = 500
_NAN = float("nan")


class Ntc:
    def __init__(self, adc, r_fixed_ohm, r0_ohm=10000.0, t0_c=25.0, beta=3950.0, sh=None, ntc_low=True):
        """ntc_low: the NTC is the divider's lower leg (to ground), the fixed resistor to the reference; sh:
        (a, b, c) Steinhart-Hart coefficients, 1/T = a + b ln R + c (ln R)^3, in place of the Beta model."""
        self.adc = adc
        self.r_fixed_ohm = r_fixed_ohm
        self.r0_ohm = r0_ohm
        self.inv_t0 = 1.0 / (t0_c + _T0_K)
        self.inv_beta = 1.0 / beta
        self.ln_r0 = math.log(r0_ohm)
        self.sh = sh
        self.ntc_low = ntc_low

    def resistance_ohm(self, u16):
        x = u16 / 65535.0
        if self.ntc_low:
            return self.r_fixed_ohm * x / (1.0 - x)
        return self.r_fixed_ohm * (1.0 - x) / x

    def read_c(self):
        u = self.adc.read_u16()
        if u >= _OPEN or u <= _SHORT:
            return _NAN
        ln_r = math.log(self.resistance_ohm(u))
        if self.sh is not None:
            a, b, c = self.sh
            return 1.0 / (a + b * ln_r + c * ln_r * ln_r * ln_r) - _T0_K
        return 1.0 / (self.inv_t0 + (ln_r - self.ln_r0) * self.inv_beta) - _T0_K
