"""nabms flash against the virtual board (the unix port booted to its REPL, its filesystem a temporary folder) and
the emulated Cortex-M3 (a ROMFS image): copies, starts, verifies HELLO; one-line errors and timeouts."""

import subprocess
import sys

import pytest

from bms import VERSION
from hil.qemu import QemuBoard, available
from hil.virtual_board import FIRMWARE, VirtualBoard
from host.flash import FlashError, build_romfs_image, flash, start_and_verify
from hil.link import BoardLink

pytestmark = pytest.mark.mpy


def test_flash_copies_starts_and_verifies_then_reflashes_a_running_board(tmp_path):
    lines = []
    with VirtualBoard(root=tmp_path, repl=True) as board:
        assert flash(board.port, log=lines.append) == VERSION
        assert (tmp_path / "main.py").exists() and (tmp_path / "bms" / "core" / "app.mpy").exists()
        # main runs now: a second flash asks it back to the REPL first (protocol REPL frame), then copies again,
        # this time with a board file
        assert flash(board.port, board_file=FIRMWARE / "boards" / "hil-bench.json", log=lines.append) == VERSION
        assert any("returned to its REPL" in ln for ln in lines)
        assert (tmp_path / "board.json").read_text() == (FIRMWARE / "boards" / "hil-bench.json").read_text()
        with BoardLink(board.port) as link:
            assert link.hello()["fw_version"] == VERSION
        assert board.alive(), board.stderr_text()


def test_a_bad_board_file_is_refused_before_the_board_is_touched(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text('{"name": "x", "afe": {"driver": "injected"}, "bal_r_ohm": 1, "sample_period_ms": 100, "sampel": 1}')
    with pytest.raises(FlashError, match="board .*unknown key .sampel."):
        flash("/dev/nonexistent", board_file=bad)


def test_flash_errors_are_one_line_with_a_non_zero_exit():
    r = subprocess.run([sys.executable, "-m", "host.cli", "flash", "--port", "/dev/nonexistent-board"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("flash: ")


OK, WHY = available()


@pytest.mark.qemu
@pytest.mark.skipif(not OK, reason="emulated Cortex-M3 unavailable: " + WHY)
def test_flash_romfs_image_boots_on_the_cortex_m3_and_the_repl_frame_returns_it_to_its_repl(tmp_path):
    image = build_romfs_image(tmp_path / "fw.romfs")
    with QemuBoard(romfs=image) as board:
        assert start_and_verify(board.port, soft_reset=True) == VERSION
        with BoardLink(board.port) as link:
            link.repl()  # main stops serving: Ctrl-C works again and the raw REPL answers
        assert board.exec("print(6 * 7)", soft_reset=False).strip() == "42"


def test_the_image_carries_the_hot_modules_as_machine_code_only_when_an_arch_is_given(tmp_path):
    from host.deploy import HOT_MODULES, build_image

    build_image(tmp_path / "a", arch="armv7m")
    build_image(tmp_path / "b")
    for f in sorted((tmp_path / "a" / "bms").rglob("*.mpy")):
        rel = f.relative_to(tmp_path / "a").with_suffix(".py").as_posix()
        arch = f.read_bytes()[2] >> 2  # .mpy header: 'M', version, arch << 2 | sub-version
        assert arch == (5 if rel in HOT_MODULES else 0), rel  # 5: armv7m
        assert (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()[2] == 0
