"""Cycle and memory budget of the firmware on the emulated Cortex-M3 (hil.qemu: MicroPython 1.29, mps2-an385,
float32, 140 KB heap; qemu -icount shift=0, so 1 emulated ns is 1 instruction and the figures are deterministic).

    python bench/firmware_tick.py [--json] [--native] [--board an385|an500] [--samples 100] [--firmware DIR]

Figures: instructions per SAMPLE frame as the service handles it (unpack, Bms.on_sample, the EVENT and ESTIMATE
frames encoded) for 1, 4, 8 and 16 cells (each on a freshly reset board), mean over --samples frames of a 1 A charge;
heap_free_16s: gc.mem_free() after configuring 16 cells (and unloading the configuration modules, as the service
does after a CONFIG); heap_free_16s_after: the same after those samples; alloc_per_sample_bytes: heap bytes
allocated by one 16-cell SAMPLE frame (gc disabled for that frame, mean of 10; where a frame needs more than the
free heap, the straight line through the two largest sizes measured, flagged alloc_16s_extrapolated). The image is
what flash deploys (host.deploy.build_image: bytecode; --native: the hot modules as armv7m code, flash --arch armv7m).
The per-part breakdown (16 cells) times each stage of on_sample by wrapping it: the wrappers add ~1 k
instructions per call, and a garbage collection counts in the part that triggered it (gc.collect: what one
collection costs with the 16-cell string live).
Targets (issue 17): 16 cells <= 2.0 M instructions per SAMPLE, >= 80 KB free with 16 cells, <= 2 KB per SAMPLE.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hil.qemu import QemuBoard, QemuError, available  # noqa: E402

CELLS = (1, 4, 8, 16)

# On the board. ticks_us counts 1000 instructions under -icount shift=0.
PROBE = """import gc, time
from bms.comm import protocol as pr
from bms.comm import service
from bms.core import app
T = time.ticks_us
D = time.ticks_diff
sent = []
def send(ty, seq, payload):
    sent.append(pr.encode_frame(ty, seq, payload))
def payload(n, s):
    v = [3.30 + 0.0001 * s + 0.0005 * k for k in range(n)]
    return pr.pack_sample(s * 1000, 1.0, v, [25.0] * n)
def frames(b, n, s0, N):
    tot = 0
    for s in range(s0, s0 + N):
        p = payload(n, s)
        del sent[:]
        t0 = T(); service.handle_frame(b, pr.SAMPLE, s & 0xFF, p, send); tot += D(T(), t0)
    return tot
def alloc(b, n, s0, N):
    # heap bytes one frame allocates: gc off for the frame; -1 when a frame needs more than the free heap
    tot = 0
    for s in range(s0, s0 + N):
        p = payload(n, s)
        del sent[:]
        gc.collect(); gc.disable()
        try:
            a0 = gc.mem_alloc()
            service.handle_frame(b, pr.SAMPLE, s & 0xFF, p, send)
            tot += gc.mem_alloc() - a0
        except MemoryError:
            gc.enable()
            return -1
        gc.enable()
    return tot // N
stage = ['']
def unload():  # what the service does after a CONFIG (bms.config.free_modules; a tree without it: nothing)
    import bms.config
    f = getattr(bms.config, 'free_modules', None)
    if f is not None:
        f()
