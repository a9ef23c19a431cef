"""SCPI drivers against pyvisa-sim with the instrument definitions in the repo (host/instruments/sim.yaml), and a
scenario driven through them (target instruments)."""

import pytest

pyvisa = pytest.importorskip("pyvisa")
pytest.importorskip("pyvisa_sim")

from host.instruments import InstrumentError  # noqa: E402
from host.instruments.scpi import CellEmulator, SupplyLoad, open_resource  # noqa: E402

SUPPLY, EMULATOR = "TCPIP::supply.local::INSTR", "TCPIP::emulator.local::INSTR"


def test_supply_load_sources_and_sinks_and_refuses_out_of_range():
    s = SupplyLoad(open_resource(SUPPLY, "@sim"), v_limit_v=4.1)
    assert "SUPPLY-LOAD" in s.idn
    s.output(True)
    for i_a in (1.5, -2.25, 0.0):
        s.set_current(i_a)
        assert s.measure_current() == pytest.approx(i_a)
    with pytest.raises(InstrumentError, match="refused 'SOUR:CURR 50"):
        s.set_current(50.0)
    s.close()


def test_cell_emulator_sets_each_channel():
    e = CellEmulator(open_resource(EMULATOR, "@sim"))
    assert e.n_channels == 8
    e.set_voltages([3.1, 3.2, 3.3, 3.4])
    assert e.measure_voltages(4) == pytest.approx([3.1, 3.2, 3.3, 3.4])
    with pytest.raises(InstrumentError, match="8 channels"):
        e.set_voltages([3.0] * 9)


def test_an_instrument_that_is_not_the_one_expected_is_an_error_not_a_silent_run():
    with pytest.raises(InstrumentError, match="supply/load"):
        SupplyLoad(open_resource("TCPIP::nowhere::INSTR", "@sim"))



def test_a_scenario_runs_through_the_instruments(tmp_path):
    from hil.scenario import run_scenario
    from host.instruments.bench import InstrumentedPack

    visa = {"supply": SUPPLY, "emulator": EMULATOR, "backend": "@sim"}
    summary, run_dir = run_scenario("smoke.json", out=tmp_path, target="instruments", html=False,
                                    wrap_pack=lambda pack: InstrumentedPack(pack, visa))
    assert summary["status"] == "completed" and summary["target"] == "instruments"
    assert summary["passed"], summary["failed_criteria"]
