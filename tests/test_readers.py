"""host.readers: the usual headers, units, signs, several cells, the cycler formats, and every bad file named with
its line; `nabms fit`/`replay` turn a bad file into one line and a non-zero exit, with nothing written."""

import sys
import types

import numpy as np
import pytest

from host import readers
from host.cli import main
from host.readers import RecordingError, read


def _write(tmp_path, text, name="r.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _pulses(n=12, dt=1.0, r0=0.05):
    """A rest, a discharge step, a rest, a charge step: (t, i, v) with the voltage answering the current."""
    t = np.arange(n) * dt
    i = np.zeros(n)
    i[3:6] = -2.0
    i[8:10] = 1.0
    v = 3.4 + r0 * i
    return t, i, v


def test_usual_headers_and_units(tmp_path):
    t, i, v = _pulses()
    rows = "\n".join("%g,%g,%g,%g" % (a, b, c, 25.0) for a, b, c in zip(t, i, v))
    rec = read(_write(tmp_path, "Time [s],Current [A],Voltage [V],Temperature [degC]\n" + rows))
    assert rec.n_cells == 1 and np.allclose(rec.i_a, i) and np.allclose(rec.v[:, 0], v) and rec.t_c is not None
    # ms, mA, semicolons, another naming
    rows = "\n".join("%g;%g;%g" % (a * 1000, b * 1000, c) for a, b, c in zip(t, i, v))
    rec = read(_write(tmp_path, "time_ms;current_mA;voltage_V\n" + rows))
    assert np.allclose(rec.t_s, t) and np.allclose(rec.i_a, i) and rec.t_c is None
    # BioLogic-style text export
    rows = "\n".join("%g\t%g\t%g" % (a / 3600, b * 1000, c) for a, b, c in zip(t, i, v))
    rec = read(_write(tmp_path, "time/h\tI/mA\tEwe/V\n" + rows))
    assert np.allclose(rec.t_s, t) and np.allclose(rec.i_a, i)


def test_columns_option_several_cells_and_discharge_positive(tmp_path):
    t, i, v = _pulses()
    rows = "\n".join("%g,%g,%g,%g" % (a, -b, c, c + 0.01) for a, b, c in zip(t, i, v))
    path = _write(tmp_path, "t,amps,U1,U2\n" + rows)
    rec = read(path, columns="time=t,current=amps,voltage=U1+U2", current_sign="discharge-positive")
    assert rec.n_cells == 2 and np.allclose(rec.i_a, i) and np.allclose(rec.v[:, 1], v + 0.01)
    # recognised without --columns: voltage_0_V, voltage_1_V
    rows = "\n".join("%g,%g,%g,%g" % (a, b, c, c) for a, b, c in zip(t, i, v))
    rec = read(_write(tmp_path, "time_s,current_A,voltage_0_V,voltage_1_V\n" + rows))
    assert rec.n_cells == 2


@pytest.mark.parametrize(
    "header, rows, words",
    [
        ("time_s,current_A", ["0,0", "1,1"], "no voltage column"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "1,0,3.4", "0.5,0,3.4"], "line 4: time goes backwards"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "1,0,3.4", "1,0,3.4"], "line 4: time goes nowhere"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "1,nan,3.4", "2,0,3.4"], "line 3: current column"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "1,0,", "2,0,3.4"], "line 3: voltage column"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "1,0,3.4,7"], "line 3: 4 fields"),
        ("time_s,current_A,voltage_V", ["0,0,3400", "1,0,3400"], "line 2: voltage 3400 V"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "1,-2500,3.3"], "line 3: current -2500 A"),
        ("time_s,current_A,voltage_V", ["0,0,3.4", "4e9,0,3.4"], "time in ms read as s"),
        ("time_s,current_A,voltage_V", [], "fewer than 2 data rows"),
    ],
)
def test_bad_file_is_named_with_its_line(tmp_path, header, rows, words):
    with pytest.raises(RecordingError) as e:
        read(_write(tmp_path, header + "\n" + "\n".join(rows) + "\n"))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_current_sign_contradicting_the_voltage_is_refused_unless_stated(tmp_path):
    t, i, v = _pulses()
    rows = "\n".join("%g,%g,%g" % (a, -b, c) for a, b, c in zip(t, i, v))  # discharge-positive file
    path = _write(tmp_path, "time_s,current_A,voltage_V\n" + rows)
    with pytest.raises(RecordingError, match="--current-sign"):
        read(path)
    assert np.allclose(read(path, current_sign="discharge-positive").i_a, i)
    assert np.allclose(read(path, current_sign="charge-positive").i_a, -i)  # said so: trusted


def test_biologic_mpr_through_galvani(tmp_path, monkeypatch):
    galvani = pytest.importorskip("galvani", reason="galvani not installed (pip install 'nabms[cyclers]')")
    t, i, v = _pulses()
    data = np.zeros(len(t), dtype=[("time/s", "f8"), ("control/V/mA", "f4"), ("Ewe/V", "f4"), ("I/mA", "f4")])
    data["time/s"], data["Ewe/V"], data["I/mA"], data["control/V/mA"] = t, v, i * 1000, 99.0
    path = tmp_path / "x.mpr"
    path.write_bytes(b"BIO-LOGIC MODULAR FILE\x1a")
    monkeypatch.setattr(galvani.BioLogic, "MPRfile", lambda p: types.SimpleNamespace(data=data))
    rec = read(str(path))
    assert np.allclose(rec.i_a, i, atol=1e-6) and np.allclose(rec.v[:, 0], v, atol=1e-6)  # I/mA, not the set point


def test_neware_through_newarenda(tmp_path, monkeypatch):
    nda = pytest.importorskip("NewareNDA", reason="NewareNDA not installed (pip install 'nabms[cyclers]')")
    import pandas as pd

    t, i, v = _pulses()
    df = pd.DataFrame({"Time": t % 5, "Voltage": v, "Current(mA)": i * 1000,
                       "Timestamp": pd.to_datetime("2026-01-01") + pd.to_timedelta(t, unit="s")})
    path = tmp_path / "x.ndax"
    path.write_bytes(b"PK")
    monkeypatch.setattr(nda, "read", lambda p: df)
    rec = read(str(path))
    assert np.allclose(rec.t_s, t) and np.allclose(rec.i_a, i)  # the timestamp, not the per-step time


@pytest.mark.parametrize("suffix, package", [(".mpr", "galvani"), (".nda", "NewareNDA")])
def test_a_missing_reader_package_is_one_line(tmp_path, monkeypatch, suffix, package):
    path = tmp_path / ("x" + suffix)
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, package, None)  # import fails
    with pytest.raises(RecordingError, match=r"needs %s: pip install 'nabms\[cyclers\]'" % package):
        read(str(path))


@pytest.mark.parametrize("cmd", ["fit", "replay"])
def test_commands_turn_a_bad_file_into_one_line_and_write_nothing(tmp_path, capsys, cmd):
    path = _write(tmp_path, "time_s,current_A,voltage_V\n0,0,3.4\n1,0,3.4\n0.5,0,3.4\n")
    out = tmp_path / "out"
    argv = [cmd, path, "--out", str(out / "c.json" if cmd == "fit" else out)]
    if cmd == "replay":
        argv += ["--cell", str(readers.Path(__file__).parents[1] / "firmware" / "cells" / "nvp-mg-naf.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nabms %s: " % cmd) and "line 4: time goes backwards" in err[-1]
    assert not out.exists()
