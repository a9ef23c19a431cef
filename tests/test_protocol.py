"""Protocol v3 on CPython: framing, CRC, payloads, and what happens to damaged input."""

import math
import random

import pytest

from bms.comm import protocol as pr


def frames_of(data, reader=None):
    reader = reader or pr.FrameReader()
    return reader.feed(data), reader


def stat(reader, name):
    return reader.stats[pr.STAT_NAMES.index(name)]


def test_crc16_ccitt_false_check_value():
    assert pr.crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("n", [0, 1, 5, 253, 254, 255, 256, 509])
def test_cobs_round_trip_removes_zeros(n):
    rng = random.Random(n)
    for zeros in (0.0, 0.3, 1.0):
        data = bytes(0 if rng.random() < zeros else rng.randrange(1, 256) for _ in range(n))
        enc = pr.cobs_encode(data)
        assert 0 not in enc
        out = bytearray(600)
        m = pr.cobs_decode_into(enc, len(enc), out)
        assert bytes(out[:m]) == data


def test_sample_frame_round_trip():
    payload = pr.pack_sample(123456, -1.25, [3.41, 3.39], [25.5, 26.0])
    (t, seq, p), = frames_of(pr.encode_frame(pr.SAMPLE, 7, payload))[0]
    assert (t, seq) == (pr.SAMPLE, 7)
    t_ms, i_a, v, tc = pr.unpack_sample(p)
    assert t_ms == 123456 and i_a == -1.25
    assert v == pytest.approx([3.41, 3.39], abs=1e-6) and tc == pytest.approx([25.5, 26.0])


def test_estimate_event_config_stats_nack_round_trip():
    est = pr.unpack_estimate(pr.pack_estimate(10, pr.FLAG_CHARGE_ALLOWED, 2.0, 5.0, [0.5, 0.25], [0.01, 0.02], [2.0, 1.9]))
    assert est["flags"] == pr.FLAG_CHARGE_ALLOWED and est["soc"] == pytest.approx([0.5, 0.25])
    assert est["q_ah"] == pytest.approx([2.0, 1.9]) and est["i_dis_max_a"] == 5.0
    assert est["bleed"] == [False, False]
    on = [k in (0, 8, 9) for k in range(10)]  # the mask spans two bytes
    assert pr.unpack_estimate(pr.pack_estimate(1, 0, 0.0, 0.0, [0.5] * 10, [0.0] * 10, [2.0] * 10, on))["bleed"] == on
    with pytest.raises(ValueError, match="length"):  # a version-1 estimate (no mask) is not misread
        pr.unpack_estimate(pr.pack_estimate(1, 0, 0.0, 0.0, [0.5] * 10, [0.0] * 10, [2.0] * 10)[:-2])
    assert pr.unpack_event(pr.pack_event(3, 1, 2, 99, 0.5)) == (3, 1, 2, 99, 0.5)
    n, soc0, sigma, doc_len, crc = pr.unpack_config(pr.pack_config(4, b"nvp-mg-naf"))
    assert (n, doc_len, crc) == (4, 10, pr.crc32(b"nvp-mg-naf")) and math.isnan(soc0) and math.isnan(sigma)
    counters = list(range(pr.N_STATS))
    assert list(pr.unpack_stats(pr.pack_stats(counters)).values()) == counters
    assert pr.unpack_nack(pr.pack_nack(0x10, pr.NACK_BAD_PAYLOAD, "why")) == (0x10, pr.NACK_BAD_PAYLOAD, "why")


def test_every_single_bit_flip_is_rejected_and_counted():
    frame = pr.encode_frame(pr.SAMPLE, 1, pr.pack_sample(1000, 0.5, [3.4] * 4, [25.0]))
    good, _ = frames_of(frame)
    assert len(good) == 1
    for k in range(len(frame) - 1):  # the delimiter itself is framing, not content
        for bit in range(8):
            bad = bytearray(frame)
            bad[k] ^= 1 << bit
            reader = pr.FrameReader()
            # a flip can create a 0x00 and split the frame: nothing may come out as a valid frame
            assert reader.feed(bytes(bad) + b"\x00") == [], (k, bit)
            assert sum(reader.stats[1:4]) >= 1
            assert stat(reader, "rx_frames") == 0


def test_truncated_frame_is_dropped_and_next_frame_survives():
    f1 = pr.encode_frame(pr.HELLO, 1)
    f2 = pr.encode_frame(pr.STATS_REQUEST, 2)
    got, reader = frames_of(f1[:-3] + b"\x00" + f2)
    assert [(t, s) for t, s, _ in got] == [(pr.STATS_REQUEST, 2)]
    assert stat(reader, "rx_crc_errors") + stat(reader, "rx_framing_errors") == 1


def test_random_bytes_never_raise_and_resync_on_next_frame():
    rng = random.Random(1)
    reader = pr.FrameReader()
    junk = bytes(rng.randrange(256) for _ in range(20000))
    reader.feed(junk)  # must not raise; by chance a junk run may even pass the CRC, so no claim on its output
    got = reader.feed(b"\x00" + pr.encode_frame(pr.HELLO, 9))
    assert got[-1][:2] == (pr.HELLO, 9)
    dropped = sum(reader.stats[1:5])
    assert dropped > 50  # the junk's zero bytes cut it into many bad frames, all counted


def test_oversize_frame_counted_then_recovery():
    reader = pr.FrameReader()
    assert reader.feed(b"\x01" * 5000 + b"\x00") == []
    assert stat(reader, "rx_oversize") == 1
    assert reader.feed(pr.encode_frame(pr.HELLO, 3))[0][:2] == (pr.HELLO, 3)


def test_wrong_version_counted():
    body = bytearray([9, pr.HELLO, 1])  # a version from the future: counted, not answered in it
    crc = pr.crc16(body)
    frame = pr.cobs_encode(bytes(body) + bytes([crc >> 8, crc & 0xFF])) + b"\x00"
    got, reader = frames_of(frame)
    assert got == [] and stat(reader, "rx_bad_version") == 1


@pytest.mark.parametrize("payload", [b"", b"\x01" * 9, pr.pack_sample(1, 0.0, [3.4], [25.0])[:-1]])
def test_malformed_sample_payload_raises_valueerror(payload):
    with pytest.raises(ValueError):
        pr.unpack_sample(payload)
