# Protocol v3's setup messages: the configuration document in chunks, its signed commit, the HELLO reply; and the
# CRC-32 over a document (bms.comm.protocol re-exports all of it).
import struct

from bms.compat import const

CHUNK_MAX = const(768)  # CONFIG_CHUNK data bytes at most
_HELLO_HEAD = "<BBII4s"
_CONFIG_BODY = "<BffII"


def pack_config(n_cells, doc, soc0=float("nan"), soc0_sigma=float("nan")):
    """The body of a CONFIG commit for the document doc (bytes) staged by CONFIG_CHUNK frames."""
    return struct.pack(_CONFIG_BODY, n_cells, soc0, soc0_sigma, len(doc), crc32(doc))


def unpack_config(body):
    """(n_cells, soc0, soc0_sigma, doc_len, doc_crc32) of a CONFIG body (counter and tag removed)."""
    if len(body) != 17:
        raise ValueError("config body must be 17 bytes")
    return struct.unpack(_CONFIG_BODY, body)


def pack_chunk(offset, total, data):
    return struct.pack("<II", offset, total) + data


def unpack_chunk(p):
    """(offset, total, data memoryview)"""
    if len(p) < 8:
        raise ValueError("chunk payload too short")
    offset, total = struct.unpack_from("<II", p, 0)
    if len(p) - 8 > CHUNK_MAX:
        raise ValueError("chunk data beyond %d bytes" % CHUNK_MAX)
    return offset, total, memoryview(p)[8:]


def chunks(doc, size=CHUNK_MAX):
    """CONFIG_CHUNK payloads carrying doc (bytes)."""
    out = []
    for off in range(0, max(len(doc), 1), size):
        out.append(pack_chunk(off, len(doc), doc[off:off + size]))
    return out


def pack_hello(n_cells, state, config_version, counter, key_id, text):
    return struct.pack(_HELLO_HEAD, n_cells, state, config_version, counter, key_id) + text.encode()


def unpack_hello(p):
    """dict with n_cells, state, config_version, counter, key_id (bytes), fw_version, preset."""
    if len(p) < 14:
        raise ValueError("hello reply too short")
    n, state, cv, counter, key_id = struct.unpack_from(_HELLO_HEAD, p, 0)
    version, _, preset = bytes(p[14:]).decode().partition(";")
    return {"n_cells": n, "state": state, "config_version": cv, "counter": counter, "key_id": bytes(key_id),
            "fw_version": version, "preset": preset}


def _binascii_crc32():
    try:
        from binascii import crc32 as c  # most ports have it; the table is the fallback

        return c
    except ImportError:
        return None


_CRC32 = _binascii_crc32()


def crc32(data):
    """CRC-32 (IEEE, zlib's) of data."""
    if _CRC32 is not None:
        return _CRC32(data) & 0xFFFFFFFF
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
