"""The full firmware on the emulated Cortex-M3 (hil.qemu: MicroPython 1.29, float32, 140 KB heap, the image as a
ROMFS of what flash deploys): the protocol tests, the firmware-side test modules and closed-loop scenarios.
Skips where qemu-system-arm or the MicroPython image (NABMS_MCU_DIR) is missing."""

from pathlib import Path

import numpy as np
import pytest

import test_virtual_board as vb
from hil.qemu import QemuBoard, available, build_romfs, key_file, run_mpy_test_module
from hil.unixport import MPY_TESTS
from hil.virtual_board import FIRMWARE
from hil.link import BoardLink

OK, WHY = available()
pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not OK, reason="emulated Cortex-M3 unavailable: " + WHY)]

# test_detect runs the detectors through whole simulated cycles: 2 min on the emulated M3 on a quiet machine, over
# 5 min (its 300 s limit) with the machine shared. It runs on the unix port and CPython in make test; here, -m slow
SLOW_ON_M3 = {"test_detect"}
NOT_ON_M3 = {"test_store": "the emulated M3 has no writable filesystem (the store's tests write files)"}


def _module_param(m):
    if m in NOT_ON_M3:
        return pytest.param(m, marks=pytest.mark.skip(reason=NOT_ON_M3[m]))
    return pytest.param(m, marks=pytest.mark.slow) if m in SLOW_ON_M3 else m


MODULES = [_module_param(p.stem) for p in sorted(Path(MPY_TESTS).glob("test_*.py"))]


@pytest.fixture(scope="module")
def romfs(tmp_path_factory):
    # one image for the module: the firmware as flash deploys it, plus the firmware-side test modules
    d = tmp_path_factory.mktemp("qemu")
    return build_romfs(d / "fw.romfs", extra=sorted(Path(MPY_TESTS).glob("*.py")) + [FIRMWARE / "boards", key_file(d)])


@pytest.fixture
def board(romfs):
    with QemuBoard(romfs=romfs) as b:
        yield b


@pytest.fixture
def link(board):
    board.start_main()
    with BoardLink(board.port, timeout_s=3.0) as lk:
        yield lk
    assert board.alive()


# the virtual board's protocol tests, run against the emulated MCU (the `link` fixture above)
test_port_is_a_terminal_device_and_handshake_works = vb.test_port_is_a_terminal_device_and_handshake_works
test_samples_give_estimates_and_nan_fails_safe = vb.test_samples_give_estimates_and_nan_fails_safe
test_flipped_bit_is_nacked_on_micropython_and_the_link_recovers = vb.test_flipped_bit_is_nacked_on_micropython_and_the_link_recovers
test_random_bytes_do_not_stop_the_firmware = vb.test_random_bytes_do_not_stop_the_firmware
test_config_beyond_limits_is_refused_with_a_reason = vb.test_config_beyond_limits_is_refused_with_a_reason


def test_the_board_is_the_float32_cortex_m3(board):
    out = board.exec("import sys; print(repr(1/3), sys.implementation._machine)")
    assert out.split()[0] == "0.33333334" and "Cortex-M3" in out


def _run_string(link, n, samples=20):
    link.configure(n, "nvp-mg-naf", soc0=0.5)
    for k in range(1, samples + 1):
        est, _ = link.sample(1000 * k, 1.0, [3.30 + 0.001 * c for c in range(n)], [25.0] * n)
    assert len(est["soc"]) == n and all(0.5 < s < 0.51 for s in est["soc"])
    assert link.stats()["samples_rejected"] == 0


def test_twelve_cells_configure_and_run_on_140k(link):
    _run_string(link, 12)


def test_sixteen_cells_configure_and_run_on_140k(link):
    _run_string(link, 16)


@pytest.mark.parametrize("module", MODULES)
def test_firmware_side_module_passes_on_the_cortex_m3(board, module, romfs):
    ok, out = run_mpy_test_module(board, module)
    if not ok and available("an500")[0] and "within" not in out:  # a timeout says nothing about float32
        # the same image on the double-precision board tells a float32 effect from a logic bug (ROMFS offsets are
        # relative: the file loads at the AN500's address as it is)
        with QemuBoard(board="an500", romfs=romfs) as b2:
            ok2, _ = run_mpy_test_module(b2, module)
        out += "\n(on the double-precision AN500 it %s: %s)" % (
            "passes" if ok2 else "fails too", "a float32 effect" if ok2 else "not a float32 effect")
    assert ok, "on the emulated Cortex-M3:\n" + out


