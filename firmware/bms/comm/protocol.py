# Protocol v3: the one implementation of the host <-> firmware wire format; both sides import it.
#
# A frame on the wire is  COBS(header + payload + crc) 0x00
#   header  = version u8 | type u8 | seq u8
#   crc     = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over header + payload, big-endian
# COBS (Cheshire & Baker 1999) removes every 0x00 from the frame, so 0x00 alone marks frame ends and a
# receiver resynchronises on the next 0x00 after any corruption. Payloads are little-endian structs.
# Replies carry the seq of the request they answer, so the host can match them.
import struct

from bms.compat import IS_MICROPYTHON as _MPY
from bms.compat import const

VERSION = const(3)  # 2: ESTIMATE carries the balancing resistors' bitmask; 3: state, authentication, CONFIG in chunks
MAX_CELLS = const(64)  # the largest string a frame carries: ESTIMATE of MAX_CELLS fits MAX_FRAME (test_protocol)
MAX_FRAME = const(1024)  # decoded bytes; longer input is dropped and counted as oversize
MAX_DETAIL = const(96)  # NACK detail bytes at most
TAG_LEN = const(32)  # HMAC-SHA256 tag (bms.comm.auth) at the end of an authenticated payload

# message types
HELLO = const(0x01)  # host -> fw: empty.              fw -> host: HELLO_REPLY
HELLO_REPLY = const(0x02)  # n_cells u8, state u8, config_version u32, auth counter u32, key_id 4 bytes (0: no key),
#                              then ascii "fw_version;preset"
SAMPLE = const(0x10)  # t_ms u32, i_a f32, n_v u8, n_t u8, v_cell f32 * n_v, t_c f32 * n_t
ESTIMATE = const(0x11)  # t_ms u32, flags u16, state u8 (bms.core.state), i_chg_max_a f32, i_dis_max_a f32, n u8, (soc, soc_sigma, q_ah) f32 * n,
#                          bleed u8 * ceil(n / 8) (bit k of byte k // 8: cell k's balancing resistor on until the next sample)
EVENT = const(0x12)  # cell u8, kind u8, severity u8, t_ms u32, value f32
STATS_REQUEST = const(0x20)  # empty
STATS = const(0x21)  # counter u32 * len(STAT_NAMES)
# Authenticated (payload = counter u32 | body | HMAC-SHA256 tag over version, type, counter and body; the counter
# must exceed the last accepted one): CONFIG, CLEAR_FAULT, TO_REPL. Reads stay open.
CONFIG_CHUNK = const(0x31)  # offset u32, total u32, data: stages the configuration document (offset 0 restarts)
CONFIG = const(0x30)  # authenticated commit: n_cells u8, soc0 f32 (NaN: from OCV), soc0_sigma f32 (NaN: default),
#                        doc_len u32, doc_crc32 u32; the tag also covers the staged document (a preset name or a
#                        cell file, JSON). Takes effect whole or not at all.
CLEAR_FAULT = const(0x40)  # authenticated, empty body: leave a latched FAULT once its condition is gone
TO_REPL = const(0x41)  # authenticated, empty body: ACK, then the firmware stops serving: the board is back at its
#                        REPL (re-flashing a running board)
REPL = TO_REPL  # the name the flash code uses
ACK = const(0x7E)  # acked type u8
NACK = const(0x7F)  # refused type u8, code u8, ascii detail

# NACK codes
NACK_CORRUPT = const(1)  # CRC or COBS error: the sender should resend its last frame
NACK_BAD_VERSION = const(2)
NACK_UNKNOWN_TYPE = const(3)
NACK_BAD_PAYLOAD = const(4)  # right type, wrong length or layout
NACK_BAD_CONFIG = const(5)  # config refused (beyond the safety floor, unknown preset, too large for the heap)
NACK_AUTH = const(6)  # missing or wrong tag, replayed counter, or no key on the board
NACK_STATE = const(7)  # a command the state does not allow (a clear while the fault stands)
NACK_MEMORY = const(8)  # the board ran out of memory handling the frame (seq 0: the reply is preallocated)
NACK_NAMES = ("", "corrupt", "bad_version", "unknown_type", "bad_payload", "bad_config", "auth", "state", "memory")