def tick(n, N):
    gc.collect()
    stage[0] = 'configure'
    b = app.Bms(n_cells=n, soc0=0.5)
    unload()
    stage[0] = 'samples'
    gc.collect()
    free0 = gc.mem_free()
    frames(b, n, 1, 5)  # warm-up: first sample initialises the filters
    tot = frames(b, n, 6, N)
    gc.collect()
    free1 = gc.mem_free()
    print('TICK', n, tot * 1000 // N, free0, free1, alloc(b, n, 10000, 10))
    return b
b = None
ok = None
for n in %(cells)r:
    b = None  # the previous string's memory is free before the next is built
    try:
        b = tick(n, %(samples)d)
        ok = n
    except MemoryError:  # the string does not fit (or stops fitting while it runs): said, not hidden
        b = None
        gc.collect()
        print('TICK', n, -1, -1, -1, -1)
        print('FAIL', n, stage[0])
"""

# the per-stage breakdown, on a fresh board with the largest string that ran
PARTS = """b = app.Bms(n_cells=%(cells)d, soc0=0.5)
unload()
frames(b, %(cells)d, 1, 5)
print('PART cells', %(cells)d)
n = b.n_cells
big = b
# which part of a SAMPLE takes the instructions (16 cells, gc on) and the heap (8 cells, gc off per frame: a
# 16-cell frame allocates more than the free heap): wrap each stage
def breakdown(b, n, N, gc_off):
    acc = {}
    heap = {}
    def wrap(name, fn):
        def w(*a, **k):
            t0 = T(); r = fn(*a, **k); acc[name] = acc.get(name, 0) + D(T(), t0); return r
        def h(*a, **k):  # gc.mem_alloc() scans the heap: only where the instructions are not measured
            a0 = gc.mem_alloc(); r = fn(*a, **k); heap[name] = heap.get(name, 0) + gc.mem_alloc() - a0; return r
        return h if gc_off else w
    def hook(obj, attr, name):  # stages the application has today (it is being restructured)
        if obj is not None and hasattr(obj, attr):
            setattr(obj, attr, wrap(name, getattr(obj, attr)))
    hook(b.balancer, 'update', 'balance.update')
    for e in b.estimators:
        hook(e, 'update', 'est.update(all-cells)')
    hook(b.detectors, 'update', 'detect.update')
    hook(b.protection, 'update', 'protection.update')
    for attr in ('_publish', '_plausible', 'estimate_payload', '_diagnose', '_floor'):
        hook(b, attr, 'app.' + attr)
    unpack = pr.unpack_sample
    pr.unpack_sample = wrap('protocol.unpack_sample', unpack)
    enc = pr.encode_frame
    pr.encode_frame = wrap('protocol.encode_frame', enc)
    tot = 0
    for s in range(20000, 20000 + N):
        p = payload(n, s)
        del sent[:]
        if gc_off:
            gc.collect(); gc.disable()
        if gc_off:
            a0 = gc.mem_alloc()
            try:
                service.handle_frame(b, pr.SAMPLE, s & 0xFF, p, send)
            except MemoryError:  # one frame with the collector off needs more than the free heap
                gc.enable()
                heap.clear()
                heap['MemoryError'] = N
                return acc, heap
            heap['whole-frame'] = heap.get('whole-frame', 0) + gc.mem_alloc() - a0
            gc.enable()
        else:
            t0 = T()
            service.handle_frame(b, pr.SAMPLE, s & 0xFF, p, send)
            tot += D(T(), t0)
    pr.unpack_sample = unpack
    pr.encode_frame = enc
    acc['whole-frame'] = tot
    return acc, heap
acc, heap = breakdown(big, n, 20, False)
t0 = T(); gc.collect(); acc['gc.collect'] = D(T(), t0) * 20  # one collection (divided by N below)
for k in acc:
    print('PART', k, acc[k] * 1000 // 20)
big = None
b = None
gc.collect()
b = app.Bms(n_cells=8, soc0=0.5)
unload()
frames(b, 8, 1, 5)
acc, heap = breakdown(b, 8, 10, True)
for k in heap:
    print('PALLOC', k, heap[k] // 10)
"""


def measure(board="an385", native=False, samples=100, cells=CELLS, src=None):
    kw = {"src": Path(src)} if src else {}
    defs = PROBE[: PROBE.index("b = None\nok = None")]
    out = ""
    with QemuBoard(board=board, icount=0, native=native, **kw) as qb:
        # each size on a freshly reset board (exec soft-resets first): what one size leaves in the heap (its module
        # caches, the holes its objects leave) does not decide whether the next fits
        ran = []
        for n in cells:
            got = qb.exec(PROBE % {"cells": (n,), "samples": samples}, timeout_s=1800)
            out += got
            if "FAIL" not in got:
                ran.append(n)
        for n in sorted(ran, reverse=True):  # the wrappers take heap too: the largest string they fit beside
            try:
                out += qb.exec(defs + PARTS % {"cells": n}, timeout_s=1800)
                break
            except QemuError as e:
                if "MemoryError" not in str(e):
                    raise
    ips, free, parts, alloc, palloc, fail = {}, {}, {}, {}, {}, {}
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "TICK":
            ips[f[1]] = int(f[2])
            free[f[1]] = (int(f[3]), int(f[4]))
            alloc[f[1]] = int(f[5])
        elif f[0] == "PART":
            parts[f[1]] = int(f[2])
        elif f[0] == "FAIL":
            fail[f[1]] = f[2]
        elif f[0] == "PALLOC":
            palloc[f[1]] = int(f[2])
    big = str(max(cells))
    breakdown_n = int(parts.pop("cells", 0))
    a16 = alloc[big]
    # one frame needs more than the free heap: the straight line through the two largest sizes measured, said so
    known = sorted(int(k) for k, v in alloc.items() if v >= 0)
    if a16 < 0 and len(known) >= 2:
        lo, hi = known[-2], known[-1]
        a16 = alloc[str(hi)] + (alloc[str(hi)] - alloc[str(lo)]) * (int(big) - hi) // (hi - lo)
    return {
        "instructions_per_sample": ips,
        "heap_free_16s": free[big][0],
        "heap_free_16s_after": free[big][1],
        "alloc_per_sample_bytes": a16,
        "alloc_per_sample_by_cells": alloc,
        "alloc_16s_extrapolated": alloc[big] < 0,
        "parts_16s": parts,
        "breakdown_cells": breakdown_n,
        "alloc_parts_8s": palloc,
        "memory_error_in": fail,
        "board": board,
        "image": "native hot modules (armv7m)" if native else "bytecode",
        "samples": samples,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--native", action="store_true", help="hot modules as armv7m machine code (flash --arch armv7m)")
    ap.add_argument("--board", default="an385", choices=("an385", "an500"))
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--firmware", help="another firmware tree (e.g. `git archive main firmware` unpacked): compare")
    args = ap.parse_args(argv)
    ok, why = available(args.board)
    if not ok:
        print("firmware_tick: " + why, file=sys.stderr)
        return 2
    r = measure(args.board, args.native, args.samples, src=args.firmware)
    if args.json:
        print(json.dumps(r))
        return 0
    print("firmware tick on %s (%s), %d SAMPLE frames per size, qemu -icount shift=0" % (r["board"], r["image"], r["samples"]))
    print("%6s %14s   (target: 16 cells <= 2,000,000)" % ("cells", "instr/SAMPLE"))
    for n, v in r["instructions_per_sample"].items():
        print("%6s %14s" % (n, format(v, ",") if v >= 0 else "MemoryError (in its %s): the string does not fit"
                            % r["memory_error_in"].get(n, "?")))
    print("heap free with 16 cells: %s B configured, %s B after the samples (target >= 81,920)"
          % (format(r["heap_free_16s"], ","), format(r["heap_free_16s_after"], ",")))
    print("allocated per 16-cell SAMPLE: %s B%s (target <= 2,048); by cells: %s" % (
        format(r["alloc_per_sample_bytes"], ","),
        " (more than the free heap: extrapolated from the two largest sizes measured)"
        if r["alloc_16s_extrapolated"] else "", r["alloc_per_sample_by_cells"]))
    print("where a %d-cell SAMPLE frame's instructions go:" % r["breakdown_cells"])
    parts = dict(r["parts_16s"])
    gc_one = parts.pop("gc.collect", 0)
    whole = parts.get("whole-frame", 1)
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print("  %-28s %12s  %5.1f %%" % (k, format(v, ","), 100.0 * v / whole))
    free = r["heap_free_16s_after"]
    print("one gc.collect() with %d cells live: %s instructions (counted above in the part that triggers it)%s" % (
        r["breakdown_cells"], format(gc_one, ","), "" if free < 0 else "; allocating %s B per 16-cell frame with %s B "
        "free collects about every %.1f frames" % (format(r["alloc_per_sample_bytes"], ","), format(free, ","),
                                                  free / max(1, r["alloc_per_sample_bytes"]))))
    print("where an 8-cell SAMPLE frame's heap allocations go (bytes per frame, gc off):")
    pa = r["alloc_parts_8s"]
    if "MemoryError" in pa:
        print("  (not measured: one 8-cell frame with the collector off needs more than the free heap)")
    for k, v in sorted(pa.items(), key=lambda kv: -kv[1]):
        print("  %-28s %12s  %5.1f %%" % (k, format(v, ","), 100.0 * v / max(1, pa.get("whole-frame", 1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
