"""Host side of protocol v1 over a serial line (a real board's /dev/ttyACM0 or a virtual board's pty).

The framing and payload code is the firmware's own `bms.comm.protocol`: one source of truth.
"""

from __future__ import annotations

import math
import time

import serial

from bms.comm import protocol as pr
from bms.core.events import KIND_NAMES, SEVERITY_NAMES


class LinkError(RuntimeError):
    """The board did not answer as protocol v1 says (timeout, NACK, wrong reply)."""


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
        cell = "string" if self.cell == 0xFF else "cell %d" % self.cell
        return "Event(%s %s %s t=%.1fs value=%.4g)" % (self.severity_name, self.kind_name, cell, self.t_ms / 1000, self.value)


class BoardLink:
    """Request/reply over protocol v1. `port` is anything pyserial opens: a device path or a pty path."""

    def __init__(self, port: str, baudrate: int = 115200, timeout_s: float = 2.0, retries: int = 3):
        self.port = port
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
                    raise LinkError("board refused %#x: %s %s" % (refused, pr.NACK_NAMES[code], detail))
                continue
            if s != seq:
                continue  # a late reply to an earlier request
            if t == reply_type:
                return p, extra
            extra.append((t, p))

    # -- messages --
    def hello(self):
        p, _ = self.request(pr.HELLO, b"", pr.HELLO_REPLY)
        version, _, preset = bytes(p[1:]).decode().partition(";")
        return {"n_cells": p[0], "fw_version": version, "preset": preset}

    def configure(self, n_cells: int, preset: str, soc0: float | None = None):
        self.request(pr.CONFIG, pr.pack_config(n_cells, preset, math.nan if soc0 is None else soc0), pr.ACK)

    def sample(self, t_ms: int, i_a: float, v_cell, t_c):
        """Inject one sample; returns (estimate dict, [Event])."""
        p, extra = self.request(pr.SAMPLE, pr.pack_sample(t_ms, i_a, v_cell, t_c), pr.ESTIMATE)
        events = [Event(*pr.unpack_event(q)) for t, q in extra if t == pr.EVENT]
        return pr.unpack_estimate(p), events

    def repl(self):
        """Stop the firmware serving: the board returns to its REPL (re-flashing a running board)."""
        self.request(pr.REPL, b"", pr.ACK)

    def stats(self):
        p, _ = self.request(pr.STATS_REQUEST, b"", pr.STATS)
        counters = pr.unpack_stats(p)
        return counters
