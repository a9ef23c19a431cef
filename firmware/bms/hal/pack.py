# A real pack: the board file picks the AFE driver; the firmware samples on its own fixed period and streams
# ESTIMATE (and EVENT) frames unasked, with its own sequence numbers. Between samples it answers the host as on
# the bench (HELLO, STATS, CONFIG, ...), so host tools work against it unchanged; SAMPLE frames are refused
# (the chip measures here, not the host).
from bms.comm import protocol as pr
from bms.comm import service
from bms.compat import ticks_diff, ticks_ms
from bms.core import events as ev
from bms.hal import afe as afe_mod

_NAN = float("nan")
# the chip's own trips, reported once when they appear (the chip has already opened its FETs)
_FAULT_EVENTS = (
    (afe_mod.FAULT_COV, ev.OVER_VOLTAGE),
    (afe_mod.FAULT_CUV, ev.UNDER_VOLTAGE),
    (afe_mod.FAULT_OCC, ev.OVER_CURRENT_CHARGE),
    (afe_mod.FAULT_OCD | afe_mod.FAULT_SCD, ev.OVER_CURRENT_DISCHARGE),
    (afe_mod.FAULT_OT, ev.OVER_TEMPERATURE),
    (afe_mod.FAULT_UT, ev.UNDER_TEMPERATURE_CHARGE),
)


def make_afe(board, i2c=None, adc=None, pin=None):
    """The AFE driver the board file names. i2c, adc(pin_no), pin(pin_no): the bus and pin factories (default:
    machine's, from the board file's numbers; tests pass emulated ones)."""
    a = board["afe"]
    drv = a["driver"]
    if drv == "injected":
        from bms.hal.injected import InjectedAfe

        return InjectedAfe(board.get("n_cells", 1), 0)
    if i2c is None:
        import machine  # pyright: ignore[reportMissingImports]

        c = a["i2c"]
        i2c = machine.I2C(c["id"], sda=machine.Pin(c["sda"]), scl=machine.Pin(c["scl"]), freq=c.get("freq", 400000))
    if drv == "bq76952":
        from bms.hal.bq76952 import ADDR, BQ76952

        return BQ76952(i2c, a["channels"], ts=a.get("ts", (1,)), addr=a.get("addr", ADDR), crc=a.get("crc", False),
                       r_shunt_ohm=board["r_shunt_ohm"], current_lsb_a=a.get("current_lsb_a", 0.001))
    from bms.hal.discrete import DiscreteAfe
    from bms.hal.ina228 import ADDR as INA_ADDR
    from bms.hal.ina228 import INA228
    from bms.hal.ntc import Ntc

    if adc is None or pin is None:
        import machine  # pyright: ignore[reportMissingImports]

        adc = adc or (lambda n: machine.ADC(machine.Pin(n)))
        pin = pin or (lambda n: machine.Pin(n, machine.Pin.OUT))
    ia = a["ina228"]
    ina = INA228(i2c, board["r_shunt_ohm"], ia["i_max_a"], addr=ia.get("addr", INA_ADDR),
                 fine_range=ia.get("fine_range", False), sign=ia.get("sign", 1))
    ntcs = [Ntc(adc(n["adc_pin"]), n["r_fixed_ohm"], n.get("r0_ohm", 10000.0), n.get("t0_c", 25.0), n.get("beta", 3950.0),
                tuple(n["sh"]) if "sh" in n else None, n.get("ntc_low", True)) for n in a.get("ntc", [])]
    taps = [(adc(t["adc_pin"]), t["ratio"]) for t in a["taps"]] if a.get("taps") else None
    return DiscreteAfe(ina, ntcs, taps, [pin(p) for p in a.get("bal_pins", [])],
                       pin(a["chg_pin"]) if "chg_pin" in a else None, pin(a["dsg_pin"]) if "dsg_pin" in a else None,
                       board.get("switches", {}).get("active_high", True))


