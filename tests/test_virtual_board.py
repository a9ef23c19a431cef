"""The firmware on the MicroPython unix port behind a pseudo-terminal, driven through pyserial like a real board."""

import math
import os
import random

import pytest

from bms.comm import protocol as pr
from hil.virtual_board import VirtualBoard
from host.link import BoardLink, LinkError

pytestmark = pytest.mark.mpy


@pytest.fixture
def link():
    with VirtualBoard() as board:
        with BoardLink(board.port, timeout_s=2.0) as lk:
            yield lk
        assert board.alive(), "firmware died:\n" + board.stderr_text()


def test_port_is_a_terminal_device_and_handshake_works(link):
    assert link.port.startswith("/dev/pts/") and os.isatty(link.ser.fileno())
    hello = link.hello()
    assert hello["n_cells"] == 1 and hello["preset"] == "nvp-mg-naf" and hello["fw_version"]


def test_samples_give_estimates_and_nan_fails_safe(link):
    for k in range(1, 6):
        est, events = link.sample(1000 * k, 0.0, [3.40], [25.0])
    assert est["flags"] & pr.FLAG_CHARGE_ALLOWED and 0.0 <= est["soc"][0] <= 1.0
    est, events = link.sample(6000, 0.0, [math.nan], [25.0])
    assert est["flags"] & pr.FLAG_SENSOR_FAULT and not est["flags"] & pr.FLAG_CHARGE_ALLOWED
    assert [e.kind_name for e in events] == ["sensor_invalid"]
    assert link.stats()["samples_rejected"] == 1


def test_flipped_bit_is_nacked_on_micropython_and_the_link_recovers(link):
    frame = bytearray(pr.encode_frame(pr.SAMPLE, 200, pr.pack_sample(1000, 0.0, [3.4], [25.0])))
    frame[5] ^= 0x04
    link.send_raw(bytes(frame))
    est, _ = link.sample(2000, 0.0, [3.4], [25.0])  # the NACK for the damaged frame is skipped, not fatal
    stats = link.stats()
    assert stats["rx_crc_errors"] + stats["rx_framing_errors"] == 1
    assert link.nacks >= 1 and est["t_ms"] == 2000


def test_random_bytes_do_not_stop_the_firmware(link):
    rng = random.Random(7)
    link.send_raw(bytes(rng.randrange(256) for _ in range(4000)) + b"\x00")
    est, _ = link.sample(1000, 0.0, [3.4], [25.0])
    assert est["t_ms"] == 1000
    stats = link.stats()
    assert stats["rx_crc_errors"] + stats["rx_framing_errors"] + stats["rx_oversize"] > 5


def test_config_beyond_limits_is_refused_with_a_reason(link):
    with pytest.raises(LinkError, match="bad_config.*unknown preset"):
        link.configure(2, "nvp-unobtainium")
    link.configure(4, "layered-oxide-bare-cu", soc0=0.3)
    hello = link.hello()
    assert hello["n_cells"] == 4 and hello["preset"] == "layered-oxide-bare-cu"
    est, _ = link.sample(1000, -1.0, [3.2] * 4, [25.0] * 4)
    assert len(est["soc"]) == 4


def test_the_flashed_image_of_mpy_modules_runs_a_string_of_8_cells_in_272k(tmp_path):
    # nabms flash copies main.py and bms/*.mpy (host.deploy.build_image): the board no longer compiles the modules
    # in its own heap. Measured on the 64-bit unix port with 8 cells: the image needs 272 KB (at 264 KB it refuses
    # the configuration, NACK "memory: ...", and keeps the running one). It needed 184 KB while the detectors were
    # one 1,040-line class: their split into a context, a level machine and six modules (issue 14) costs ~20 KB of
    # loaded code, module and function objects on this port (docs/architecture.md); the safety layer (input
    # diagnosis, floor, state machine, authentication, store: docs/safety.md) ~32 KB more, the estimator's offset
    # state and covariance matching (docs/estimator.md) ~16 KB more. Re-measured with the tick budget's changes
    # (docs/boards.md): still 272 KB (264 KB refuses); the source tree's 8 cells went from 336 KB to 320 KB. A
    # regression guard, not a target: issue 17's budget (>= 80 KB free with 16 cells on the 140 KB Cortex-M3) is
    # not met
    from hil.virtual_board import FIRMWARE
    from host.deploy import build_image

    files = build_image(tmp_path)
    assert sorted(f.relative_to(tmp_path).as_posix() for f in files if f.suffix == ".mpy") == sorted(
        f.relative_to(FIRMWARE).with_suffix(".mpy").as_posix() for f in (FIRMWARE / "bms").rglob("*.py"))
    assert not list((tmp_path / "bms").rglob("*.py"))  # no source to shadow the .mpy (imported first)
    with VirtualBoard(heapsize="272k", root=tmp_path) as board:
        with BoardLink(board.port, timeout_s=2.0) as lk:
            lk.configure(8, "nvp-mg-naf", soc0=0.5)
            for k in range(1, 200):  # a discharge: the detectors and estimators of 8 cells at work
                # (the current wanders by a few mA as a real sensor's does: one reading repeated for 300 s while
                # current flows is a stuck sensor, bms.core.diag)
                est, _ = lk.sample(2000 * k, -1.0 - 0.002 * (k % 3), [3.35 - 0.0001 * k] * 8, [25.0] * 8)
            assert len(est["soc"]) == 8 and est["soc"][0] < 0.5
            assert lk.stats()["samples_rejected"] == 0
        assert board.alive(), "firmware died:\n" + board.stderr_text()


def test_flash_refuses_a_board_whose_micropython_cannot_import_the_image():
    # flash asks the board for sys.implementation._mpy first: the unix port here reads what mpy-cross writes; a
    # board of another .mpy version would fail at import, on the board, after the copy
    import subprocess

    from hil.virtual_board import micropython_command
    from host.deploy import check_board_abi

    out = subprocess.run([micropython_command(), "-c", "import sys; print(sys.implementation._mpy)"],
                         capture_output=True, text=True, check=True).stdout
    check_board_abi(int(out))
    with pytest.raises(RuntimeError, match="reads .mpy version 5.*flash --source"):
        check_board_abi(5)  # MicroPython 1.12-1.18
    with pytest.raises(RuntimeError, match="reads .mpy version 0"):
        check_board_abi(0)  # a port built without .mpy import
