"""Host side of protocol v3 over a serial line (a real board's /dev/ttyACM0 or a virtual board's pty).

The framing and payload code is the firmware's own `bms.comm.protocol`: one source of truth.
"""

from __future__ import annotations

import math
import time

import serial

from bms.comm import protocol as pr
from bms.comm.auth import Hmac, config_requests, sign
from bms.core.events import KIND_NAMES, SEVERITY_NAMES, channel_name


class LinkError(RuntimeError):
    """The board did not answer as protocol v3 says (timeout, NACK, wrong reply)."""


class Event:
    __slots__ = ("cell", "kind", "severity", "t_ms", "value")

    def __init__(self, cell, kind, severity, t_ms, value):
        self.cell, self.kind, self.severity, self.t_ms, self.value = cell, kind, severity, t_ms, value

    @property
    def kind_name(self):
        return KIND_NAMES.get(self.kind, "kind_%d" % self.kind)

    @property
    def severity_name(self):
        return SEVERITY_NAMES[self.severity] if self.severity < len(SEVERITY_NAMES) else str(self.severity)

    def __repr__(self):
        cell = channel_name(self.cell)
        return "Event(%s %s %s t=%.1fs value=%.4g)" % (self.severity_name, self.kind_name, cell, self.t_ms / 1000, self.value)


class BoardLink:
    """Request/reply over protocol v3. `port` is anything pyserial opens: a device path or a pty path.

    key: the board's key for the frames that change safety; by default the host's copy of the key the board
    names in HELLO (hil.keys: the key store, or a virtual board made by this process)."""

    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 2.0, retries: int = 3, key: bytes | None = None):
        self.port = port
        self.key = key
        self._counter = None  # the next authenticated frame's counter is above this (from HELLO)
        self.timeout_s = timeout_s
        self.retries = retries
        self.ser = serial.Serial(port, baudrate=baudrate, timeout=0.05)
        self.reader = pr.FrameReader()
        self._pending: list = []  # frames read but not yet consumed
        self._seq = 0
        self.resends = 0
        self.nacks = 0

    def close(self):
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- framing --
    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def send_raw(self, data: bytes):
        self.ser.write(data)

    def _read_frames(self, deadline):
        while not self._pending:
            if time.monotonic() > deadline:
                return False
            data = self.ser.read(max(1, self.ser.in_waiting))
            if data:
                self._pending.extend(self.reader.feed(data))
        return True

    def request(self, msg_type: int, payload: bytes, reply_type: int):
        """Send one frame, collect replies with its seq until `reply_type` arrives.

        Returns (reply payload, [other frames with that seq]). Resends after a timeout (at most `retries`
        times) and after a corrupt-frame NACK (which may be about our frame or about line noise before
        it; the firmware answers a repeated SAMPLE from its reply cache, so a needless resend is harmless).
        """
        seq = self._next_seq()
        frame = pr.encode_frame(msg_type, seq, payload)
        timeouts = 0
        corrupt_resends = 0
        self.ser.write(frame)
        deadline = time.monotonic() + self.timeout_s
        extra = []
        while True:
            if not self._read_frames(deadline):
                if timeouts >= self.retries:
                    raise LinkError("no %#x reply from %s after %d tries" % (reply_type, self.port, timeouts + 1))
                timeouts += 1
                self.resends += 1
                self.ser.write(frame)
                deadline = time.monotonic() + self.timeout_s
                continue
            t, s, p = self._pending.pop(0)
            if t == pr.NACK:
                refused, code, detail = pr.unpack_nack(p)
                self.nacks += 1
                if code == pr.NACK_CORRUPT:
                    if corrupt_resends < 8 * (self.retries + 1) and not self._pending:
                        corrupt_resends += 1
                        self.resends += 1
                        self.ser.write(frame)
                        deadline = time.monotonic() + self.timeout_s
                    continue
                if s == seq:
                    name = pr.NACK_NAMES[code] if code < len(pr.NACK_NAMES) else "code_%d" % code
                    raise LinkError("board refused %#x: %s %s" % (refused, name, detail))
                continue
            if s != seq:
                continue  # a late reply to an earlier request
            if t == reply_type:
                return p, extra
            extra.append((t, p))

    # -- messages --
    def hello(self):
        """dict: n_cells, state, config_version, counter, key_id, fw_version, preset."""
        p, _ = self.request(pr.HELLO, b"", pr.HELLO_REPLY)
        h = pr.unpack_hello(p)
        self._counter = max(self._counter or 0, h["counter"])
        self._key_id = h["key_id"]
        h["key_id"] = h["key_id"].hex()  # 00000000: no key on the board
        return h

    def _signer(self):
        if self._counter is None:
            self.hello()
        key = self.key
        if key is None:
            from hil.keys import find_key

            if self._key_id == b"\0\0\0\0":
                raise LinkError("board on %s has no key: provision one (nabms flash)" % self.port)
            key = find_key(self._key_id)
            if key is None:
                raise LinkError("no key for board %s (id %s) in the host key store" % (self.port, self._key_id.hex()))
            self.key = key
        self._counter += 1
        return Hmac(key), self._counter

    def configure(self, n_cells: int, doc, soc0: float | None = None, soc0_sigma: float | None = None):
        """Send a configuration (a preset name or a cell file's bytes) in chunks and commit it, signed."""
        mac, counter = self._signer()
        doc = doc.encode() if isinstance(doc, str) else bytes(doc)
        nan = math.nan
        for t, p in config_requests(mac, counter, n_cells, doc, nan if soc0 is None else soc0, nan if soc0_sigma is None else soc0_sigma):
            self.request(t, p, pr.ACK)

    def _command(self, msg_type):
        mac, counter = self._signer()
        self.request(msg_type, sign(mac, pr.VERSION, msg_type, counter, b""), pr.ACK)

    def clear_fault(self):
        """Leave a latched FAULT (the board refuses while the condition stands)."""
        self._command(pr.CLEAR_FAULT)

    def to_repl(self):
        """Hand the board's serial line back to its REPL (before mpremote copies files); signed like CONFIG, unless
        the board has no key (it then guards nothing a reset would not reach)."""
        if self._counter is None:
            self.hello()
        if self.key is None and self._key_id == b"\0\0\0\0":
            self.request(pr.TO_REPL, b"", pr.ACK)
            return
        self._command(pr.TO_REPL)

    repl = to_repl  # the flash's name for it
    def sample(self, t_ms: int, i_a: float, v_cell, t_c):
        """Inject one sample; returns (estimate dict, [Event])."""
        p, extra = self.request(pr.SAMPLE, pr.pack_sample(t_ms, i_a, v_cell, t_c), pr.ESTIMATE)
        events = [Event(*pr.unpack_event(q)) for t, q in extra if t == pr.EVENT]
        return pr.unpack_estimate(p), events

    def stats(self):
        p, _ = self.request(pr.STATS_REQUEST, b"", pr.STATS)
        counters = pr.unpack_stats(p)
        return counters
