"""Lab instruments over SCPI (pyvisa): a bidirectional programmable supply / electronic load and a multi-channel
cell emulator, so a scenario can drive its profile through real hardware (`nabms run --target instruments`).

`sim.yaml` beside this file defines both for pyvisa-sim: the drivers are tested against it, and
`--visa backend=@sim` runs a scenario through the simulated instruments."""

from pathlib import Path

SIM_DEFINITIONS = Path(__file__).resolve().parent / "sim.yaml"


class InstrumentError(RuntimeError):
    """An instrument refused a command, answered nonsense, or could not be opened."""
