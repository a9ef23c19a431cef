# TI BQ76952: 3-16S monitor and protector on I2C (TRM SLUUBY2). Direct commands are 2-byte little-endian
# registers; subcommands and data memory go through 0x3E/0x3F (command or address), the 32-byte transfer
# buffer at 0x40 and checksum + length at 0x60/0x61. With I2C CRC on (the chip's "I2C + CRC" comm type), every
# data byte on the bus is followed by a CRC-8 (poly 0x07); the first one also covers the address and register.
# One scratch buffer; read() allocates nothing (memoryviews of the lengths the tick uses are made once).
import struct

from bms.compat import const
from bms.hal.afe import (
    FAULT_COMM,
    FAULT_COV,
    FAULT_CUV,
    FAULT_OCC,
    FAULT_OCD,
    FAULT_OT,
    FAULT_SCD,
    FAULT_UT,
    Afe,
)

ADDR = const(0x08)  # 7-bit default address

# direct commands
_SAFETY_ALERT_A = const(0x02)  # alert A, status A, alert B, status B, alert C, status C: one 6-byte read
_BATTERY_STATUS = const(0x12)
_CELL1 = const(0x14)  # Cell 1..16 Voltage [mV], i16 each: one 32-byte read
_CC2 = const(0x3A)  # CC2 Current [user A, mA by default], i16
_TS1 = const(0x70)  # TS1, TS2, TS3 Temperature [0.1 K], i16 each: one 6-byte read
_FET_STATUS = const(0x7F)
_SUB = const(0x3E)
_XFER = const(0x40)
_CHK = const(0x60)

# subcommands
_DEVICE_NUMBER = const(0x0001)
_CB_ACTIVE_CELLS = const(0x0083)
_SET_CFGUPDATE = const(0x0090)
_EXIT_CFGUPDATE = const(0x0092)
_DSG_PDSG_OFF = const(0x0093)
_CHG_PCHG_OFF = const(0x0094)
_ALL_FETS_OFF = const(0x0095)
_ALL_FETS_ON = const(0x0096)
DEVICE_ID = const(0x7695)

# data memory (TRM section 13)
_CC_GAIN = const(0x91A8)  # F4: 7.4768 / R_sense [mOhm]
_PROT_ENABLED_A = const(0x9261)
_PROT_ENABLED_B = const(0x9262)
_CUV_THRESHOLD = const(0x9275)  # U1 x 50.6 mV, 20..90
_CUV_DELAY = const(0x9276)  # U2 x 3.3 ms, 1..2047
_COV_THRESHOLD = const(0x9278)  # U1 x 50.6 mV, 20..110
_COV_DELAY = const(0x9279)
_OCC_THRESHOLD = const(0x9280)  # U1 x 2 mV across the shunt, 2..62
_OCC_DELAY = const(0x9281)  # U1 x 3.3 ms, 1..127
_OCD1_THRESHOLD = const(0x9282)  # U1 x 2 mV, 2..100
_OCD1_DELAY = const(0x9283)
_SCD_THRESHOLD = const(0x9286)  # enum: _SCD_MV
_OTC_THRESHOLD = const(0x929A)  # I1 degC
_OTD_THRESHOLD = const(0x929D)
_UTC_THRESHOLD = const(0x92A6)
_VCELL_MODE = const(0x9304)  # U2: bit c-1 set for each VC input wired to a cell

# (byte of the 6-byte alert/status read, bits, our fault): Safety Status A is byte 1, Safety Status B byte 3
_STATUS_BITS = (
    (1, 0x08, FAULT_COV),
    (1, 0x04, FAULT_CUV),
    (1, 0x10, FAULT_OCC),
    (1, 0x60, FAULT_OCD),  # OCD1 | OCD2
    (1, 0x80, FAULT_SCD),
    (3, 0xF0, FAULT_OT),  # OTF | OTINT | OTD | OTC
    (3, 0x07, FAULT_UT),  # UTINT | UTD | UTC
)
_SCD_MV = (10, 20, 40, 60, 80, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500)
_MV_PER_COV = 50.6
_MS_PER_DELAY = 3.3
# Enabled Protections A: SCD, OCD1, OCC, COV, CUV; B: OTD, OTC, UTC
_PROT_A = const(0x80 | 0x20 | 0x10 | 0x08 | 0x04)
_PROT_B = const(0x20 | 0x10 | 0x01)


