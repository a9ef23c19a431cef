# The board as data (firmware/boards/*.json): which AFE and its bus, pins and addresses, the shunt, thermistor
# constants, the balancing resistor, switch polarity and the sample period. validate() checks it at boot and
# refuses unknown keys (a misspelt key would otherwise silently keep its default on a real pack).
import json

DRIVERS = ("injected", "bq76952", "discrete")

# key -> (type(s), required); a dict type is a nested section checked with its own schema
_I2C = {"id": (int, True), "sda": (int, False), "scl": (int, False), "freq": (int, False)}
_NTC = {"adc_pin": (int, True), "r_fixed_ohm": ((int, float), True), "r0_ohm": ((int, float), False),
        "t0_c": ((int, float), False), "beta": ((int, float), False), "sh": (list, False), "ntc_low": (bool, False)}
_TAP = {"adc_pin": (int, True), "ratio": ((int, float), True)}
_INA = {"addr": (int, False), "i_max_a": ((int, float), True), "fine_range": (bool, False), "sign": (int, False)}
_AFE = {
    "driver": (str, True),
    "i2c": (_I2C, False),
    "addr": (int, False),
    "crc": (bool, False),
    "channels": (list, False),  # bq76952: VC inputs wired to cells, bottom first
    "ts": (list, False),  # bq76952: TS pins with cell thermistors
    "current_lsb_a": ((int, float), False),  # bq76952: the user-amps unit of CC2 (DA Configuration)
    "ina228": (_INA, False),  # discrete
    "ntc": (list, False),  # discrete: [_NTC]
    "taps": (list, False),  # discrete: [_TAP], cumulative tap voltages bottom first; absent: one cell on VBUS
    "bal_pins": (list, False),  # discrete: GPIO per cell
    "chg_pin": (int, False),
    "dsg_pin": (int, False),
}
_SWITCHES = {"active_high": (bool, False)}
_BOARD = {
    "name": (str, True),
    "description": (str, False),
    "mcu": (str, False),
    "afe": (_AFE, True),
    "n_cells": (int, False),  # the string on this board (a bench board: configured by the host instead)
    "preset": (str, False),  # the cell preset it starts with
    "r_shunt_ohm": ((int, float), False),
    "bal_r_ohm": ((int, float), True),  # balancing resistor per cell [Ohm]; 0: none
    "switches": (_SWITCHES, False),
    "sample_period_ms": (int, True),
}


def _check(d, schema, where):
    if not isinstance(d, dict):
        raise ValueError("%s must be an object" % where)
    for k in d:
        if k not in schema:
            raise ValueError("%s: unknown key %r (known: %s)" % (where, k, ", ".join(sorted(schema))))
    for k in schema:
        typ, required = schema[k]
        if k not in d:
            if required:
                raise ValueError("%s: missing %r" % (where, k))
            continue
        v = d[k]
        if isinstance(typ, dict):
            _check(v, typ, where + "." + k)
        elif isinstance(v, bool) and typ is not bool and not (isinstance(typ, tuple) and bool in typ):
            raise ValueError("%s.%s must be a number, not true/false" % (where, k))
        elif not isinstance(v, typ):
            raise ValueError("%s.%s has the wrong type" % (where, k))


def validate(d):
    """The board dict, checked: ValueError naming the key on anything unknown, missing or out of range."""
    _check(d, _BOARD, "board")
    a = d["afe"]
    drv = a["driver"]
    if drv not in DRIVERS:
        raise ValueError("board.afe.driver %r is not one of %s" % (drv, ", ".join(DRIVERS)))
    if not 10 <= d["sample_period_ms"] <= 60000:
        raise ValueError("board.sample_period_ms must be 10..60000")
    if d["bal_r_ohm"] < 0:
        raise ValueError("board.bal_r_ohm must be >= 0 (0: no balancing resistors)")
    if drv != "injected":
        if "i2c" not in a:
            raise ValueError("board.afe: driver %s needs i2c" % drv)
        if not d.get("r_shunt_ohm", 0) > 0:
            raise ValueError("board.r_shunt_ohm must be > 0 for driver %s" % drv)
    if drv == "bq76952":
        ch = a.get("channels")
        if not ch or not 3 <= len(ch) <= 16 or len(set(ch)) != len(ch) or min(ch) < 1 or max(ch) > 16:
            raise ValueError("board.afe.channels: 3..16 distinct VC inputs in 1..16")
        for t in a.get("ts", []):
            if t not in (1, 2, 3):
                raise ValueError("board.afe.ts: TS pins are 1, 2, 3")
    if drv == "discrete":
        if "ina228" not in a:
            raise ValueError("board.afe: driver discrete needs ina228")
        for k, n in enumerate(a.get("ntc", [])):
            _check(n, _NTC, "board.afe.ntc[%d]" % k)
        for k, t in enumerate(a.get("taps", [])):
            _check(t, _TAP, "board.afe.taps[%d]" % k)
    return d


def load(path):
    with open(path) as f:
        try:
            d = json.load(f)
        except ValueError as e:
            raise ValueError("%s: not valid JSON: %s" % (path, e))
    return validate(d)
