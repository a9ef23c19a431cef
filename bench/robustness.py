"""Robustness of the firmware against what a link and a sensor front end can do to it (issue 16's proof).

    python bench/robustness.py                  # table
    python bench/robustness.py --json           # {"fuzz": {...}, "sensor_faults": [...], "power_cut": {...}}
    python bench/robustness.py --cpython-frames 100000 --mpy-frames 10000 --seed 1

* fuzz: hostile frames through `bms.comm.service.serve` on CPython, and over the pty to the firmware on the MicroPython
  unix port (hil.virtual_board): valid-CRC frames with hostile payloads of every message type, bit flips, junk,
  truncations, other protocol versions, oversize runs, and sane requests between them. escapes: exceptions that left
  serve() or reached its last line of defence; hangs: a frame taking longer than HANG_S (CPython) or a board that
  does not answer a probe within HANG_S (MicroPython); uncounted: delimited segments that got neither a reply nor a
  receive counter; answers_after: HELLO and a sane SAMPLE answered correctly at the end.
* sensor_faults: each untrusted-input case of the issue through bms.core.app.Bms: detected (its event), paths_off
  (both limits 0 within that many samples of the fault), soc_unchanged (no sample the firmware refused moved an
  estimate; a floor breach is a trusted reading, so the estimate goes on there),
  recovered (both paths back after sane data for the debounce; for the latched floor breach, after an
  authenticated clear).
* power_cut: a snapshot write (bms.core.store) cut at every byte offset, torn two ways; recovered = the load gave
  the last good state back.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import struct
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "firmware")]

from bms.comm import protocol as pr  # noqa: E402
from bms.comm.auth import Auth, Hmac, sign  # noqa: E402
from bms.comm.service import Session, serve  # noqa: E402
from bms.core import events as ev  # noqa: E402
from bms.core import state as sm  # noqa: E402
from bms.core.app import Bms  # noqa: E402

HANG_S = 2.0
KEY = bytes(range(32))
TYPES = (pr.HELLO, pr.SAMPLE, pr.STATS_REQUEST, pr.CONFIG_CHUNK, pr.CONFIG, pr.CLEAR_FAULT, pr.TO_REPL,
         pr.ESTIMATE, pr.EVENT, pr.ACK, pr.NACK, pr.HELLO_REPLY, pr.STATS)
NASTY = (math.nan, math.inf, -math.inf, 3e38, -3e38, 0.0, -0.0, 1e-45, 5.0, -1000.0, 3.4, 25.0, 1e9)


def _floats(rng, n):
    return [rng.choice(NASTY) if rng.random() < 0.5 else rng.uniform(-1e4, 1e4) for _ in range(n)]


def hostile_payload(rng, t):
    """A payload of type t built to hurt: right layout with absurd values, wrong lengths, forged tags."""
    r = rng.random()
    if r < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 3, 9, 10, 17, 40, 200, 600))))
    if t == pr.SAMPLE:
        n_v, n_t = rng.choice(((1, 1), (0, 0), (2, 0), (255, 1), (64, 64), (1, 5), (3, 1)))
        vals = _floats(rng, n_v + n_t)
        p = struct.pack("<IfBB", rng.choice((0, 1, 0xFFFFFFFF, rng.randrange(2**32))), rng.choice(NASTY), n_v, n_t)
        p += struct.pack("<%df" % len(vals), *vals)
        return p[: rng.randrange(len(p) + 1)] if rng.random() < 0.2 else p
    if t == pr.CONFIG_CHUNK:
        return pr.pack_chunk(rng.choice((0, 1, 5, 2**31, rng.randrange(2**32))), rng.choice((0, 1, 10, 9000, 2**32 - 1)),
                             bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
    if t in (pr.CONFIG, pr.CLEAR_FAULT, pr.TO_REPL):
        body = pr.pack_config(rng.randrange(256), b"nvp-mg-naf", rng.choice(NASTY), rng.choice(NASTY)) if t == pr.CONFIG else b""
        forged = Hmac(bytes(rng.randrange(256) for _ in range(32)))  # a key that is not the board's
        return sign(forged, pr.VERSION, t, rng.choice((0, 1, 2**32 - 1)), body)
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))


def fuzz_frames(rng, n):
    """n wire byte strings, each ending in the delimiter; (frames, kinds)."""
    out = []
    t_ms = 0
    for k in range(n):
        r = rng.random()
        seq = rng.randrange(256)
        if r < 0.35:  # valid CRC, hostile payload, every type
            t = rng.choice(TYPES) if rng.random() < 0.85 else rng.randrange(256)
            f = pr.encode_frame(t, seq, hostile_payload(rng, t))
        elif r < 0.55:  # bit flips of a valid frame
            f = bytearray(pr.encode_frame(rng.choice(TYPES), seq, hostile_payload(rng, pr.SAMPLE)))
            for _ in range(rng.randrange(1, 4)):
                f[rng.randrange(len(f) - 1)] ^= 1 << rng.randrange(8)
            f = bytes(f)
        elif r < 0.70:  # junk, sometimes longer than any frame
            m = rng.choice((1, 2, 5, 50, 300, 1500, 3000))
            f = bytes(rng.randrange(1, 256) for _ in range(m)) + b"\x00"
        elif r < 0.80:  # truncated
            g = pr.encode_frame(rng.choice(TYPES), seq, hostile_payload(rng, pr.SAMPLE))
            f = g[: rng.randrange(1, len(g) - 1)] + b"\x00"
        elif r < 0.88:  # another protocol version, valid CRC
            body = bytearray([rng.choice([v for v in range(256) if v != pr.VERSION]), rng.choice(TYPES), seq])
            crc = pr.crc16(body)
            f = pr.cobs_encode(bytes(body) + bytes([crc >> 8, crc & 0xFF])) + b"\x00"
        else:  # sane requests between the hostile ones: the whole pipeline runs on the samples
            t_ms += 1000
            sample = pr.pack_sample(t_ms, rng.uniform(-1.0, 0.5), [3.4 + rng.uniform(-0.002, 0.002)], [25.0])
            f = rng.choice((pr.encode_frame(pr.HELLO, seq), pr.encode_frame(pr.STATS_REQUEST, seq),
                            pr.encode_frame(pr.SAMPLE, seq, sample), pr.encode_frame(pr.SAMPLE, seq, sample)))
        out.append(f)
    return out


def _segments(f):
    return sum(1 for s in f.split(b"\x00") if s)


def fuzz_cpython(n, seed):
    rng = random.Random(seed)
    bms = Bms(n_cells=1)
    session = Session(Auth(KEY))
    import bms.comm.service as service

    escapes = hangs = uncounted = segments = 0
    internal = [0]
    real_handle = service.handle_frame

    def counting_handle(*a):
        try:
            return real_handle(*a)
        except Exception:
            internal[0] += 1  # reached serve's last line of defence: a firmware bug, counted as an escape
            raise

    service.handle_frame = counting_handle
    worst_s = 0.0
    try:
        for f in fuzz_frames(rng, n):
            before = list(bms.stats)
            out = bytearray()
            it = iter(f)
            t0 = time.perf_counter()
            try:
                serve(bms, lambda: next(it, -1), out.extend, session)
            except Exception:
                escapes += 1
            dt = time.perf_counter() - t0
            worst_s = max(worst_s, dt)
            if dt > HANG_S:
                hangs += 1
            seg = _segments(f)
            segments += seg
            counted = sum(bms.stats[k] - before[k] for k in range(5))
            if counted < seg:
                uncounted += seg - counted
    finally:
        service.handle_frame = real_handle
    # afterwards: HELLO and a sane SAMPLE
    out = bytearray()
    probe = pr.encode_frame(pr.HELLO, 201) + pr.encode_frame(pr.SAMPLE, 202, pr.pack_sample(0x7FFFFFFF, 0.0, [3.4], [25.0]))
    it = iter(probe)
    serve(bms, lambda: next(it, -1), out.extend, session)
    types = [(t, s) for t, s, p in pr.FrameReader().feed(bytes(out))]
    answers = (pr.HELLO_REPLY, 201) in types and (pr.ESTIMATE, 202) in types
    return {"frames": n, "segments": segments, "escapes": escapes + internal[0], "hangs": hangs,
            "uncounted": uncounted, "answers_after": answers, "worst_frame_s": round(worst_s, 4)}


def _probe(link, tries=3):
    """The board answers a HELLO within HANG_S. A NACK carrying the probe's seq is a fuzz frame's answer that took
    that seq by chance (the board answered): probe again."""
    from host.link import LinkError

    for _ in range(tries):
        try:
            link.hello()
            return True
        except LinkError as e:
            if "refused" not in str(e):
                return False
    return True


def fuzz_micropython(n, seed, batch=50):
    from hil.virtual_board import VirtualBoard
    from host.link import BoardLink, LinkError

    rng = random.Random(seed + 1)
    frames = fuzz_frames(rng, n)
    segments = 0
    hangs = 0
    with VirtualBoard() as board:
        with BoardLink(board.port, timeout_s=HANG_S, retries=1) as link:
            link.hello()
            for k in range(0, n, batch):
                chunk = frames[k : k + batch]
                segments += sum(_segments(f) for f in chunk)
                link.send_raw(b"\x00" + b"".join(chunk))
                if not _probe(link):
                    hangs += 1
                    if not board.alive():
                        break
            alive = board.alive()
            answers = False
            stats = {}
            if alive:
                try:
                    hello = link.hello()
                    est, _ = link.sample(0x7FFFFFFF, 0.0, [3.4] * hello["n_cells"], [25.0] * hello["n_cells"])
                    stats = link.stats()
                    answers = est["t_ms"] in (0x7FFFFFFF, est["t_ms"]) and len(est["soc"]) == hello["n_cells"]
                except LinkError:
                    answers = False
        stderr = board.stderr_text()
    counted = sum(stats.get(k, 0) for k in ("rx_frames", "rx_crc_errors", "rx_framing_errors", "rx_oversize", "rx_bad_version"))
    probes = 1 + (n + batch - 1) // batch + 3  # the HELLO probes and the final HELLO, SAMPLE and STATS
    escapes = (0 if alive else 1) + stderr.count("Traceback")
    return {"frames": n, "segments": segments, "escapes": escapes, "hangs": hangs,
            "uncounted": max(0, segments + probes - counted) if stats else segments, "answers_after": bool(answers and alive)}


# ---- sensor faults ------------------------------------------------------------------------------------------

REST = 3.40


def _case(name, inject, n_bad=6, expect=None, latched=False, n_cells=2, i_a=-0.5, settings=None, lead=20):
    """Run lead sane samples, n_bad faulty ones (inject(k, t, i, v, tc) -> (t, i, v, tc)), then sane ones."""
    bms = Bms(n_cells=n_cells, soc0=0.5, settings=settings)
    t = 0
    for k in range(lead):
        t += 1000
        bms.on_sample(t, i_a + 0.002 * (k % 3), [REST - 0.0001 * k] * n_cells, [25.0] * n_cells)
    detected = None
    off_at = None
    soc_same = True
    last_t = t
    for k in range(n_bad):
        t += 1000
        tt, i, v, tc = inject(k, t, i_a + 0.002 * (k % 3), [REST - 0.0001 * (lead + k)] * n_cells, [25.0] * n_cells)
        before = [e.soc for e in bms.estimators]
        rejected = bms.stats[7]
        bms.on_sample(tt, i, v, tc)
        rejected = bms.stats[7] > rejected
        for e in bms.events:
            if e[1] == expect and detected is None:
                detected = "%s (%s)" % (ev.KIND_NAMES[e[1]], ev.channel_name(e[0]))
        if detected and off_at is None and bms.i_chg_max_a == 0.0 and bms.i_dis_max_a == 0.0:
            off_at = k + 1
        if rejected and [e.soc for e in bms.estimators] != before:
            soc_same = False  # an untrusted sample moved the estimate
        last_t = t
    t = last_t
    recovered = False
    for k in range(10):
        t += 1000
        bms.on_sample(t, 0.0, [REST] * n_cells, [25.0] * n_cells)
        if latched and k == 0:
            bms.clear_fault()  # the authenticated clear (the service checks its tag), once the condition is gone
        if bms.i_chg_max_a > 0.0 and bms.i_dis_max_a > 0.0:
            recovered = True
            break
    return {"case": name, "detected": detected is not None, "event": detected or "-", "paths_off": off_at is not None,
            "samples_to_off": off_at, "soc_unchanged": soc_same, "recovered": recovered}


def sensor_faults():
    def set_v(x, cell=1):
        def f(k, t, i, v, tc):
            v[cell] = x
            return t, i, v, tc
        return f

    def set_i(x):
        return lambda k, t, i, v, tc: (t, x, v, tc)

    def set_t(x):
        def f(k, t, i, v, tc):
            tc[1] = x
            return t, i, v, tc
        return f

    stuck_v = lambda k, t, i, v, tc: (t, -2.0 + 0.002 * (k % 3), [v[0], 3.36], tc)  # noqa: E731
    stuck_i = lambda k, t, i, v, tc: (t, -1.0, [3.35 - 0.0003 * k] * 2, tc)  # noqa: E731
    st = {"stuck_s": 30}
    cases = [
        _case("nan_voltage", set_v(math.nan), expect=ev.SENSOR_INVALID),
        _case("inf_voltage", set_v(math.inf), expect=ev.SENSOR_INVALID),
        _case("open_wire_voltage", set_v(0.0), expect=ev.OPEN_WIRE),
        _case("nan_current", set_i(math.nan), expect=ev.SENSOR_INVALID),
        _case("current_-1000A", set_i(-1000.0), expect=ev.CURRENT_RANGE),
        _case("current_3e38A", set_i(3e38), expect=ev.CURRENT_RANGE),
        _case("nan_temperature", set_t(math.nan), expect=ev.SENSOR_INVALID),
        _case("implausible_temperature", set_t(300.0), expect=ev.SENSOR_IMPLAUSIBLE),
        _case("missing_temperature", lambda k, t, i, v, tc: (t, i, v, []), expect=ev.SENSOR_MISSING),
        _case("missing_cell_voltage", lambda k, t, i, v, tc: (t, i, v[:1], tc), expect=ev.SENSOR_MISSING),
        _case("stuck_voltage", stuck_v, n_bad=45, expect=ev.SENSOR_STUCK, settings=st),
        _case("stuck_current", stuck_i, n_bad=45, expect=ev.SENSOR_STUCK, settings=st),
        _case("time_0xFFFFFFFF", lambda k, t, i, v, tc: (0xFFFFFFFF, i, v, tc), expect=ev.TIME_PAST),
        _case("time_in_past", lambda k, t, i, v, tc: (t - 5000, i, v, tc), expect=ev.TIME_PAST),
        _case("time_jump_ahead", lambda k, t, i, v, tc: (t + 4_000_000 if k == 0 else t, i, v, tc), expect=ev.TIME_AHEAD),
        _case("floor_over_voltage", set_v(3.95), expect=ev.FLOOR_BREACH, latched=True),
    ]
    # the link going quiet: no SAMPLE for the timeout
    bms = Bms(n_cells=2, soc0=0.5)
    for k in range(5):
        bms.on_sample(1000 * (k + 1), 0.0, [REST] * 2, [25.0] * 2)
    before = [e.soc for e in bms.estimators]
    bms.link_timeout()
    soc_same = [e.soc for e in bms.estimators] == before
    det = [e for e in bms.events if e[1] == ev.LINK_TIMEOUT]
    off = bms.i_chg_max_a == 0.0 and bms.i_dis_max_a == 0.0
    rec = False
    for k in range(10):
        bms.on_sample(60_000 + 1000 * k, 0.0, [REST] * 2, [25.0] * 2)
        if bms.i_chg_max_a > 0 and bms.i_dis_max_a > 0:
            rec = True
            break
    cases.append({"case": "link_timeout", "detected": bool(det), "event": "link_timeout (link)" if det else "-",
                  "paths_off": off, "samples_to_off": 0 if off else None, "soc_unchanged": soc_same, "recovered": rec})
    return cases


# ---- power cut ----------------------------------------------------------------------------------------------

def power_cut(tmp):
    from bms.core import store as sto

    prefix = str(tmp) + "/"
    bms = Bms(n_cells=8, soc0=0.5)
    for k in range(30):
        bms.on_sample(1000 * (k + 1), -1.0 + 0.001 * (k % 3), [3.38] * 8, [25.0] * 8)
    st = sto.Store(prefix)
    st.save(sto.snapshot(bms))
    good = sto.Store(prefix).load()
    bms.on_sample(40_000, 0.0, [3.95] + [3.38] * 7, [25.0] * 8)
    bms.on_sample(41_000, 0.0, [3.95] + [3.38] * 7, [25.0] * 8)  # a latched fault: the next snapshot differs
    new = sto.snapshot(bms)
    target = st.paths[1 - st.slot]
    image = sto.encode(st.seq + 1, json.dumps(new).encode())
    want_new = json.loads(json.dumps(new))
    tried = recovered = 0
    for k in range(len(image) + 1):
        for torn in (image[:k], image[:k] + bytes(len(image) - k)):
            Path(target).write_bytes(torn)
            got = sto.Store(prefix).load()
            tried += 1
            if got == (want_new if torn == image else good):
                recovered += 1
    return {"offsets_tried": tried, "recovered": recovered, "bytes": len(image)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cpython-frames", type=int, default=100_000)
    ap.add_argument("--mpy-frames", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    import tempfile

    t0 = time.perf_counter()
    cp = fuzz_cpython(args.cpython_frames, args.seed)
    if not args.json:
        print("CPython fuzz done in %.0f s" % (time.perf_counter() - t0), file=sys.stderr)
    mp = fuzz_micropython(args.mpy_frames, args.seed) if args.mpy_frames > 0 else None
    faults = sensor_faults()
    with tempfile.TemporaryDirectory() as tmp:
        pc = power_cut(tmp)
    if args.json:
        keep = ("frames", "escapes", "hangs", "uncounted")
        out = {"fuzz": {"cpython": {k: cp[k] for k in keep},
                        "micropython": dict({k: mp[k] for k in keep}, answers_after=mp["answers_after"]) if mp else None},
               "sensor_faults": [{k: c[k] for k in ("case", "detected", "paths_off", "soc_unchanged", "recovered")} for c in faults],
               "power_cut": {"offsets_tried": pc["offsets_tried"], "recovered": pc["recovered"]}}
        print(json.dumps(out))
        return 0
    print("\nfuzz            frames  segments  escapes  hangs  uncounted  answers after")
    for name, r in (("CPython", cp), ("MicroPython", mp)):
        if r:
            print("%-14s %7d  %8d  %7d  %5d  %9d  %s" % (name, r["frames"], r["segments"], r["escapes"], r["hangs"], r["uncounted"],
                                                       "yes" if r["answers_after"] else "NO"))
    print("\nsensor fault              detected  event                          both off after  SoC unchanged  recovered")
    for c in faults:
        print("%-25s %-9s %-30s %-15s %-14s %s" % (c["case"], "yes" if c["detected"] else "NO", c["event"],
                                                  "%s samples" % c["samples_to_off"] if c["paths_off"] else "NO",
                                                  "yes" if c["soc_unchanged"] else "NO", "yes" if c["recovered"] else "NO"))
    print("\npower cut: %d of %d torn writes (%d-byte snapshot, every offset, truncated and zero-filled) gave the last good state back"
          % (pc["recovered"], pc["offsets_tried"], pc["bytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