# The UART of the emulated board carries ~10 bytes per ms (qemu's pty and its one-byte receive register, not the
# firmware: a 1-cell SAMPLE round trip takes ~11 ms against ~1 ms of emulated work), so make test runs each
# scenario up to the moment it proves (-m slow: whole)
DEMO_STEPS = 2400  # 80 min of the 8-cell demo (its C/2 discharge; its first full discharge and balancing window; the soft short starts at 22,500 s: -m slow)
FLOAT32_SOC_TOL = 1e-4  # measured: 1e-6 (the log's resolution) over the 2,400 samples
SOFT_SHORT_STEPS = 4600  # through the 1C charge (0.5C allowed) and the rest after it, where the alarm comes


def _scenario_on_qemu(name, tmp_path, max_steps):
    from hil.scenario import run_scenario

    tmp_path.mkdir(parents=True, exist_ok=True)
    with QemuBoard(romfs=build_romfs(tmp_path / "fw.romfs", extra=(key_file(tmp_path),))) as b:
        b.start_main()
        summary, run_dir = run_scenario(name, port=b.port, out=tmp_path, max_steps=max_steps)
    # a run cut short is not judged on its length, nor on events that come after the cut ("never raised"), nor
    # on the whole run's SoC RMSE (the SoC starts unknown: a short run's first hour dominates it); everything else
    # (forbidden events, events on healthy cells, the converged error) must hold
    cut = max_steps < 10**7
    failed = [f for f in summary["failed_criteria"]
              if not (cut and (f.startswith("at least") or f.endswith("never raised") or f.split()[0] == "soc_rmse"))]
    return summary, run_dir, failed


def _demo(tmp_path, max_steps):
    from hil.scenario import run_scenario

    summary, run_dir, failed = _scenario_on_qemu("demo.json", tmp_path / "m3", max_steps)
    assert not failed, failed
    assert summary["firmware_stats"]["rx_crc_errors"] == 0 and summary["firmware_stats"]["samples_rejected"] == 0
    if max_steps < 10**7:
        # the same steps on the unix port (double precision): the float32 M3 tracks it (the SoC starts unknown
        # and the filter has not converged within a cut run, so this, not the RMSE, is the check)
        _, run64 = run_scenario("demo.json", out=tmp_path / "unix", max_steps=max_steps)
        log32 = np.genfromtxt(run_dir / "log.csv", delimiter=",", names=True)
        log64 = np.genfromtxt(run64 / "log.csv", delimiter=",", names=True)
        assert len(log32) == len(log64) == max_steps
        cols = [c for c in log32.dtype.names if c.startswith("soc_est_")]
        worst = max(np.max(np.abs(log32[c] - log64[c])) for c in cols)
        assert cols and worst < FLOAT32_SOC_TOL, worst


def _soft_short(tmp_path, max_steps):
    summary, run_dir, failed = _scenario_on_qemu("soft_short.json", tmp_path, max_steps)
    assert not failed, failed
    events = np.atleast_1d(np.genfromtxt(run_dir / "events.csv", delimiter=",", names=True, dtype=None, encoding="utf-8"))
    plating = {"soft_short", "dendrite", "dead_sodium", "nucleation", "stripping_void", "model_mismatch"}
    assert {int(e["cell"]) for e in events if e["kind"] in plating} == {1}  # the leaking cell only, as on the unix port
    assert any(e["kind"] == "soft_short" and e["severity"] == "alarm" for e in events)


def test_demo_scenario_closed_loop_on_the_cortex_m3(tmp_path):
    _demo(tmp_path, DEMO_STEPS)


def test_soft_short_scenario_closed_loop_on_the_cortex_m3(tmp_path):
    _soft_short(tmp_path, SOFT_SHORT_STEPS)


@pytest.mark.slow
def test_whole_demo_scenario_on_the_cortex_m3(tmp_path):
    _demo(tmp_path, 10**7)


@pytest.mark.slow
def test_whole_soft_short_scenario_on_the_cortex_m3(tmp_path):
    _soft_short(tmp_path, 10**7)
