"""Per-board keys for the frames that change safety (CONFIG, CLEAR_FAULT, TO_REPL; bms.comm.auth).

The key is made on the host at flash time, written to the board as `bms.key` and kept on the host in a key store
(`$NABMS_KEYS`, default `~/.config/nabms/keys/`), one file per key named by its id (the first 4 bytes of its
SHA-256, which HELLO reports), so `host.link.BoardLink` finds the key of whatever board it talks to.

    key = provision_board("/dev/ttyACM0", chemistry="nvp")   # flash: after copying the firmware
    key = provision_dir(data_dir)                             # a virtual board's filesystem
Life cycle (make, store, rotate, revoke): docs/safety.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from bms.comm.auth import KEY_FILE, key_id
from bms.core.floor import FLOORS

_REGISTRY: dict[bytes, bytes] = {}  # key id -> key, for boards this process made (virtual boards)


def new_key() -> bytes:
    return os.urandom(32)


def key_file_text(key: bytes, chemistry: str | None = None) -> str:
    if chemistry is not None and chemistry not in FLOORS:
        raise ValueError("chemistry %r unknown (known: %s)" % (chemistry, ", ".join(sorted(FLOORS))))
    return json.dumps({"key": key.hex(), "chemistry": chemistry}) + "\n"


def keystore_dir() -> Path:
    return Path(os.environ.get("NABMS_KEYS") or Path.home() / ".config" / "nabms" / "keys")


def remember(key: bytes, persist: bool = True) -> bytes:
    """Keep key where BoardLink finds it: this process's registry, and the key store when persist."""
    kid = key_id(key)
    _REGISTRY[kid] = key
    if persist:
        d = keystore_dir()
        d.mkdir(parents=True, exist_ok=True)
        path = d / (kid.hex() + ".key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
    return kid


def find_key(kid: bytes) -> bytes | None:
    """The host's copy of the key a board names in HELLO, or None."""
    if kid in _REGISTRY:
        return _REGISTRY[kid]
    path = keystore_dir() / (kid.hex() + ".key")
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None


def provision_dir(path, key: bytes | None = None, chemistry: str | None = None, persist: bool = False) -> bytes:
    """Write bms.key into a board's filesystem folder (a virtual board's data folder, a mounted drive)."""
    key = key or new_key()
    (Path(path) / KEY_FILE).write_text(key_file_text(key, chemistry))
    remember(key, persist)
    return key


def provision_board(port: str, key: bytes | None = None, chemistry: str | None = None, mpremote: str = "mpremote") -> bytes:
    """Copy a (new) key to a board's flash root with mpremote and keep it in the host key store. For the
    flash command, after the firmware files are on the board."""
    key = key or new_key()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / KEY_FILE
        local.write_text(key_file_text(key, chemistry))
        p = subprocess.run([mpremote, "connect", port, "fs", "cp", str(local), ":" + KEY_FILE], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("could not write %s to %s: %s" % (KEY_FILE, port, (p.stderr or p.stdout).strip()))
    remember(key, persist=True)
    return key
