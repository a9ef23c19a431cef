# Register-level emulations of the AFE chips, written from their datasheets' register maps (BQ76952 TRM SLUUBY2,
# INA228 SBOSA20), behind the machine.I2C memory API (readfrom_mem_into, writeto_mem). They run on CPython and on
# MicroPython, so the drivers are tested against the same chip on both. Physical inputs are attributes the
# test sets (cell_mv, current_a, ...); step() applies the chip's own protections.
import struct


class I2CError(OSError):
    pass


class FakeI2C:
    """A bus with devices by 7-bit address; a missing address raises OSError (ENODEV) like machine.I2C."""

    def __init__(self, *devices):
        self.devices = {}
        for d in devices:
            self.devices[d.addr] = d
        self.nak_all = False  # a broken bus: every transfer fails

    def _dev(self, addr):
        if self.nak_all or addr not in self.devices:
            raise I2CError(19)
        return self.devices[addr]

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._dev(addr).read(memaddr, buf)

    def writeto_mem(self, addr, memaddr, buf):
        self._dev(addr).write(memaddr, bytes(buf))

    def scan(self):
        return sorted(self.devices)


def crc8_byte(crc, byte):
    crc ^= byte
    for _ in range(8):
        crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


# data-memory layout the emulation knows: address -> struct format (little-endian), default value
BQ_DM = {
    0x91A8: ("f", 7.4768),  # CC Gain (1 mOhm)
    0x9261: ("B", 0x88),  # Enabled Protections A: SCD, COV
    0x9262: ("B", 0x00),
    0x9275: ("B", 50),  # CUV threshold x 50.6 mV
    0x9276: ("H", 74),
    0x9278: ("B", 86),  # COV threshold
    0x9279: ("H", 74),
    0x9280: ("B", 4),  # OCC x 2 mV
    0x9281: ("B", 4),
    0x9282: ("B", 4),  # OCD1 x 2 mV
    0x9283: ("B", 1),
    0x9286: ("B", 0),  # SCD enum
    0x929A: ("b", 55),  # OTC degC
    0x929D: ("b", 60),  # OTD
    0x92A6: ("b", 0),  # UTC
    0x9304: ("H", 0xFFFF),  # Vcell Mode
}
SCD_MV = (10, 20, 40, 60, 80, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500)