class PackRunner:
    """One sample per period from the AFE through the application, its outputs to the chip, frames to the host."""

    def __init__(self, bms, afe, board, write):
        self.bms = bms
        self.afe = afe
        self.period_ms = board["sample_period_ms"]
        self.write = write
        self.seq = 0
        self.faults_seen = 0
        self.t_c = []
        self.v_cell = []  # a list the application gets (its protections use list methods an array lacks)
        self._t_for_n = -1

    def _cell_temps(self):
        # each cell reads the thermistor nearest its place in the string (fewer thermistors than cells)
        n = self.bms.n_cells
        if self._t_for_n != n:
            self.t_c = [25.0] * n
            self.v_cell = [0.0] * n
            self._t_for_n = n
        t = self.afe.t_c
        nt = len(t)
        out = self.t_c
        for k in range(n):
            out[k] = t[k * nt // n] if nt else 25.0
        return out

    def _send(self, msg_type, seq, payload):
        self.write(pr.encode_frame(msg_type, seq, payload))

    def sample(self, t_ms):
        bms = self.bms
        a = self.afe
        faults = a.read()
        i_a = _NAN if faults & afe_mod.FAULT_COMM else a.i_a  # readings held: the application fails safe
        if len(a.v_cell) != bms.n_cells:
            raise ValueError("the board measures %d cells, the firmware is configured for %d" % (len(a.v_cell), bms.n_cells))
        self.seq = (self.seq + 1) & 0xFF
        t_c = self._cell_temps()
        v = self.v_cell
        for k in range(len(v)):
            v[k] = a.v_cell[k]
        try:
            flags = bms.on_sample(t_ms, i_a, v, t_c)
        except ValueError:
            bms.stats[7] += 1
            return
        new = faults & ~self.faults_seen
        self.faults_seen = faults
        for bit, kind in _FAULT_EVENTS:
            if new & bit:
                bms.events.append((0xFF, kind, ev.CRITICAL, t_ms, 0.0))
        bal = bms.balancer
        mask = 0
        if bal is not None:
            on = bal.on
            for k in range(len(on)):
                if on[k]:
                    mask |= 1 << k
        chg = bool(flags & pr.FLAG_CHARGE_ALLOWED)
        dsg = bool(flags & pr.FLAG_DISCHARGE_ALLOWED)
        try:
            if mask != a.balance_mask:
                a.set_balance(mask)
            if chg != a.chg_on or dsg != a.dsg_on:
                a.set_switches(chg, dsg)
        except OSError:  # the bus is down: retried next period; the chip's own protections still stand
            a.faults |= afe_mod.FAULT_COMM
        service.publish(bms, self.seq, self._send)

    def run(self, read_byte, max_samples=-1):
        """Sample every period (absolute deadlines: no drift), serve host frames in between; returns after
        max_samples (tests) or at end of stream."""
        bms = self.bms
        reader = pr.FrameReader(bms.stats)
        t0 = ticks_ms()
        due = 0
        done = 0
        while done != max_samples:
            now = ticks_diff(ticks_ms(), t0)
            if now >= due:
                try:
                    self.sample(now)
                except Exception:  # counted; the next period samples again (the chip's protections stand)
                    bms.stats[7] += 1
                done += 1
                due += self.period_ms
                if due <= now:  # fell behind (a slow tick): skip the missed slots, never burst
                    due = now + self.period_ms
                continue
            b = read_byte()
            if b is None:
                continue
            if b < 0:
                return
            m = reader.feed_byte(b)
            if not m:
                if b == 0 and reader.last_error:  # a damaged frame: the host resends
                    self._send(pr.NACK, 0, pr.pack_nack(0, reader.last_error, ""))
                    reader.last_error = 0
                continue
            f = reader.frame
            if f[1] == pr.SAMPLE:
                self._send(pr.NACK, f[2], pr.pack_nack(pr.SAMPLE, pr.NACK_UNKNOWN_TYPE, "this board measures itself"))
                continue
            session = getattr(self, "session", None)  # main.py sets it: the key, counter and staged configuration
            try:
                service.handle_frame(bms, f[1], f[2], bytes(f[3:m - 2]), self._send, session)
            except Exception as e:  # as in service.serve: a firmware bug must not stop the pack's sampling
                bms.stats[6] += 1
                self._send(pr.NACK, f[2], pr.pack_nack(f[1], pr.NACK_BAD_PAYLOAD, "internal: " + repr(e)))
            reader.stats = bms.stats
            if session is not None and session.repl:  # an authenticated TO_REPL (an unsigned one was NACKed)
                self.afe.set_switches(False, False)  # nobody watches the pack at the REPL
                return
