# HMAC-SHA256 and the frame authentication on the board's interpreter (and on CPython: test_mpy_modules_on_cpython).
from binascii import unhexlify

from bms.comm import protocol as pr
from bms.comm.auth import Auth, AuthError, Hmac, equal, sign


def _hex(s):
    return unhexlify(s.replace(" ", ""))


def test_hmac_sha256_rfc4231_vectors():
    # RFC 4231 test cases 1, 2 and 6 (a key longer than the block is hashed first)
    assert Hmac(b"\x0b" * 20).digest(b"Hi There") == _hex(
        "b0344c61d8db38535ca8afceaf0bf12b 881dc200c9833da726e9376c2e32cff7")
    assert Hmac(b"Jefe").digest(b"what do ya want ", b"for nothing?") == _hex(
        "5bdcc146bf60754e6a042426089575c7 5a003f089d2739839dec58b964ec3843")
    assert Hmac(b"\xaa" * 131).digest(b"Test Using Larger Than Block-Size Key - Hash Key First") == _hex(
        "60e431591ee0b67f0d8a26aacbf5b77f 8e0bc6213728c5140546040f0ee37f54")


def test_signed_payload_is_accepted_once_and_any_change_is_refused():
    key = bytes(range(32))
    board = Auth(key)
    payload = sign(Hmac(key), pr.VERSION, pr.CLEAR_FAULT, 5, b"body")
    assert board.check(pr.VERSION, pr.CLEAR_FAULT, payload) == b"body" and board.counter == 5
    for bad in (payload, sign(Hmac(key), pr.VERSION, pr.CLEAR_FAULT, 4, b"body")):  # replay, older counter
        try:
            board.check(pr.VERSION, pr.CLEAR_FAULT, bad)
            assert False, "replay accepted"
        except AuthError as e:
            assert "replayed" in str(e)
    fresh = sign(Hmac(key), pr.VERSION, pr.CLEAR_FAULT, 6, b"body")
    for k in range(len(fresh)):
        flipped = bytearray(fresh)
        flipped[k] ^= 0x01
        try:
            board.check(pr.VERSION, pr.CLEAR_FAULT, bytes(flipped))
            assert False, "flip at %d accepted" % k
        except AuthError:
            pass
    try:  # the same tag for another message type
        board.check(pr.VERSION, pr.TO_REPL, fresh)
        assert False
    except AuthError:
        pass
    assert board.counter == 5


def test_constant_time_compare():
    assert equal(b"abc", b"abc") and not equal(b"abc", b"abd") and not equal(b"abc", b"ab")