# ESTIMATE flags
FLAG_CHARGE_ALLOWED = const(0x0001)
FLAG_DISCHARGE_ALLOWED = const(0x0002)
FLAG_SENSOR_FAULT = const(0x0004)  # last sample could not be trusted: estimate held, charging off
FLAG_PROTECTION_TRIP = const(0x0008)
FLAG_PLATING_WARNING = const(0x0010)
FLAG_PLATING_ALARM = const(0x0020)
FLAG_PLATING_CRITICAL = const(0x0040)
FLAG_ESTIMATE_VALID = const(0x0080)  # the filter has been initialised from a trusted sample
FLAG_FAULT = const(0x0100)  # FAULT latched (safety floor breached): both paths off until an authenticated clear

# receive counters, in the order of the STATS payload
STAT_NAMES = (
    "rx_frames",
    "rx_crc_errors",
    "rx_framing_errors",
    "rx_oversize",
    "rx_bad_version",
    "rx_unknown_type",
    "rx_bad_payload",
    "samples_rejected",
    "nis_rejected",
    "events_sent",
    "config_version",
    "auth_rejected",
    "input_faults",
    "time_faults",
    "link_timeouts",
    "mem_errors",
    "store_errors",
)
N_STATS = const(17)
STAT_CONFIG_VERSION = const(10)
STAT_AUTH_REJECTED = const(11)
STAT_INPUT_FAULTS = const(12)
STAT_TIME_FAULTS = const(13)
STAT_LINK_TIMEOUTS = const(14)
STAT_MEM_ERRORS = const(15)
STAT_STORE_ERRORS = const(16)

_SAMPLE_HEAD = "<IfBB"
_ESTIMATE_HEAD = "<IHBffB"
_EST_HEAD_LEN = const(16)
_EVENT = "<BBBIf"


def _make_crc_table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _make_crc_table()


