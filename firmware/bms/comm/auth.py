# Authentication of the frames that change safety (CONFIG, CLEAR_FAULT, TO_REPL): HMAC-SHA256 (RFC 2104) over
# MicroPython's hashlib.sha256, with a per-board key provisioned at flash time (host/provision.py writes
# KEY_FILE) and a monotonic counter against replay. The host signs with the same code. Key life cycle:
# docs/safety.md.
#
# authenticated payload = counter u32 LE | body | tag (32 bytes)
# tag = HMAC-SHA256(key, version u8 | type u8 | counter u32 LE | body | extra)   (extra: the staged document)
import struct

KEY_FILE = "bms.key"  # JSON {"key": 64 hex digits, "chemistry": "nvp" | "layered-oxide" | null}
TAG_LEN = 32
_BLOCK = 64


class AuthError(ValueError):
    pass


try:
    from hashlib import sha256 as _sha256  # pyright: ignore[reportAssignmentType]  (the fallback below differs)
except ImportError:  # a port without hashlib cannot verify anything: every safety frame is refused

    def _sha256(data=b""):
        raise AuthError("auth: this port has no hashlib")


def _pad(key, byte):
    out = bytearray(_BLOCK)
    for k in range(_BLOCK):
        out[k] = (key[k] if k < len(key) else 0) ^ byte
    return bytes(out)


class Hmac:
    """HMAC-SHA256 with a fixed key; the pads are computed once."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = _sha256(key).digest()
        self._ipad = _pad(key, 0x36)
        self._opad = _pad(key, 0x5C)

    def digest(self, *parts):
        h = _sha256(self._ipad)
        for p in parts:
            h.update(p)
        o = _sha256(self._opad)
        o.update(h.digest())
        return o.digest()


def equal(a, b):
    """Constant-time comparison of two byte strings."""
    if len(a) != len(b):
        return False
    d = 0
    for k in range(len(a)):
        d |= a[k] ^ b[k]
    return d == 0


def key_id(key):
    """4 bytes naming a key (the first of its SHA-256): HELLO shows it, the host looks its key up by it."""
    return _sha256(key).digest()[:4]


def sign(mac, version, msg_type, counter, body, extra=b""):
    """The authenticated payload for body (the host's side; tests use it too)."""
    head = struct.pack("<BBI", version, msg_type, counter)
    return head[2:] + body + mac.digest(head, body, extra)


def config_requests(mac, counter, n_cells, doc, soc0=float("nan"), soc0_sigma=float("nan")):
    """[(type, payload)]: the CONFIG_CHUNK frames staging doc (bytes), then the signed CONFIG commit."""
    from bms.comm import protocol as pr

    out = [(pr.CONFIG_CHUNK, c) for c in pr.chunks(doc)]
    out.append((pr.CONFIG, sign(mac, pr.VERSION, pr.CONFIG, counter, pr.pack_config(n_cells, doc, soc0, soc0_sigma), doc)))
    return out


class Auth:
    """The board's side: key, last accepted counter."""

    def __init__(self, key, counter=0, chemistry=None):
        self.mac = Hmac(key)
        self.key_id = key_id(key)
        self.counter = counter
        self.chemistry = chemistry

    def check(self, version, msg_type, payload, extra=b""):
        """The body of a valid authenticated payload; AuthError naming the problem otherwise. The counter is
        taken only once the tag holds."""
        n = len(payload)
        if n < 4 + TAG_LEN:
            raise AuthError("auth: no counter and tag")
        counter = struct.unpack_from("<I", payload, 0)[0]
        body = payload[4 : n - TAG_LEN]
        head = struct.pack("<BBI", version, msg_type, counter)
        if not equal(self.mac.digest(head, body, extra), payload[n - TAG_LEN :]):
            raise AuthError("auth: wrong tag")
        if counter <= self.counter:
            raise AuthError("auth: counter %d replayed (last %d)" % (counter, self.counter))
        self.counter = counter
        return body


def load(path=KEY_FILE):
    """Auth from a provisioned key file, or None when the board has none (every safety frame is then refused)."""
    import json
    from binascii import unhexlify

    try:
        with open(path) as f:
            doc = json.loads(f.read())
    except OSError:
        return None
    key = unhexlify(doc["key"])
    if len(key) < 16:
        raise ValueError("key file: the key must be at least 16 bytes")
    return Auth(key, 0, doc.get("chemistry"))
