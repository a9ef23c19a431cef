"""Recordings in: CSV (any cycler's export, with the usual headers), BioLogic .mpr (galvani), Neware .nda/.ndax
(NewareNDA). Shared by `nabms fit` and `nabms replay`.

    rec = read("pulses.csv", columns="time=t,voltage=U1+U2,current=I", current_sign="discharge-positive")
    rec.t_s, rec.i_a (charge > 0), rec.v (rows x cells), rec.t_c (rows x 1 or x cells, or None)

A file that cannot be trusted raises RecordingError, one line naming the problem and the line of the file:
a missing column, time going backwards, a NaN or empty cell, implausible units (a current in mA read as A, a
voltage in mV), a current whose sign contradicts the voltage's response.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIGNS = ("charge-positive", "discharge-positive")
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0}
CURRENT_UNITS = {"A": 1.0, "mA": 1e-3}
ROLES = ("time", "voltage", "current", "temperature")

# header -> role, after normalising (lower case; units in [], (), after / or a trailing _unit kept apart)
_NAMES = {
    "time": ("time", "time_s", "t", "t_s", "test_time", "total_time", "elapsed_time", "test time", "total time",
             "elapsed time", "time stamp", "runtime", "run_time", "timestamp_s"),
    "voltage": ("voltage", "voltage_v", "v", "v_cell", "ecell", "ewe", "u", "cell_voltage", "terminal voltage",
                "cell voltage", "potential", "ewe-ece", "battery voltage"),
    "current": ("current", "current_a", "i", "i_a", "<i>", "control/v/ma", "cell current", "battery current"),
    "temperature": ("temperature", "temperature_c", "t_c", "temp", "cell temperature", "aux_temperature_1",
                    "ambient temperature", "temperature_degc", "t1"),
}
_UNIT_RE = re.compile(r"^(.*?)\s*(?:\[([^\]]*)\]|\(([^)]*)\)|/\s*([a-z°]+))\s*$")
_SUFFIX_UNITS = {"s": "s", "ms": "ms", "h": "h", "min": "min", "a": "A", "ma": "mA", "v": "V", "mv": "mV",
                 "c": "C", "degc": "C", "°c": "C", "k": "K"}


class RecordingError(ValueError):
    """A recording that cannot be used: str(e) is one line naming the problem and where."""


@dataclass
class Recording:
    path: str
    t_s: np.ndarray  # strictly increasing [s], from 0 at the first sample
    i_a: np.ndarray  # current [A], > 0 charge
    v: np.ndarray  # cell voltages [V], shape (rows, cells)
    t_c: np.ndarray | None  # temperatures [degC], shape (rows, 1 or cells), or None (not recorded)
    columns: dict = field(default_factory=dict)  # role -> the file's column name(s)
    line0: int = 2  # file line of the first row (for messages)

    @property
    def n_cells(self) -> int:
        return self.v.shape[1]

    def temperature(self, default_c: float = 25.0) -> np.ndarray:
        """(rows, cells) temperatures, default_c where none was recorded."""
        if self.t_c is None:
            return np.full(self.v.shape, default_c)
        return np.broadcast_to(self.t_c, self.v.shape)


def _split_unit(header: str) -> tuple[str, str | None]:
    """("voltage", "V") from "Voltage [V]", "voltage_V", "Ewe/V", "Current(mA)"."""
    h = header.strip().lower().replace("\ufeff", "")
    m = _UNIT_RE.match(h)
    if m:
        unit = next(g for g in m.groups()[1:] if g is not None).strip()
        return m.group(1).strip(), _SUFFIX_UNITS.get(unit, unit)
    m = re.match(r"^(.*?)[_ ]([a-z°]+)$", h)
    if m and m.group(2) in _SUFFIX_UNITS:
        return m.group(1), _SUFFIX_UNITS[m.group(2)]
    return h, None


def _role(header: str) -> tuple[str | None, int | None, str | None]:
    """(role, cell index or None, unit) of a header; role None when not recognised."""
    base, unit = _split_unit(header)
    if base == "control/v" and unit == "mA":  # BioLogic's "control/V/mA"
        return "current", None, "mA"
    if base == "t" and unit in ("C", "K"):  # "T/°C": a temperature, not a time
        return "temperature", None, unit
    for role, names in _NAMES.items():
        if base in names or base.replace(" ", "_") in names:
            return role, None, unit
    # multi-cell voltage / temperature columns: voltage_0, v1, cell_3_voltage, "Voltage 2", temperature_1
    m = re.match(r"^(?:cell[_ ]?(\d+)[_ ])?(voltage|v|v_cell|u|temperature|temp|t_c)(?:[_ ]?(\d+))?$", base)
    if m and (m.group(1) or m.group(3)):
        role = "temperature" if m.group(2) in ("temperature", "temp", "t_c") else "voltage"
        return role, int(m.group(1) or m.group(3)), unit
    return None, None, unit


def parse_columns(spec: str | None) -> dict[str, list[str]]:
    """"time=t,voltage=U1+U2,current=I" -> {"time": ["t"], "voltage": ["U1", "U2"], "current": ["I"]}."""
    out: dict[str, list[str]] = {}
    if not spec:
        return out
    for part in spec.split(","):
        if "=" not in part:
            raise RecordingError("--columns: %r is not role=COLUMN (roles: %s)" % (part, ", ".join(ROLES)))
        role, names = (x.strip() for x in part.split("=", 1))
        if role not in ROLES:
            raise RecordingError("--columns: unknown role %r (roles: %s)" % (role, ", ".join(ROLES)))
        out[role] = [n.strip() for n in names.split("+") if n.strip()]
    return out


def _pick(headers: list[str], explicit: dict[str, list[str]], path: str) -> dict[str, list[tuple[str, str | None]]]:
    """role -> [(header, unit), ...] (several for multi-cell voltages and temperatures)."""
    chosen: dict[str, list[tuple[str, str | None]]] = {}
    lower = {h.strip().lower(): h for h in headers}
    for role, names in explicit.items():
        cols = []
        for n in names:
            h = n if n in headers else lower.get(n.strip().lower())
            if h is None:
                raise RecordingError("%s: no column %r for %s (columns: %s)" % (path, n, role, ", ".join(headers)))
            cols.append((h, _split_unit(h)[1]))
        chosen[role] = cols
    multi: dict[str, list[tuple[int, str, str | None]]] = {}
    for h in headers:
        role, idx, unit = _role(h)
        if role is None or role in chosen:
            continue
        if idx is None:
            if role in multi and any(i is None for i, _, _ in multi[role]):
                continue  # the first of several plain candidates wins ("Time" before "Step Time")
            multi.setdefault(role, []).append((-1, h, unit))
        else:
            multi.setdefault(role, []).append((idx, h, unit))
    for role, found in multi.items():
        plain = [x for x in found if x[0] == -1]
        numbered = sorted(x for x in found if x[0] != -1)
        use = numbered if (role in ("voltage", "temperature") and len(numbered) > 1) or not plain else plain[:1]
        chosen[role] = [(h, u) for _, h, u in use]
    for role in ("time", "voltage", "current"):
        if role not in chosen:
            raise RecordingError("%s: no %s column found (columns: %s); name it with --columns %s=NAME"
                                 % (path, role, ", ".join(headers), role))
    if len(chosen["time"]) != 1 or len(chosen["current"]) != 1:
        raise RecordingError("%s: one time and one current column expected" % path)
    return chosen


def _scale(role: str, unit: str | None, override: str | None, path: str, header: str) -> float:
    if role == "time":
        u = override or unit or "s"
        if u not in TIME_UNITS:
            raise RecordingError("%s: time column %r has unit %r; pass --time-unit (%s)"
                                 % (path, header, u, "/".join(TIME_UNITS)))
        return TIME_UNITS[u]
    if role == "current":
        u = override or unit or "A"
        if u not in CURRENT_UNITS:
            raise RecordingError("%s: current column %r has unit %r; pass --current-unit (A/mA)" % (path, header, u))
        return CURRENT_UNITS[u]
    if role == "voltage":
        return {"mV": 1e-3}.get(unit or "V", 1.0)
    return 1.0


def _frame(table: dict[str, np.ndarray], headers: list[str], path: str, line0: int, columns: str | None,
           current_sign: str | None, time_unit: str | None, current_unit: str | None) -> Recording:
    """A Recording from named float columns, every check applied."""
    if current_sign is not None and current_sign not in SIGNS:
        raise RecordingError("--current-sign must be one of %s" % ", ".join(SIGNS))
    chosen = _pick(headers, parse_columns(columns), path)
    n = len(next(iter(table.values()))) if table else 0
    if n < 2:
        raise RecordingError("%s: fewer than 2 data rows" % path)
    arrays = {}
    for role, cols in chosen.items():
        over = time_unit if role == "time" else (current_unit if role == "current" else None)
        stack = []
        for h, unit in cols:
            x = table[h] * _scale(role, unit, over, path, h)
            bad = np.flatnonzero(~np.isfinite(x))
            if bad.size:
                raise RecordingError("%s line %d: %s column %r is empty or not a number"
                                     % (path, line0 + bad[0], role, h))
            stack.append(x)
        arrays[role] = np.stack(stack, axis=1)
    t = arrays["time"][:, 0]
    back = np.flatnonzero(np.diff(t) <= 0.0)
    if back.size:
        k = back[0] + 1
        raise RecordingError("%s line %d: time goes %s (%g s after %g s)"
                             % (path, line0 + k, "backwards" if t[k] < t[k - 1] else "nowhere", t[k], t[k - 1]))
    v = arrays["voltage"]
    i = arrays["current"][:, 0]
    k = int(np.argmax(np.abs(v - 2.5)))
    vk = float(v.flat[k])
    if not 0.0 <= vk <= 6.0:
        row = k // v.shape[1]
        raise RecordingError("%s line %d: voltage %g V is no cell's: a column in mV (name it voltage_mV), or "
                             "the wrong column (--columns voltage=NAME)?" % (path, line0 + row, vk))
    k = int(np.argmax(np.abs(i)))
    if abs(i[k]) > 2000.0:
        raise RecordingError("%s line %d: current %g A is beyond any cell: a column in mA read as A "
                             "(--current-unit mA)?" % (path, line0 + k, i[k]))
    span_days = (t[-1] - t[0]) / 86400.0
    if span_days > 3650.0:
        raise RecordingError("%s line %d: the recording spans %.0f days: time in ms read as s (--time-unit ms)?"
                             % (path, line0 + n - 1, span_days))
    if current_sign == "discharge-positive":
        i = -i
    elif current_sign is None:
        _check_sign(t, i, v, path, line0)
    temp = arrays.get("temperature")
    if temp is not None:
        k = int(np.argmax(np.abs(temp - 25.0)))
        tk = float(temp.flat[k])
        if not -60.0 <= tk <= 150.0:
            raise RecordingError("%s line %d: temperature %g degC is implausible (in K? in F?)"
                                 % (path, line0 + k // temp.shape[1], tk))
        if temp.shape[1] not in (1, v.shape[1]):
            raise RecordingError("%s: %d temperature columns for %d cells (one, or one per cell)"
                                 % (path, temp.shape[1], v.shape[1]))
    return Recording(path, t - t[0], i, v, temp, {r: [h for h, _ in c] for r, c in chosen.items()}, line0)


def _check_sign(t, i, v, path, line0):
    """A current step and the voltage's step answer each other with the same sign (R0 > 0); when most steps
    disagree the file's current is discharge-positive and must be said so."""
    di = np.diff(i)
    big = np.abs(di) > 0.1 * max(float(np.max(np.abs(i))), 1e-9)
    if not big.any():
        return
    dv = np.diff(v.mean(axis=1))[big]
    agree = int(np.sum(dv * di[big] > 0.0))
    disagree = int(np.sum(dv * di[big] < 0.0))
    if disagree > 2 * agree and disagree >= 3:
        k = int(np.flatnonzero(big)[0]) + 1
        raise RecordingError("%s line %d: the voltage falls when the current rises at %d of %d current steps: the "
                             "file's current looks discharge-positive; say which with --current-sign "
                             "{charge-positive,discharge-positive}" % (path, line0 + k, disagree, agree + disagree))


