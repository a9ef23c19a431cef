# Persistence that survives a power cut at any byte of a write: two slot files, each
#   magic "NB" | format u8 | seq u32 | length u32 | payload (JSON) | CRC-32 over all before it
# A save writes the slot holding the older (or no valid) state, so the newest good one is never touched;
# a load takes the valid slot with the highest seq. Same code on the unix port's filesystem and a board's flash.
import json
import struct

from bms.comm.protocol import crc32

MAGIC = b"NB"
FORMAT = 1
_HEAD = "<2sBII"
_HEAD_LEN = 11
SLOTS = ("bms_state.0", "bms_state.1")
MAX_PAYLOAD = 8192


def encode(seq, payload):
    body = struct.pack(_HEAD, MAGIC, FORMAT, seq, len(payload)) + payload
    return body + struct.pack("<I", crc32(body))


def decode(data):
    """(seq, payload) of a whole, intact slot image; None for anything else (cut short, torn, foreign)."""
    if data is None or len(data) < _HEAD_LEN + 4:
        return None
    magic, fmt, seq, n = struct.unpack_from(_HEAD, data, 0)
    if magic != MAGIC or fmt != FORMAT or n > MAX_PAYLOAD or len(data) != _HEAD_LEN + n + 4:
        return None
    if struct.unpack_from("<I", data, _HEAD_LEN + n)[0] != crc32(memoryview(data)[: _HEAD_LEN + n]):
        return None
    return seq, bytes(data[_HEAD_LEN : _HEAD_LEN + n])


class Store:
    def __init__(self, prefix=""):
        """prefix: a directory path ending in '/' (or '' for the current directory: a board's flash root)."""
        self.paths = (prefix + SLOTS[0], prefix + SLOTS[1])
        self.seq = 0
        self.slot = 1  # the slot holding the newest good state (the next save writes the other)

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()  # a slot is small; a fixed-size read would take MAX_PAYLOAD of heap at boot
        except OSError:
            return None

    def load(self):
        """The newest intact snapshot (a dict), or None."""
        best = None
        for k in range(2):
            got = decode(self._read(self.paths[k]))
            if got is not None and (best is None or got[0] > best[0]):
                best = (got[0], got[1], k)
        if best is None:
            return None
        self.seq = best[0]
        self.slot = best[2]
        try:
            return json.loads(best[1])
        except ValueError:
            return None

    def save(self, snap):
        """Write snap (a dict of JSON types) to the older slot. OSError/MemoryError propagate (counted by the caller)."""
        payload = json.dumps(snap).encode()
        if len(payload) > MAX_PAYLOAD:
            raise OSError("store: snapshot of %d bytes beyond %d" % (len(payload), MAX_PAYLOAD))
        data = encode(self.seq + 1, payload)
        target = 1 - self.slot
        with open(self.paths[target], "wb") as f:
            f.write(data)
        self.seq += 1
        self.slot = target
        return data


# ---- what a Bms keeps (bms.core.app.Bms) --------------------------------------------------------------------------
RESTORE_SIGMA = 0.02  # added (in quadrature) to a restored SoC: the time the board was off is unknown


def snapshot(bms):
    """What survives a reset: configuration, learned state (SoC, sigma, capacity per cell, throughput), the latched
    fault, the event log."""
    cells = []
    for e in bms.estimators:
        cells.append((e.soc, e.soc_sigma, e.q_ah))
    doc = bms.doc
    if isinstance(doc, (bytes, bytearray)):
        doc = bytes(doc).decode()
    return {
        "n": bms.n_cells,
        "doc": doc,
        "soc0": bms.soc0,
        "soc0_sigma": bms.soc0_sigma,
        "config_version": bms.config_version,
        "cells": cells,
        "cycles": bms.ah_through / (2.0 * bms.estimators[0].cap.q_ah),
        "fault": bms.latched,
        "log": bms.log,
    }


def restore(bms, snap):
    """Bring a snapshot back after a reset. A configuration that no longer configures (a firmware whose floor
    moved, a heap that shrank) is dropped; the latched fault and the configuration version always come back."""
    from bms.core import state as sm

    hook = bms.on_persist
    bms.on_persist = _nothing  # restoring writes nothing
    try:
        try:
            bms.configure(snap["n"], snap["doc"], snap.get("soc0"), None, snap.get("soc0_sigma"))
            cells = snap.get("cells") or ()
            if len(cells) == bms.n_cells:
                for k in range(bms.n_cells):
                    soc, sigma, q = cells[k]
                    bms.estimators[k].restore(soc, (sigma * sigma + RESTORE_SIGMA * RESTORE_SIGMA) ** 0.5, q)
            bms.ah_through = float(snap.get("cycles", 0.0)) * 2.0 * bms.estimators[0].cap.q_ah
        except (ValueError, KeyError, TypeError):
            pass
        bms.config_version = max(bms.config_version, int(snap.get("config_version", 0)))
        bms.stats[10] = bms.config_version  # protocol.STAT_CONFIG_VERSION
        fault = snap.get("fault")
        if fault:
            bms.latched = (fault[0], fault[1], fault[2])
            bms.state = sm.FAULT
        bms.log = [tuple(e) for e in snap.get("log") or ()][-16:]
    finally:
        bms.on_persist = hook
    bms.publish_held()


def _nothing(*args):
    pass
