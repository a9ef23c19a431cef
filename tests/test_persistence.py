"""What survives a reset: configuration, learned state, the latched fault, the event log and the auth counter (the
store itself and its power-cut proof: tests/mpy/test_store.py). In-process, and on the virtual board across a
restart of its MicroPython process on the same data folder."""

import pytest

from bms.comm import protocol as pr
from bms.core import events as ev
from bms.core import state as sm
from bms.core.app import Bms
from bms.core.store import Store, restore, snapshot


def _board(tmp_path):
    store = Store(str(tmp_path) + "/")
    bms = Bms()
    snap = store.load()
    if snap:
        restore(bms, snap)
    bms.on_persist = lambda b: store.save(snapshot(b))
    return bms


def test_configuration_learned_state_fault_and_log_survive_a_reset(tmp_path):
    bms = _board(tmp_path)
    bms.configure(3, "nvp-bare-cu", soc0=0.62, soc0_sigma=0.02)
    t = 0
    for k in range(5):
        t += 1000
        bms.on_sample(t, -1.0 + 0.001 * k, [3.39] * 3, [25.0] * 3)
    for k in range(3):
        t += 1000
        bms.on_sample(t, 0.0, [3.95, 3.39, 3.39], [25.0] * 3)  # beyond the NVP floor: FAULT latches
    assert bms.state == sm.FAULT
    socs = [e.soc for e in bms.estimators]
    bms.persist()

    again = _board(tmp_path)  # the reset
    assert (again.n_cells, again.preset, again.config_version) == (3, "nvp-bare-cu", bms.config_version)
    assert [e.soc for e in again.estimators] == pytest.approx(socs, abs=1e-6)
    assert all(e.soc_sigma > 0.02 for e in again.estimators)  # the time off is unknown: sigma grows
    assert again.state == sm.FAULT and again.latched[0] == ev.FLOOR_BREACH and not again.flags & (
        pr.FLAG_CHARGE_ALLOWED | pr.FLAG_DISCHARGE_ALLOWED)
    assert ev.FLOOR_BREACH in [e[1] for e in again.log]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The .mpy image flash copies (the source tree compiles in the board's heap: too tight for two boots)."""
    from host.deploy import build_image

    root = tmp_path_factory.mktemp("image")
    build_image(root)
    return root


@pytest.mark.mpy
def test_the_virtual_board_keeps_its_configuration_fault_and_counter_across_a_restart(tmp_path, image):
    from hil.virtual_board import VirtualBoard
    from host.link import BoardLink, LinkError

    with VirtualBoard(data_dir=tmp_path, root=image) as board:
        with BoardLink(board.port) as link:
            link.configure(2, "nvp-bare-cu", soc0=0.5)
            for k in range(1, 4):
                est, _ = link.sample(1000 * k, 0.0, [3.95, 3.4], [25.0, 25.0])
            assert est["state"] == sm.FAULT
            counter = link.hello()["counter"]
    with VirtualBoard(data_dir=tmp_path, root=image) as board:  # same flash, new process: a reset
        with BoardLink(board.port) as link:
            hello = link.hello()
            assert (hello["n_cells"], hello["preset"], hello["state"], hello["counter"]) == (2, "nvp-bare-cu", sm.FAULT, counter)
            est, _ = link.sample(5000, 0.0, [3.4, 3.4], [25.0, 25.0])
            assert est["state"] == sm.FAULT and not est["flags"] & pr.FLAG_CHARGE_ALLOWED
            link.clear_fault()  # the condition is gone: an authenticated clear leaves FAULT
            est, _ = link.sample(6000, 0.0, [3.4, 3.4], [25.0, 25.0])
            assert est["state"] == sm.STANDBY and est["flags"] & pr.FLAG_CHARGE_ALLOWED
            link.key = bytes(32)  # a wrong key: refused
            with pytest.raises(LinkError, match="auth"):
                link.clear_fault()


@pytest.mark.mpy
def test_a_signed_to_repl_hands_the_line_back_and_the_counter_survives(tmp_path, image):
    from hil.virtual_board import VirtualBoard, wait_until
    from hil.link import BoardLink

    with VirtualBoard(data_dir=tmp_path, root=image) as board:
        with BoardLink(board.port) as link:
            link.to_repl()  # what flash sends before mpremote takes the line
            assert wait_until(lambda: not board.alive(), 5.0)  # the unix port's main.py returns: no REPL there
    with VirtualBoard(data_dir=tmp_path, root=image) as board:
        with BoardLink(board.port) as link:
            assert link.hello()["counter"] == 1
