"""Sensor model: what a BMS front end would read from the simulated pack.

    sensors = SensorModel(seed=0, v_noise_v=1e-3, i_noise_a=5e-3, i_gain=0.002,
                          i_offset_a=0.01, t_noise_c=0.2, adc_bits=16, faults=[...])
    v_meas, i_meas, t_meas = sensors.measure(t_s, i_a, st)

Returns cell voltages (n,), the string current (float) and cell temperatures
(n,).  Readings:  ``x_meas = quantise((x_true + offset) * (1 + gain) + noise)``.

Keywords (defaults): ``v_noise_v`` (1 mV rms), ``v_offset_v`` / ``v_gain``
(per-cell systematic errors are drawn once with these standard deviations,
0 / 0), ``i_noise_a`` (5 mA rms), ``i_gain`` (0, relative), ``i_offset_a`` (0),
``t_noise_c`` (0.2 degC), ``t_offset_c`` (per-cell std, 0), ``adc_bits``
(None = no quantisation), ``v_range_v`` (0..5 V), ``i_range_a`` (+/-50 A),
``t_range_c`` (-40..+120 degC), ``sample_period_s`` (0 = a fresh sample at
every call; otherwise readings are held between sample instants).

Sensor faults (``faults=[{...}]``), each with ``kind``, ``t_start_s`` (0),
optional ``t_end_s`` and, except for the current sensor, ``cell``:

=================  =======================================================
kind               effect
=================  =======================================================
``stuck``          ``signal`` "v" | "t" | "i": the reading freezes at its value
                   at onset (label ``sensor_stuck``)
``open_wire``      the cell's voltage sense wire opens: ``mode`` "zero" (reads
                   0 V) or "float" (the tap floats: this cell reads v + d, the
                   next cell v - d, d a slow random walk)
                   (label ``sensor_open_wire``)
``nan``            ``signal`` "v" | "t" | "i" reads NaN (label ``sensor_nan``)
``offset``         ``signal``, ``value`` added (label ``sensor_offset``)
``gain``           ``signal``, ``value`` relative gain error (label ``sensor_gain``)
=================  =======================================================

Labels are kept in ``sensors.labels`` and also appended to the pack's label
list (``st.labels``) when a fault first takes effect.
"""

import math

import numpy as np

_KINDS = ("stuck", "open_wire", "nan", "offset", "gain")
_SIGNALS = ("v", "t", "i")