class FakeBQ76952:
    """Direct commands 0x00..0x7F, subcommands and data memory through 0x3E/0x40/0x60, I2C CRC when crc=True."""

    def __init__(self, addr=0x08, crc=False, r_shunt_ohm=0.001):
        self.addr = addr
        self.crc = crc
        self.r_shunt_ohm = r_shunt_ohm
        self.cell_mv = [0] * 16  # what each VC input reads
        self.current_a = 0.0
        self.ts_c = [25.0, 25.0, 25.0]
        self.dm = {}
        for a in BQ_DM:
            self.dm[a] = struct.pack("<" + BQ_DM[a][0], BQ_DM[a][1])
        self.cfg_update = False
        self.safety_a = 0
        self.safety_b = 0
        self.host_chg_off = False
        self.host_dsg_off = False
        self.cb_active = 0
        self.sub = 0xFFFF  # what 0x3E/0x3F read back
        self.xfer = b""  # the transfer buffer's content for reads
        self.pending = None  # (address, data) written to 0x3E.. awaiting checksum + length
        self.bad_checksums = 0
        self.crc_errors = 0
        self.writes = []  # (memaddr, data): a log the tests can look at

    # -- the chip's own behaviour --
    def dm_value(self, addr):
        return struct.unpack("<" + BQ_DM[addr][0], self.dm[addr])[0]

    def step(self):
        """Apply the hardware protections to the present inputs (delays are not modelled: a trip is immediate)."""
        en_a = self.dm_value(0x9261)
        en_b = self.dm_value(0x9262)
        mask = self.dm_value(0x9304)
        used = [self.cell_mv[c] for c in range(16) if mask & (1 << c)]
        a = 0
        if en_a & 0x08 and max(used) > self.dm_value(0x9278) * 50.6:
            a |= 0x08
        if en_a & 0x04 and min(used) < self.dm_value(0x9275) * 50.6:
            a |= 0x04
        r_mohm = self.r_shunt_ohm * 1000.0
        v_sense_mv = self.current_a * r_mohm
        if en_a & 0x10 and v_sense_mv > self.dm_value(0x9280) * 2.0:
            a |= 0x10
        if en_a & 0x20 and -v_sense_mv > self.dm_value(0x9282) * 2.0:
            a |= 0x20
        if en_a & 0x80 and -v_sense_mv > SCD_MV[self.dm_value(0x9286) & 0x0F]:
            a |= 0x80
        b = 0
        t_max = max(self.ts_c)
        if en_b & 0x10 and t_max > self.dm_value(0x929A):
            b |= 0x10
        if en_b & 0x01 and min(self.ts_c) < self.dm_value(0x92A6):
            b |= 0x01
        self.safety_a = a
        self.safety_b = b

    def fets(self):
        """(chg, dsg) on: the host's request, and off while a protection in that direction stands."""
        chg = not self.host_chg_off and not (self.safety_a & 0x18) and not (self.safety_b & 0x11)
        dsg = not self.host_dsg_off and not (self.safety_a & 0xE4) and not (self.safety_b & 0x20)
        return chg, dsg

    # -- registers --
    def _direct(self, reg):
        """The 2-byte little-endian value of a direct command."""
        if 0x14 <= reg <= 0x32:
            return self.cell_mv[(reg - 0x14) // 2] & 0xFFFF
        if reg == 0x3A:
            # CC2 in user amps (mA): the coulomb counter's gain is CC Gain, programmed from the shunt
            gain = struct.unpack("<f", self.dm[0x91A8])[0]
            v_sense_uv = self.current_a * self.r_shunt_ohm * 1e6
            return int(round(v_sense_uv * gain / 7.4768)) & 0xFFFF  # gain 7.4768 / R[mOhm]: uV x gain -> mA
        if 0x70 <= reg <= 0x74:
            return int(round((self.ts_c[(reg - 0x70) // 2] + 273.15) * 10)) & 0xFFFF
        if reg == 0x12:
            return 0x0001 if self.cfg_update else 0
        if reg == 0x02:
            return self.safety_a << 8  # alert A (low byte), status A (0x03)
        if reg == 0x04:
            return self.safety_b << 8
        if reg == 0x06:
            return 0
        return 0

    def _byte(self, reg):
        if reg in (0x3E, 0x3F):
            return (self.sub >> (8 * (reg - 0x3E))) & 0xFF
        if 0x40 <= reg < 0x60:
            k = reg - 0x40
            return self.xfer[k] if k < len(self.xfer) else 0
        if reg == 0x60:
            return ~(sum(self.xfer) + (self.sub & 0xFF) + (self.sub >> 8)) & 0xFF
        if reg == 0x61:
            return len(self.xfer) + 4
        if reg == 0x7F:  # FET Status: one byte
            chg, dsg = self.fets()
            return (0x01 if chg else 0) | (0x04 if dsg else 0)
        base = reg & ~1
        return (self._direct(base) >> (8 * (reg & 1))) & 0xFF

    def read(self, memaddr, buf):
        n = len(buf) // 2 if self.crc else len(buf)
        data = [self._byte(memaddr + k) for k in range(n)]
        if not self.crc:
            for k in range(n):
                buf[k] = data[k]
            return
        a = self.addr << 1
        first = crc8_byte(crc8_byte(crc8_byte(0, a), memaddr), a | 1)
        for k in range(n):
            buf[2 * k] = data[k]
            buf[2 * k + 1] = crc8_byte(first if k == 0 else 0, data[k])

    def write(self, memaddr, data):
        if self.crc:
            a = self.addr << 1
            first = crc8_byte(crc8_byte(0, a), memaddr)
            plain = []
            for k in range(len(data) // 2):
                if crc8_byte(first if k == 0 else 0, data[2 * k]) != data[2 * k + 1]:
                    self.crc_errors += 1
                    return  # the chip ignores a transaction with a bad CRC
                plain.append(data[2 * k])
            data = bytes(plain)
        self.writes.append((memaddr, data))
        if memaddr == 0x3E and len(data) >= 2:
            cmd = data[0] | (data[1] << 8)
            if len(data) == 2:
                self._command(cmd)
            else:
                self.pending = (cmd, data[2:])
        elif memaddr == 0x60 and len(data) == 2 and self.pending is not None:
            cmd, payload = self.pending
            self.pending = None
            if data[0] != ~(sum(payload) + (cmd & 0xFF) + (cmd >> 8)) & 0xFF or data[1] != len(payload) + 4:
                self.bad_checksums += 1
                return
            self._command(cmd, payload)

    def _command(self, cmd, payload=None):
        self.sub = cmd
        self.xfer = b""
        if cmd >= 0x9000:  # data memory
            if cmd not in self.dm:
                return
            if payload is None:
                self.xfer = self.dm[cmd]
            elif self.cfg_update and len(payload) == len(self.dm[cmd]):
                self.dm[cmd] = bytes(payload)  # written only in CONFIG_UPDATE mode, as on the chip
            return
        if cmd == 0x0001:
            self.xfer = struct.pack("<H", 0x7695)
        elif cmd == 0x0090:
            self.cfg_update = True
        elif cmd == 0x0092:
            self.cfg_update = False
        elif cmd == 0x0083:
            if payload is None:
                self.xfer = struct.pack("<H", self.cb_active)
            else:
                self.cb_active = payload[0] | (payload[1] << 8)
        elif cmd == 0x0093:
            self.host_dsg_off = True
        elif cmd == 0x0094:
            self.host_chg_off = True
        elif cmd == 0x0095:
            self.host_chg_off = self.host_dsg_off = True
        elif cmd == 0x0096:
            self.host_chg_off = self.host_dsg_off = False


class FakeINA228:
    """Big-endian registers; VSHUNT from the current through the shunt, CURRENT from VSHUNT and SHUNT_CAL."""

    def __init__(self, addr=0x40, r_shunt_ohm=0.002):
        self.addr = addr
        self.r_shunt_ohm = r_shunt_ohm
        self.current_a = 0.0
        self.vbus_v = 0.0
        self.die_c = 25.0
        self.regs = {0x00: 0, 0x01: 0xFB68, 0x02: 0x1000, 0x3E: 0x5449, 0x3F: 0x2281}

    def _vshunt_raw(self):
        lsb = 78.125e-9 if self.regs[0x00] & 0x10 else 312.5e-9
        raw = int(round(self.current_a * self.r_shunt_ohm / lsb))
        return max(-(1 << 19), min((1 << 19) - 1, raw))  # the ADC saturates at full scale

    def _value(self, reg):
        """(value, n bytes)"""
        if reg == 0x04:
            return (self._vshunt_raw() & 0xFFFFF) << 4, 3
        if reg == 0x05:
            return (int(round(self.vbus_v / 195.3125e-6)) & 0xFFFFF) << 4, 3
        if reg == 0x06:
            return int(round(self.die_c / 7.8125e-3)) & 0xFFFF, 2
        if reg == 0x07:
            # CURRENT = VSHUNT x SHUNT_CAL-derived scale: with SHUNT_CAL = 13107.2e6 x LSB x R (x4 fine range),
            # VSHUNT_raw x 4096 / SHUNT_CAL counts of CURRENT_LSB
            cal = self.regs[0x02] & 0x7FFF
            raw = int(round(self._vshunt_raw() * 4096 / cal)) if cal else 0
            raw = max(-(1 << 19), min((1 << 19) - 1, raw))
            return (raw & 0xFFFFF) << 4, 3
        return self.regs.get(reg, 0), 2

    def read(self, memaddr, buf):
        v, n = self._value(memaddr)
        for k in range(len(buf)):
            buf[k] = (v >> (8 * (n - 1 - k))) & 0xFF if k < n else 0

    def write(self, memaddr, data):
        if len(data) != 2 or memaddr > 0x11:
            raise I2CError(5)
        v = (data[0] << 8) | data[1]
        if memaddr == 0x00 and v & 0x8000:
            self.regs = {0x00: 0, 0x01: 0xFB68, 0x02: 0x1000, 0x3E: 0x5449, 0x3F: 0x2281}
            return
        self.regs[memaddr] = v


class FakeAdc:
    """machine.ADC.read_u16 for a divider: the NTC (Beta model, or a resistance the test sets) to ground,
    r_fixed_ohm to the reference."""

    def __init__(self, r_fixed_ohm=10000.0):
        self.r_fixed_ohm = r_fixed_ohm
        self.r_ohm = 10000.0

    def set_temperature(self, t_c, r0_ohm=10000.0, beta=3950.0):
        import math

        self.r_ohm = r0_ohm * math.exp(beta * (1.0 / (t_c + 273.15) - 1.0 / 298.15))

    def read_u16(self):
        return int(round(65535 * self.r_ohm / (self.r_ohm + self.r_fixed_ohm)))
