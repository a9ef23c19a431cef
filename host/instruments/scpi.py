"""SCPI drivers (pyvisa): each command is followed by an error-queue check, so a refused setpoint is an error
here, not a silently different experiment."""

from __future__ import annotations

from host.instruments import SIM_DEFINITIONS, InstrumentError


def open_resource(resource: str, backend: str = ""):
    """A pyvisa resource. backend: "" (the system VISA), "@py" (pyvisa-py), "@sim" (this repo's definitions),
    or "PATH.yaml@sim"."""
    import pyvisa

    if backend == "@sim":
        backend = "%s@sim" % SIM_DEFINITIONS
    try:
        rm = pyvisa.ResourceManager(backend) if backend else pyvisa.ResourceManager()
        res = rm.open_resource(resource)
    except (pyvisa.errors.Error, OSError, ValueError) as e:
        raise InstrumentError("cannot open %s%s: %s" % (resource, " (backend %s)" % backend if backend else "", e)) from None
    res.timeout = 2000
    res.read_termination = res.write_termination = "\n"
    return res


class ScpiInstrument:
    def __init__(self, resource, name="instrument"):
        self.res = resource
        self.name = name
        self.idn = self.query("*IDN?")
        self.write("*CLS")

    def query(self, cmd: str) -> str:
        import pyvisa

        try:
            return self.res.query(cmd).strip()
        except pyvisa.errors.VisaIOError as e:
            raise InstrumentError("%s: no answer to %r: %s" % (self.name, cmd, e)) from None

    def query_float(self, cmd: str) -> float:
        text = self.query(cmd)
        try:
            return float(text)
        except ValueError:
            raise InstrumentError("%s: %r answered %r, not a number" % (self.name, cmd, text)) from None

    def write(self, cmd: str):
        self.res.write(cmd)
        err = self.query("SYST:ERR?")
        code = err.split(",", 1)[0].strip()
        if code not in ("0", "+0"):
            raise InstrumentError("%s refused %r: %s" % (self.name, cmd, err))

    def close(self):
        try:
            self.res.close()
        except Exception:  # closing a lost instrument must not hide why it was lost
            pass


class SupplyLoad(ScpiInstrument):
    """A bidirectional supply / electronic load in current mode: current > 0 charges the cells (sourced), < 0
    discharges them (sunk)."""

    def __init__(self, resource, v_limit_v: float | None = None):
        super().__init__(resource, "supply/load")
        if v_limit_v is not None:
            self.write("SOUR:VOLT:LIM %.4f" % v_limit_v)

    def set_current(self, i_a: float):
        self.write("SOUR:CURR %.6f" % i_a)

    def measure_current(self) -> float:
        return self.query_float("MEAS:CURR?")

    def output(self, on: bool):
        self.write("OUTP %d" % (1 if on else 0))


class CellEmulator(ScpiInstrument):
    """A multi-channel cell emulator: channel k + 1 stands in for cell k of the string."""

    def __init__(self, resource):
        super().__init__(resource, "cell emulator")
        self.n_channels = int(self.query_float("SYST:CHAN?"))

    def set_voltages(self, v_cell):
        if len(v_cell) > self.n_channels:
            raise InstrumentError("cell emulator has %d channels, the string %d cells" % (self.n_channels, len(v_cell)))
        for k, v in enumerate(v_cell):
            self.write("SOUR%d:VOLT %.6f" % (k + 1, max(0.0, float(v))))

    def measure_voltages(self, n: int):
        return [self.query_float("MEAS%d:VOLT?" % (k + 1)) for k in range(n)]

    def output(self, on: bool):
        self.write("OUTP %d" % (1 if on else 0))
