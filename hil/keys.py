"""The host's key store for the boards' keys (bms.comm.auth): where BoardLink finds the key of the board it talks to.

Keys made by this process (virtual boards) are kept in memory; others in `$NABMS_KEYS` (default
`~/.config/nabms/keys/<key id>.key`, mode 0600). Writing a key to a board: host/provision.py.
"""

from __future__ import annotations

import json
import os
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
