"""`nabms-sim` writes signals, labels and a plot."""

import csv

from sim.cli import main, parse_spec


def test_cli_writes_signals_labels_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["--profile", "drive", "--drive-name", "urban", "--duration", "900", "--n-cells", "3",
               "--spread", "--fault", "soft_short:cell=1,t=100,r_ohm=30",
               "--sensor-fault", "stuck:cell=2,t=200", "--out", str(out)])
    assert rc == 0
    with open(out / "signals.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 900
    assert {"t_s", "i_a", "i_meas", "v_cell_0", "v_cell_2", "soc_1", "i_leak_a_1", "v_meas_2"} <= set(rows[0])
    assert float(rows[-1]["i_leak_a_1"]) > 0 and float(rows[-1]["i_leak_a_0"]) == 0
    with open(out / "labels.csv") as fh:
        labels = list(csv.DictReader(fh))
    kinds = {(lab["kind"], lab["cell"]) for lab in labels}
    assert ("soft_short", "1") in kinds and ("sensor_stuck", "2") in kinds
    assert (out / "plot.png").stat().st_size > 10000
    assert "labels" in capsys.readouterr().out


def test_cli_rejects_bad_fault_spec(tmp_path, capsys):
    rc = main(["--fault", "soft_short:cell=7", "--out", str(tmp_path), "--no-plot"])
    assert rc == 2
    assert "cell" in capsys.readouterr().err


def test_parse_spec():
    assert parse_spec("void:cell=2,t=5.5,factor=0.1") == {"kind": "void", "cell": 2, "t_start_s": 5.5,
                                                         "factor": 0.1}
    assert parse_spec("soft_short:cell=0,micro=false")["micro"] is False
