# Host-side helpers to run the estimator core (bms.est.joseph, bms.est.kalman, bms.est.model, bms.est.ekf) on the emulated
# micro:bit through hil.microbit; shared by tests/test_microbit_estimator.py and bench/estimator_speed.py.
import re
from pathlib import Path

from bms.config import cell as cellparams
from hil.microbit import MicrobitError

FW = Path(__file__).resolve().parents[2] / "firmware" / "bms" / "est"
CORE = [str(FW / n) for n in ("joseph.py", "kalman.py", "model.py", "ekf.py")]  # dependencies first

# On the board: e = the filter; serve() steps it in lock-step with the host, one input() line per
# step ("i_mA v_0.1mV T_0.01C checksum"), replying "=soc" (or "=BAD" if the line arrived garbled);
# an empty line ends it ("=END n_rejected"). Lock-step keeps the board's small UART buffer from overflowing. Kept tiny:
# with the core loaded, the board's parser has about 1 KB of contiguous heap left.
SERVE_DEF = """def serve(dt, q):
 while 1:
  a = input().split()
  if not a:
   print('=END', e.n_rejected)
   break
  i = int(a[0])
  v = int(a[1])
  t = int(a[2])
  if len(a) != 4 or i + v + t != int(a[3]):
   print('=BAD')
   continue
  e.step(dt, i * 0.001, v * 0.0001, t * 0.01, q)
  print('=' + repr(e.x[0]))
"""

# Instructions per step: with qemu -icount shift=0 one emulated us is 1000 instructions.
TIMING = "t=ticks_us()\nfor j in range(%d):\n e.step(1.0,-1.0,3.39,25.0,2.0)\nprint(ticks_diff(ticks_us(),t))"


def send_core_params(mb, p, var="p"):
    """Build the core's parameter dict on the board one key per exec (the parser has little heap);
    the OCV tables go as array('f') (the model only indexes them). Each key is read back (a scalar, or a
    table's length and sum) and sent again if the UART garbled it into another valid value (a dropped digit)."""
    mb.exec("from array import array\n%s = {}" % var)
    for key in cellparams.CORE_KEYS:
        val = p[key]
        if isinstance(val, (list, tuple)):  # tables as float32 arrays: 4 bytes an entry, not 16
            code = "%s[%r] = array('f', %r)" % (var, key, tuple(val))
            check = "print(len(%s[%r]), sum(%s[%r]))" % (var, key, var, key)
            want_n, want_x, scale = len(val), sum(val), sum(abs(x) for x in val)
        else:
            code = "%s[%r] = %r" % (var, key, val)
            check = "print(1, %s[%r])" % (var, key)
            want_n, want_x, scale = 1, val, abs(val)
        got = None
        for _ in range(mb.retries + 1):
            try:
                mb.exec(code)
                got = mb.exec(check).split()
                # float32 on the board: 1e-5 relative is far above its rounding, far below a dropped digit
                if int(got[0]) == want_n and abs(float(got[1]) - want_x) <= 1e-5 * max(scale, 1e-30):
                    break
            except (MicrobitError, ValueError, IndexError):
                continue
        else:
            raise MicrobitError("parameter %r did not arrive intact after %d tries: read back %r"
                                % (key, mb.retries + 1, got))


def quantise(seq):
    """(dt, i, v, t, ...) tuples -> flat ints as an ADC front end would report them: mA, 0.1 mV, 0.01 C."""
    out = []
    for dt, i, v, t_c, *_ in seq:
        out += [int(round(i * 1000)), int(round(v * 10000)), int(round(t_c * 100))]
    return out


def upload_core(mb):
    """The micro:bit filesystem is flat: the core goes up as top-level modules, `from bms.est.x` -> `from x`."""
    for path in CORE:
        with open(path) as f:
            mb.write_file(Path(path).name, re.sub(r"from bms(\.\w+)*\.(\w+) import", r"from \2 import", f.read()))
    return mb.upload_modules(CORE, write=False)


def setup(mb, p, soc0, serve=True):
    """Upload and import the core, build the filter as `e`, define serve(); returns heap bytes per
    module. Order matters on a ~9 KB heap: each step is collected before the next; the filter is built
    and the parameter dict dropped before serve() is compiled (with the 4-state core, compiling serve()
    first leaves the parser too fragmented a heap to build the filter)."""
    cost = upload_core(mb)
    mb.mem_free()
    send_core_params(mb, p)
    mb.mem_free()  # collect between steps: the board's parser does not recover a fragmented heap
    mb.exec("e = ekf.SocEkf(p, %r)" % soc0)
    mb.mem_free()
    mb.exec("del p")
    mb.mem_free()
    if serve:
        mb.exec(SERVE_DEF)
        mb.mem_free()
    return cost


def instructions_per_step(mb, n=200):
    mb.exec("from utime import ticks_us, ticks_diff")
    return 1000.0 * int(mb.exec(TIMING % n, timeout=120)) / n


def run_on_board(mb, data, dt, q_ah):
    """Step the board's filter over the quantised data in one lock-step session; returns (the SoC
    after every step, n_rejected). One session per boot: after input() has run, the board's parser
    keeps failing for want of memory (MicroPython 1.9.2 on the micro:bit), so exec no longer works."""
    socs = []
    mb.start("serve(%r, %r)" % (dt, q_ah))
    for k in range(0, len(data), 3):
        i, v, t = data[k:k + 3]
        line = "%d %d %d %d" % (i, v, t, i + v + t)
        for _ in range(4):
            mb.send_line(line)
            r = mb.read_after("=").strip()
            if r != "BAD":
                break
        else:
            raise RuntimeError("step %d garbled on the UART 4 times" % (k // 3))
        socs.append(float(r))
    mb.send_line("")
    end = mb.read_after("=").split()
    out, err = mb.finish()
    if err.strip() or end[0] != "END":
        raise RuntimeError("board error: %r %s" % (end, err))
    return socs, int(end[1])