class SensorModel:
    def __init__(self, seed=0, v_noise_v=1e-3, i_noise_a=5e-3, i_gain=0.0, i_offset_a=0.0,
                 t_noise_c=0.2, adc_bits=None, faults=(), v_offset_v=0.0, v_gain=0.0,
                 t_offset_c=0.0, v_range_v=(0.0, 5.0), i_range_a=(-50.0, 50.0),
                 t_range_c=(-40.0, 120.0), sample_period_s=0.0):
        for name, val in (("v_noise_v", v_noise_v), ("i_noise_a", i_noise_a),
                          ("t_noise_c", t_noise_c), ("v_offset_v", v_offset_v),
                          ("v_gain", v_gain), ("t_offset_c", t_offset_c),
                          ("sample_period_s", sample_period_s)):
            if not (math.isfinite(val) and val >= 0):
                raise ValueError("%s must be a finite value >= 0, got %r" % (name, val))
        if adc_bits is not None and not (isinstance(adc_bits, int) and 4 <= adc_bits <= 32):
            raise ValueError("adc_bits must be None or an int in 4..32, got %r" % (adc_bits,))
        self.rng = np.random.default_rng(seed)
        self.v_noise_v, self.i_noise_a, self.t_noise_c = v_noise_v, i_noise_a, t_noise_c
        self.i_gain, self.i_offset_a = float(i_gain), float(i_offset_a)
        self._v_offset_std, self._v_gain_std, self._t_offset_std = v_offset_v, v_gain, t_offset_c
        self.adc_bits = adc_bits
        self.v_range_v, self.i_range_a, self.t_range_c = v_range_v, i_range_a, t_range_c
        self.sample_period_s = sample_period_s
        self.faults = [self._validate(f) for f in (faults or ())]
        self.labels = []
        self._n = None
        self._last = None
        self._next_sample_t = -math.inf

    @staticmethod
    def _validate(f):
        if not isinstance(f, dict) or f.get("kind") not in _KINDS:
            raise ValueError("sensor fault must be a dict with kind in %s, got %r" % (_KINDS, f))
        f = dict(f)
        f.setdefault("t_start_s", 0.0)
        f.setdefault("t_end_s", None)
        kind = f["kind"]
        if kind == "open_wire":
            f.setdefault("mode", "zero")
            f["signal"] = "v"
            if f["mode"] not in ("zero", "float"):
                raise ValueError("open_wire mode must be 'zero' or 'float', got %r" % (f["mode"],))
        else:
            f.setdefault("signal", "v")
            if f["signal"] not in _SIGNALS:
                raise ValueError("sensor fault signal must be one of %s, got %r" % (_SIGNALS, f["signal"]))
        if f["signal"] != "i" and not isinstance(f.get("cell"), int):
            raise ValueError("sensor fault %s on %s needs an int 'cell'" % (kind, f["signal"]))
        if kind in ("offset", "gain") and not isinstance(f.get("value"), (int, float)):
            raise ValueError("sensor fault %s needs a numeric 'value'" % kind)
        f["_active"] = False
        f["_held"] = None
        f["_drift"] = 0.0
        return f

    def _setup(self, n):
        self._n = n
        self._v_off = self._v_offset_std * self.rng.standard_normal(n)
        self._v_gain = self._v_gain_std * self.rng.standard_normal(n)
        self._t_off = self._t_offset_std * self.rng.standard_normal(n)
        for f in self.faults:
            if f["signal"] != "i" and not 0 <= f["cell"] < n:
                raise ValueError("sensor fault cell %r outside 0..%d" % (f["cell"], n - 1))

    def _quantise(self, x, rng_):
        if self.adc_bits is None:
            return x
        lo, hi = rng_
        lsb = (hi - lo) / (2 ** self.adc_bits - 1)
        return np.clip(np.round((np.asarray(x) - lo) / lsb) * lsb + lo, lo, hi)

    def measure(self, t_s, i_a, st):
        """Readings (v_meas (n,), i_meas float, t_meas (n,)) of the true state st at time t_s."""
        n = len(st.v_cell)
        if self._n != n:
            self._setup(n)
        if self._last is not None and t_s < self._next_sample_t:
            v, i, t = self._last
            return v.copy(), i, t.copy()
        if self.sample_period_s > 0:
            self._next_sample_t = t_s + self.sample_period_s - 1e-9
        rng = self.rng
        v = (st.v_cell + self._v_off) * (1.0 + self._v_gain)
        v = v + self.v_noise_v * rng.standard_normal(n)
        i = (float(i_a) + self.i_offset_a) * (1.0 + self.i_gain)
        i += self.i_noise_a * rng.standard_normal()
        t = st.t_c + self._t_off + self.t_noise_c * rng.standard_normal(n)
        sig = {"v": v, "t": t, "i": np.array([i])}
        for f in self.faults:
            self._apply(f, t_s, sig, st)
        v = self._quantise(sig["v"], self.v_range_v)
        t = self._quantise(sig["t"], self.t_range_c)
        i = float(self._quantise(sig["i"], self.i_range_a)[0])
        # NaN survives quantisation; restore it where a fault set it.
        v = np.where(np.isnan(sig["v"]), np.nan, v)
        t = np.where(np.isnan(sig["t"]), np.nan, t)
        if math.isnan(sig["i"][0]):
            i = math.nan
        self._last = (v, i, t)
        return v.copy(), i, t.copy()

    def _apply(self, f, t_s, sig, st):
        active = t_s >= f["t_start_s"] and (f["t_end_s"] is None or t_s < f["t_end_s"])
        if not active:
            f["_active"] = False
            return
        arr = sig[f["signal"]]
        idx = 0 if f["signal"] == "i" else f["cell"]
        if not f["_active"]:
            f["_active"] = True
            f["_held"] = arr[idx]
            self._label(f, st)
        kind = f["kind"]
        if kind == "stuck":
            arr[idx] = f["_held"]
        elif kind == "nan":
            arr[idx] = np.nan
        elif kind == "offset":
            arr[idx] += f["value"]
        elif kind == "gain":
            arr[idx] *= 1.0 + f["value"]
        elif kind == "open_wire":
            if f["mode"] == "zero":
                arr[idx] = 0.0
            else:
                # The floating tap wanders; the two readings that share it stay summed.
                f["_drift"] = float(np.clip(f["_drift"] + 0.05 * self.rng.standard_normal(), -1.5, 1.5))
                arr[idx] += f["_drift"]
                if idx + 1 < len(arr):
                    arr[idx + 1] -= f["_drift"]

    def _label(self, f, st):
        if f.get("_labelled"):
            return
        f["_labelled"] = True
        lab = {"cell": -1 if f["signal"] == "i" else int(f["cell"]), "kind": "sensor_" + f["kind"],
               "t_start_s": float(f["t_start_s"]),
               "t_end_s": None if f["t_end_s"] is None else float(f["t_end_s"]),
               "magnitude": float(f.get("value", 0.0)), "unit": f["signal"], "source": "injected"}
        self.labels.append(lab)
        sink = getattr(st, "labels", None)
        if sink is not None:
            sink.append(dict(lab))
