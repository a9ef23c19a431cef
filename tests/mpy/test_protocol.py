# Protocol checks that must hold on the board's interpreter too (run by tests/test_on_micropython.py).
from bms.comm import protocol as pr


def test_crc_check_value():
    assert pr.crc16(b"123456789") == 0x29B1


def test_round_trip():
    payload = pr.pack_sample(123456, -1.25, [3.41, 3.39], [25.5])
    got = pr.FrameReader().feed(pr.encode_frame(pr.SAMPLE, 7, payload))
    assert len(got) == 1 and got[0][0] == pr.SAMPLE and got[0][1] == 7
    t_ms, i_a, v, tc = pr.unpack_sample(got[0][2])
    assert t_ms == 123456 and i_a == -1.25 and abs(v[0] - 3.41) < 1e-6 and abs(tc[0] - 25.5) < 1e-6


def test_every_single_bit_flip_rejected():
    frame = pr.encode_frame(pr.SAMPLE, 1, pr.pack_sample(1000, 0.5, [3.4, 3.4], [25.0]))
    for k in range(len(frame) - 1):
        for bit in range(8):
            bad = bytearray(frame)
            bad[k] ^= 1 << bit
            reader = pr.FrameReader()
            assert reader.feed(bytes(bad) + b"\x00") == [], (k, bit)
            assert reader.stats[0] == 0 and reader.stats[1] + reader.stats[2] + reader.stats[3] >= 1


def test_truncated_and_random_input():
    import random

    random.seed(3)
    reader = pr.FrameReader()
    junk = bytes([random.getrandbits(8) for _ in range(3000)])
    reader.feed(junk)
    f = pr.encode_frame(pr.HELLO, 9)
    got = reader.feed(b"\x00" + f[:-3] + b"\x00" + f)
    assert len(got) == 1 and got[0][1] == 9