def crc8_byte(crc, byte):
    """One byte into a CRC-8, poly 0x07 (the BQ769x2 I2C CRC, init 0)."""
    crc ^= byte
    for _ in range(8):
        crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


def _i16(b, k):
    v = b[k] | (b[k + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


class BQ76952(Afe):
    def __init__(self, i2c, channels, ts=(1, 3), addr=ADDR, crc=False, r_shunt_ohm=0.001, current_lsb_a=0.001):
        """channels: the VC inputs (1..16) wired to cells, bottom cell first; ts: the TS pins (1..3) with cell
        thermistors; current_lsb_a: the user-amps unit of CC2 Current (DA Configuration; mA by default)."""
        if not 3 <= len(channels) <= 16 or min(channels) < 1 or max(channels) > 16:
            raise ValueError("bq76952: 3..16 cells on VC inputs 1..16")
        Afe.__init__(self, len(channels), len(ts))
        self.i2c = i2c
        self.addr = addr
        self.crc = crc
        self.channels = tuple(channels)
        self.ts = tuple(ts)
        self.r_shunt_ohm = r_shunt_ohm
        self.current_lsb_a = current_lsb_a
        self.comm_errors = 0
        self._b = bytearray(108)  # the scratch: 36 bytes of data, then (with CRC) 2 x 36 on the wire
        self._mask = bytearray(2)  # CB_ACTIVE_CELLS' data
        mv = memoryview(self._b)
        self._mv = mv
        self._wire = {}  # length on the wire -> memoryview of the scratch's second half, made once
        self._data = {}  # length of data -> memoryview of the scratch's first half
        for n in (1, 2, 4, 6, 32, 36):
            self._views(n)

    # -- bus --
    def _views(self, n):
        # made once per length (the tick's lengths in __init__): slicing a memoryview allocates
        if n not in self._data:
            self._data[n] = self._mv[:n]
            self._wire[n] = self._mv[36:36 + 2 * n] if self.crc else self._data[n]

    def _read(self, reg, n):
        """Read n bytes at reg into the scratch's first n bytes; OSError on a bad CRC."""
        if n not in self._data:
            self._views(n)
        w = self._wire[n]
        self.i2c.readfrom_mem_into(self.addr, reg, w)
        if self.crc:
            a = self.addr << 1
            b = self._b
            # the first CRC covers address (write), register, address (read) and the first byte; the others
            # their byte alone
            first = crc8_byte(crc8_byte(crc8_byte(0, a), reg), a | 1)
            for k in range(n):
                if crc8_byte(first if k == 0 else 0, w[2 * k]) != w[2 * k + 1]:
                    raise OSError("bq76952: CRC error reading %#x" % reg)
                b[k] = w[2 * k]
        return self._data[n]

    def _write(self, reg, n):
        """Write the scratch's first n bytes to reg."""
        if n not in self._data:
            self._views(n)
        d = self._data[n]
        w = self._wire[n]
        if self.crc:
            first = crc8_byte(crc8_byte(0, self.addr << 1), reg)
            for k in range(n):
                w[2 * k] = d[k]
                w[2 * k + 1] = crc8_byte(first if k == 0 else 0, d[k])
        self.i2c.writeto_mem(self.addr, reg, w)

    def _sub(self, cmd, data=None):
        """A subcommand (or a data-memory address) with optional data bytes; checksum and length follow data."""
        b = self._b
        b[0] = cmd & 0xFF
        b[1] = cmd >> 8
        if not data:
            self._write(_SUB, 2)
            return
        n = len(data)
        s = b[0] + b[1]
        for k in range(n):
            b[2 + k] = data[k]
            s += data[k]
        self._write(_SUB, 2 + n)
        b[0] = ~s & 0xFF
        b[1] = n + 4
        self._write(_CHK, 2)

    def _sub_read(self, cmd, n):
        """Read n bytes a subcommand (or data-memory address) returns; checks the echo, length and checksum."""
        b = self._b
        self._sub(cmd)
        for _ in range(10):  # the chip answers 0xFF 0xFF at 0x3E until the command is done
            self._read(_SUB, 2)
            if b[0] == cmd & 0xFF and b[1] == cmd >> 8:
                break
        else:
            raise OSError("bq76952: subcommand %#06x did not complete" % cmd)
        self._read(_CHK, 2)
        chk, length = b[0], b[1]
        if length != n + 4:
            raise OSError("bq76952: %#06x returned %d bytes, expected %d" % (cmd, length - 4, n))
        self._read(_XFER, n)
        s = (cmd & 0xFF) + (cmd >> 8)
        for k in range(n):
            s += b[k]
        if ~s & 0xFF != chk:
            raise OSError("bq76952: checksum error on %#06x" % cmd)
        return bytes(b[:n])

    def dm_write(self, addr, fmt, value):
        self._sub(addr, struct.pack("<" + fmt, value))

    def dm_read(self, addr, fmt):
        return struct.unpack("<" + fmt, self._sub_read(addr, struct.calcsize(fmt)))[0]

    # -- the AFE interface --
    def device_number(self):
        return struct.unpack("<H", self._sub_read(_DEVICE_NUMBER, 2))[0]

    def configure(self, limits):
        """Program the wiring, the shunt and the protections (chip_limits()) in CONFIG_UPDATE mode; returns the
        levels read back from data memory, in volts, amps, degC and ms. Allocates (runs once at boot)."""
        if self.device_number() != DEVICE_ID:
            raise OSError("bq76952: no BQ76952 at %#x" % self.addr)
        r_mohm = self.r_shunt_ohm * 1000.0
        mask = 0
        for c in self.channels:
            mask |= 1 << (c - 1)
        cov = _clamp(round(limits["cov_v"] * 1000.0 / _MV_PER_COV), 20, 110)
        cuv = _clamp(round(limits["cuv_v"] * 1000.0 / _MV_PER_COV), 20, 90)
        occ = _clamp(round(limits["occ_a"] * r_mohm / 2.0), 2, 62)
        ocd = _clamp(round(limits["ocd_a"] * r_mohm / 2.0), 2, 100)
        scd_mv = limits["scd_a"] * r_mohm
        scd = len(_SCD_MV) - 1
        for k in range(len(_SCD_MV)):  # the lowest setting at or above the level asked
            if _SCD_MV[k] >= scd_mv:
                scd = k
                break
        self._sub(_SET_CFGUPDATE)
        self._read(_BATTERY_STATUS, 2)
        if not self._b[0] & 0x01:
            raise OSError("bq76952: did not enter CONFIG_UPDATE")
        w = self.dm_write
        w(_VCELL_MODE, "H", mask)
        w(_CC_GAIN, "f", 7.4768 / r_mohm)
        w(_COV_THRESHOLD, "B", cov)
        w(_COV_DELAY, "H", _clamp(round(limits["cov_ms"] / _MS_PER_DELAY), 1, 2047))
        w(_CUV_THRESHOLD, "B", cuv)
        w(_CUV_DELAY, "H", _clamp(round(limits["cuv_ms"] / _MS_PER_DELAY), 1, 2047))
        w(_OCC_THRESHOLD, "B", occ)
        w(_OCC_DELAY, "B", _clamp(round(limits["occ_ms"] / _MS_PER_DELAY), 1, 127))
        w(_OCD1_THRESHOLD, "B", ocd)
        w(_OCD1_DELAY, "B", _clamp(round(limits["ocd_ms"] / _MS_PER_DELAY), 1, 127))
        w(_SCD_THRESHOLD, "B", scd)
        w(_OTC_THRESHOLD, "b", _clamp(round(limits["otc_c"]), -40, 120))
        w(_OTD_THRESHOLD, "b", _clamp(round(limits["otd_c"]), -40, 120))
        w(_UTC_THRESHOLD, "b", _clamp(round(limits["utc_c"]), -40, 120))
        w(_PROT_ENABLED_A, "B", _PROT_A)
        w(_PROT_ENABLED_B, "B", _PROT_B)
        self._sub(_EXIT_CFGUPDATE)
        r = self.dm_read
        if r(_VCELL_MODE, "H") != mask:
            raise OSError("bq76952: Vcell Mode did not take")
        return {
            "cov_v": r(_COV_THRESHOLD, "B") * _MV_PER_COV / 1000.0,
            "cov_ms": r(_COV_DELAY, "H") * _MS_PER_DELAY,
            "cuv_v": r(_CUV_THRESHOLD, "B") * _MV_PER_COV / 1000.0,
            "cuv_ms": r(_CUV_DELAY, "H") * _MS_PER_DELAY,
            "occ_a": r(_OCC_THRESHOLD, "B") * 2.0 / r_mohm,
            "occ_ms": r(_OCC_DELAY, "B") * _MS_PER_DELAY,
            "ocd_a": r(_OCD1_THRESHOLD, "B") * 2.0 / r_mohm,
            "ocd_ms": r(_OCD1_DELAY, "B") * _MS_PER_DELAY,
            "scd_a": _SCD_MV[r(_SCD_THRESHOLD, "B") & 0x0F] / r_mohm,
            "otc_c": float(r(_OTC_THRESHOLD, "b")),
            "otd_c": float(r(_OTD_THRESHOLD, "b")),
            "utc_c": float(r(_UTC_THRESHOLD, "b")),
            "protections": (r(_PROT_ENABLED_A, "B"), r(_PROT_ENABLED_B, "B")),
        }

    def read(self):
        """Cell voltages, CC2 current, thermistors and the safety status; on a bus or CRC error the last readings
        stay and FAULT_COMM is set (the application's plausibility checks and the chip's own trips still act)."""
        try:
            b = self._read(_CELL1, 32)
            v = self.v_cell
            ch = self.channels
            for k in range(self.n_cells):
                v[k] = _i16(b, 2 * (ch[k] - 1)) * 0.001
            self._read(_CC2, 2)
            self.i_a = _i16(b, 0) * self.current_lsb_a
            self._read(_TS1, 6)
            t = self.t_c
            ts = self.ts
            for k in range(len(ts)):
                t[k] = (_i16(b, 2 * (ts[k] - 1)) * 10 - 27315) * 0.01  # 0.1 K -> degC, one float
            self._read(_SAFETY_ALERT_A, 6)
        except OSError:
            self.comm_errors += 1
            self.faults |= FAULT_COMM
            return self.faults
        f = 0
        for byte, mask, fault in _STATUS_BITS:
            if b[byte] & mask:
                f |= fault
        self.faults = f
        return f

    def set_balance(self, mask):
        """Cell k's balancing resistor on for bit k (the chip's own timer and its thermal limits still apply)."""
        m = 0
        ch = self.channels
        for k in range(self.n_cells):
            if mask & (1 << k):
                m |= 1 << (ch[k] - 1)
        b = self._mask
        b[0] = m & 0xFF
        b[1] = m >> 8
        self._sub(_CB_ACTIVE_CELLS, b)
        self.balance_mask = mask

    def set_switches(self, chg_on, dsg_on):
        """The host's request; the chip keeps a FET off while its own protection holds it off."""
        self._sub(_ALL_FETS_ON)
        if not chg_on and not dsg_on:
            self._sub(_ALL_FETS_OFF)
        elif not chg_on:
            self._sub(_CHG_PCHG_OFF)
        elif not dsg_on:
            self._sub(_DSG_PDSG_OFF)
        self.chg_on = chg_on
        self.dsg_on = dsg_on

    def fet_status(self):
        """(chg, dsg) FETs on, as the chip reports them."""
        b = self._read(_FET_STATUS, 1)
        return bool(b[0] & 0x01), bool(b[0] & 0x04)