def _read_csv(path: str):
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        lines = []
        header_line = 0
        for no, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line)
                header_line = no
                break
        if not lines:
            raise RecordingError("%s: empty file (no header line)" % path)
        try:
            dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        headers = [h.strip() for h in next(csv.reader(lines, dialect))]
        if len(set(headers)) != len(headers):
            raise RecordingError("%s line %d: repeated column names" % (path, header_line))
        cols: list[list[float]] = [[] for _ in headers]
        for no, row in enumerate(csv.reader(f, dialect), header_line + 1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(headers):
                raise RecordingError("%s line %d: %d fields, the header has %d" % (path, no, len(row), len(headers)))
            for j, x in enumerate(row):
                try:
                    cols[j].append(float(x) if x.strip() else math.nan)
                except ValueError:
                    cols[j].append(math.nan)  # a text column (step names) is fine unless it is one we use
    return {h: np.asarray(c) for h, c in zip(headers, cols)}, headers, header_line + 1


def _read_mpr(path: str):
    try:
        from galvani import BioLogic
    except ImportError:
        raise RecordingError("%s: reading BioLogic .mpr files needs galvani: pip install 'nabms[cyclers]'" % path)
    try:
        data = BioLogic.MPRfile(path).data
    except Exception as e:  # galvani raises many kinds on a damaged file
        raise RecordingError("%s: not a readable BioLogic .mpr file (%s)" % (path, e))
    headers = list(data.dtype.names)
    if "control/V/mA" in headers and ("I/mA" in headers or "<I>/mA" in headers):
        headers.remove("control/V/mA")  # the set point; the measured current is the one to use
    return {h: np.asarray(data[h], dtype=float) for h in headers}, headers, 1


def _read_neware(path: str):
    try:
        import NewareNDA
    except ImportError:
        raise RecordingError("%s: reading Neware .nda/.ndax files needs NewareNDA: pip install 'nabms[cyclers]'"
                             % path)
    try:
        df = NewareNDA.read(path)
    except Exception as e:
        raise RecordingError("%s: not a readable Neware file (%s)" % (path, e))
    # "Time" restarts at every step; the timestamp runs through the test
    table = {}
    if "Timestamp" in df.columns:
        ts = df["Timestamp"]
        table["time_s"] = np.asarray((ts - ts.iloc[0]).dt.total_seconds(), dtype=float)
    for src, dst in (("Voltage", "voltage_V"), ("Current(mA)", "current_mA"), ("T1", "temperature_C")):
        if src in df.columns:
            table[dst] = np.asarray(df[src], dtype=float)
    return table, list(table), 1


def read(path, columns: str | None = None, current_sign: str | None = None, time_unit: str | None = None,
         current_unit: str | None = None) -> Recording:
    """One recording (see the module docstring); RecordingError with a one-line reason."""
    path = str(path)
    if not Path(path).is_file():
        raise RecordingError("%s: no such file" % path)
    suffix = Path(path).suffix.lower()
    if suffix == ".mpr":
        table, headers, line0 = _read_mpr(path)
    elif suffix in (".nda", ".ndax"):
        table, headers, line0 = _read_neware(path)
    else:
        table, headers, line0 = _read_csv(path)
    return _frame(table, headers, path, line0, columns, current_sign, time_unit, current_unit)


def add_arguments(p) -> None:
    """The reader options `fit` and `replay` share."""
    p.add_argument("--columns", help="which column is which: time=NAME,voltage=NAME[+NAME...],current=NAME,"
                                     "temperature=NAME (default: recognised from the usual headers)")
    p.add_argument("--current-sign", choices=SIGNS, help="the file's current sign (default charge-positive, checked "
                                                         "against the voltage's response)")
    p.add_argument("--time-unit", choices=tuple(TIME_UNITS), help="unit of the time column if its header has none")
    p.add_argument("--current-unit", choices=tuple(CURRENT_UNITS), help="unit of the current column if its header "
                                                                        "has none")


def read_args(path, args) -> Recording:
    return read(path, args.columns, args.current_sign, args.time_unit, args.current_unit)
