# TI INA228: 20-bit shunt, bus-voltage and temperature monitor on I2C (datasheet SBOSA20). Registers are
# big-endian; VSHUNT, VBUS and CURRENT are 24-bit with the 20-bit result in bits 23..4.
# SHUNT_CAL = 13107.2e6 x CURRENT_LSB x R_shunt (x4 on the +-40.96 mV range) makes CURRENT read in CURRENT_LSB.
from bms.compat import const

ADDR = const(0x40)
_CONFIG = const(0x00)
_ADC_CONFIG = const(0x01)
_SHUNT_CAL = const(0x02)
_VBUS = const(0x05)  # 195.3125 uV / LSB
_DIETEMP = const(0x06)  # 7.8125 m degC / LSB
_CURRENT = const(0x07)
_DIAG_ALRT = const(0x0B)
_MANUFACTURER_ID = const(0x3E)  # "TI"
_DEVICE_ID = const(0x3F)  # bits 15..4: 0x228
_RESET = const(0x8000)
_ADCRANGE = const(0x0010)  # CONFIG bit 4: +-40.96 mV full scale instead of +-163.84 mV
# continuous shunt, bus and temperature (MODE 0xF), 1052 us conversions, 16 averages
_ADC_CONTINUOUS = const(0xF000 | (5 << 9) | (5 << 6) | (5 << 3) | 2)
_VBUS_LSB_V = 195.3125e-6
_DIETEMP_LSB_C = 7.8125e-3


def _i20(b):
    v = (b[0] << 12) | (b[1] << 4) | (b[2] >> 4)
    return v - 0x100000 if v & 0x80000 else v


class INA228:
    def __init__(self, i2c, r_shunt_ohm, i_max_a, addr=ADDR, fine_range=False, sign=1):
        """i_max_a: the largest current to read (sets CURRENT_LSB = i_max_a / 2^19); fine_range: the +-40.96 mV
        range (4x the resolution) when i_max_a x r_shunt_ohm fits in it; sign -1 when the shunt is wired the
        other way round (the firmware's current is > 0 in charge)."""
        self.i2c = i2c
        self.addr = addr
        self.r_shunt_ohm = r_shunt_ohm
        self.fine_range = fine_range
        self.current_lsb_a = i_max_a / 524288.0
        self.sign = sign
        self._b = bytearray(3)
        self._b2 = memoryview(self._b)[:2]

    def _rd16(self, reg):
        self.i2c.readfrom_mem_into(self.addr, reg, self._b2)
        return (self._b[0] << 8) | self._b[1]

    def _wr16(self, reg, v):
        self._b[0] = v >> 8
        self._b[1] = v & 0xFF
        self.i2c.writeto_mem(self.addr, reg, self._b2)

    def configure(self):
        """Reset, calibrate and start continuous conversions; returns what the chip holds (read back)."""
        if self._rd16(_MANUFACTURER_ID) != 0x5449 or self._rd16(_DEVICE_ID) >> 4 != 0x228:
            raise OSError("ina228: no INA228 at %#x" % self.addr)
        if self.fine_range and self.current_lsb_a * 524288.0 * self.r_shunt_ohm > 0.04096:
            raise ValueError("ina228: i_max_a x r_shunt_ohm exceeds the fine range's 40.96 mV")
        self._wr16(_CONFIG, _RESET)
        self._wr16(_CONFIG, _ADCRANGE if self.fine_range else 0)
        cal = round(13107.2e6 * self.current_lsb_a * self.r_shunt_ohm * (4 if self.fine_range else 1))
        if not 0 < cal < 0x8000:
            raise ValueError("ina228: SHUNT_CAL %d out of range: change i_max_a or the shunt" % cal)
        self._wr16(_SHUNT_CAL, cal)
        self._wr16(_ADC_CONFIG, _ADC_CONTINUOUS)
        return {"shunt_cal": self._rd16(_SHUNT_CAL), "current_lsb_a": self.current_lsb_a,
                "fine_range": bool(self._rd16(_CONFIG) & _ADCRANGE), "adc_config": self._rd16(_ADC_CONFIG)}

    def current_a(self):
        self.i2c.readfrom_mem_into(self.addr, _CURRENT, self._b)
        return self.sign * _i20(self._b) * self.current_lsb_a

    def vbus_v(self):
        self.i2c.readfrom_mem_into(self.addr, _VBUS, self._b)
        return _i20(self._b) * _VBUS_LSB_V

    def die_c(self):
        v = self._rd16(_DIETEMP)
        return (v - 0x10000 if v & 0x8000 else v) * _DIETEMP_LSB_C