def crc16(data, n=-1, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of data[:n] (check value of b"123456789" is 0x29B1)."""
    t = _CRC_TABLE
    if n >= 0 and n != len(data):
        data = memoryview(data)[:n]
    # iterating the bytes and masking before the shift: 27 % fewer instructions than indexing (emulated M3)
    for b in data:
        crc = ((crc & 0xFF) << 8) ^ t[(crc >> 8) ^ b]
    return crc


def cobs_encode(data, delimit=False):
    """COBS-encode bytes-like data; the result holds no 0x00 (delimit: the frame's 0x00 appended)."""
    out = bytearray(len(data) + len(data) // 254 + 3)
    code_at = 0
    code = 1
    w = 1
    for b in data:
        if b:
            out[w] = b
            w += 1
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at = w
                w += 1
                code = 1
        else:
            out[code_at] = code
            code_at = w
            w += 1
            code = 1
    out[code_at] = code
    if delimit:
        w += 1  # out[w] is already 0
    # one copy out (out[:w] then bytes() would copy twice)
    return bytes(memoryview(out)[:w])


def cobs_decode_into(src, n, dst):
    """Decode src[:n] into dst; returns the decoded length, or -1 for invalid COBS or overflow."""
    r = 0
    w = 0
    cap = len(dst)
    while r < n:
        code = src[r]
        if code == 0:
            return -1
        r += 1
        end = r + code - 1
        if end > n or w + code - 1 > cap:
            return -1
        while r < end:
            b = src[r]
            if b == 0:
                return -1
            dst[w] = b
            w += 1
            r += 1
        if code < 0xFF and r < n:
            if w >= cap:
                return -1
            dst[w] = 0
            w += 1
    return w


def encode_frame(msg_type, seq, payload=b"", version=VERSION):
    """The complete wire bytes of one frame, delimiter included (version: only to answer an old host)."""
    body = bytearray(3 + len(payload) + 2)
    body[0] = version
    body[1] = msg_type
    body[2] = seq & 0xFF
    body[3 : 3 + len(payload)] = payload
    crc = crc16(body, 3 + len(payload))
    body[-2] = crc >> 8
    body[-1] = crc & 0xFF
    return cobs_encode(body, True)


class FrameReader:
    """Byte-stream to frames. Feed bytes; complete, valid frames come back, everything else is counted.

    Counters (`stats`, indexed like STAT_NAMES) survive any input: a receiver never raises on bytes.
    """

    def __init__(self, stats=None):
        # COBS adds 1 byte per 254 plus the code byte: the raw buffer bounds the decoded size.
        self._raw = bytearray(MAX_FRAME + MAX_FRAME // 254 + 2)
        self._n = 0
        self._overflow = False
        self.frame = bytearray(MAX_FRAME)
        self.stats = stats if stats is not None else [0] * N_STATS
        self.last_error = 0  # NACK code of the last dropped frame, 0 if none
        self.bad_version = 0  # version, type and seq of the last frame of another protocol version (to answer it)
        self.bad_type = 0
        self.bad_seq = 0

    def feed_byte(self, b):
        """Returns the decoded frame length (type at frame[1], seq at frame[2], payload frame[3:n-2]) when
        byte b completes a valid frame, else 0."""
        if b != 0:
            if self._n < len(self._raw):
                self._raw[self._n] = b
                self._n += 1
            else:
                self._overflow = True
            return 0
        n = self._n
        overflow = self._overflow
        self._n = 0
        self._overflow = False
        if n == 0:
            return 0  # idle delimiters (a sender may use them to flush the line)
        st = self.stats
        if overflow:
            st[3] += 1
            self.last_error = NACK_CORRUPT
            return 0
        m = cobs_decode_into(self._raw, n, self.frame)
        if m < 0:
            st[2] += 1
            self.last_error = NACK_CORRUPT
            return 0
        if m < 5:
            st[2] += 1
            self.last_error = NACK_CORRUPT
            return 0
        f = self.frame
        if crc16(f, m - 2) != ((f[m - 2] << 8) | f[m - 1]):
            st[1] += 1
            self.last_error = NACK_CORRUPT
            return 0
        if f[0] != VERSION:
            st[4] += 1
            self.last_error = NACK_BAD_VERSION
            self.bad_version = f[0]
            self.bad_type = f[1]
            self.bad_seq = f[2]
            return 0
        st[0] += 1
        self.last_error = 0
        return m

    def feed(self, data):
        """Feed many bytes; returns a list of (type, seq, payload bytes) for the valid frames in them."""
        out = []
        for b in data:
            m = self.feed_byte(b)
            if m:
                out.append((self.frame[1], self.frame[2], bytes(self.frame[3 : m - 2])))
        return out


# ---- payloads -------------------------------------------------------------------------------------


def pack_sample(t_ms, i_a, v_cell, t_c):
    return struct.pack(_SAMPLE_HEAD, t_ms, i_a, len(v_cell), len(t_c)) + struct.pack(
        "<%df" % (len(v_cell) + len(t_c)), *(list(v_cell) + list(t_c))
    )


_FLOATS = {}


def _floats(n):
    f = _FLOATS.get(n)
    if f is None:
        f = "<%df" % n
        if len(_FLOATS) < 8:  # a host cycling through sizes must not grow the heap
            _FLOATS[n] = f
    return f


def unpack_sample(p):
    """(t_ms, i_a, v_cell tuple, t_c tuple); ValueError on a payload of the wrong size."""
    if len(p) < 10:
        raise ValueError("sample payload too short")
    t_ms, i_a, n_v, n_t = struct.unpack_from(_SAMPLE_HEAD, p, 0)
    if len(p) != 10 + 4 * (n_v + n_t):
        raise ValueError("sample payload length does not match its cell and sensor counts")
    # two reads with cached formats: no 2n-float tuple sliced into two copies, no format string per sample
    return t_ms, i_a, struct.unpack_from(_floats(n_v), p, 10), struct.unpack_from(_floats(n_t), p, 10 + 4 * n_v)


def pack_estimate(t_ms, flags, i_chg_max_a, i_dis_max_a, soc, soc_sigma, q_ah, bleed=None, state=0):
    """The ESTIMATE payload (a bytearray): written in place, no list of 3n floats (on the emulated M3 a 16-cell
    payload takes 27 % fewer instructions and a fifth of the heap of building the list and packing it)."""
    n = len(soc)
    out = bytearray(_EST_HEAD_LEN + 12 * n + (n + 7) // 8)
    struct.pack_into(_ESTIMATE_HEAD, out, 0, t_ms, flags, state, i_chg_max_a, i_dis_max_a, n)
    o = _EST_HEAD_LEN
    for k in range(n):
        struct.pack_into("<fff", out, o, soc[k], soc_sigma[k], q_ah[k])
        o += 12
    if bleed:
        for k in range(n):
            if bleed[k]:
                out[o + (k >> 3)] |= 1 << (k & 7)
    return out


def unpack_estimate(p):
    """dict with t_ms, flags, state, i_chg_max_a, i_dis_max_a, soc, soc_sigma, q_ah, bleed (lists per cell)."""
    h = _EST_HEAD_LEN
    if len(p) < h:
        raise ValueError("estimate payload too short")
    t_ms, flags, state, i_chg, i_dis, n = struct.unpack_from(_ESTIMATE_HEAD, p, 0)
    if len(p) != h + 12 * n + (n + 7) // 8:
        raise ValueError("estimate payload length does not match its cell count")
    vals = struct.unpack_from("<%df" % (3 * n), p, h)
    mask = p[h + 12 * n:]
    return {
        "t_ms": t_ms,
        "flags": flags,
        "state": state,
        "i_chg_max_a": i_chg,
        "i_dis_max_a": i_dis,
        "soc": list(vals[0::3]),
        "soc_sigma": list(vals[1::3]),
        "q_ah": list(vals[2::3]),
        "bleed": [bool(mask[k >> 3] & (1 << (k & 7))) for k in range(n)],
    }


def pack_event(cell, kind, severity, t_ms, value):
    return struct.pack(_EVENT, cell, kind, severity, t_ms, value)


def unpack_event(p):
    """(cell, kind, severity, t_ms, value)"""
    if len(p) != 11:
        raise ValueError("event payload must be 11 bytes")
    return struct.unpack(_EVENT, p)


def pack_stats(counters):
    return struct.pack("<%dI" % len(counters), *counters)


def unpack_stats(p):
    if len(p) % 4:
        raise ValueError("stats payload must be whole u32 counters")
    vals = struct.unpack("<%dI" % (len(p) // 4), p)
    return dict(zip(STAT_NAMES, vals))


def pack_nack(refused_type, code, detail=""):
    d = detail.encode()
    return bytes((refused_type & 0xFF, code)) + d[:MAX_DETAIL]


def unpack_nack(p):
    """(refused_type, code, detail)"""
    if len(p) < 2:
        raise ValueError("nack payload too short")
    return p[0], p[1], bytes(p[2:]).decode("utf-8", "replace") if not _MPY else bytes(p[2:]).decode()


# the v3 setup messages (CONFIG in chunks, HELLO_REPLY) and CRC-32 live in bms.comm.messages
from bms.comm.messages import CHUNK_MAX, chunks, crc32, pack_chunk, pack_config, pack_hello  # noqa: E402,F401
from bms.comm.messages import unpack_chunk, unpack_config, unpack_hello  # noqa: E402,F401
