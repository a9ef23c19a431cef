"""Per-board keys for the frames that change safety (CONFIG, CLEAR_FAULT, TO_REPL; bms.comm.auth), written at flash
time.

The key is made on the host, written to the board as `bms.key` and kept in the host key store (hil.keys:
`$NABMS_KEYS`, default `~/.config/nabms/keys/`), one file per key named by its id (the first 4 bytes of its SHA-256,
which HELLO reports), so `BoardLink` finds the key of whatever board it talks to.

    key = provision_board("/dev/ttyACM0", chemistry="nvp")   # flash: after copying the firmware
    key = provision_dir(data_dir)                             # a board's filesystem as a folder
Life cycle (make, store, rotate, revoke): docs/safety.md.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from bms.comm.auth import KEY_FILE
from hil.keys import find_key, key_file_text, new_key, provision_dir, remember  # noqa: F401


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
