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
