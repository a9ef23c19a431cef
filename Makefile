# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv by itself, once.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: all demo test test-all firmware-check system-deps bench bench-campaigns campaign clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# qemu + Debian's micro:bit MicroPython for the emulated-MCU tests; best effort (root + apt).
system-deps:
	@bash tools/system-deps.sh

demo: $(STAMP)
	$(PY) -m hil.demo

test: $(STAMP) system-deps firmware-check
	$(PY) -m pytest -q

# Long campaigns and benchmarks too.
test-all: $(STAMP) system-deps firmware-check
	$(PY) -m pytest -q -m ''

firmware-check: $(STAMP)
	$(PY) -m host.deploy build/image
	$(VENV)/bin/pyright -p pyrightconfig.json

bench: $(STAMP)
	$(PY) bench/sim_throughput.py
	$(PY) bench/estimator_accuracy.py
	$(PY) bench/estimator_speed.py
	$(PY) bench/detection_score.py

# Detector campaigns beyond the suite (~10 min): dead sodium over 40 cycles in both suites (when each doubled loss
# becomes visible at the string's cut-off, truth, and when it is alarmed), and healthy strings cycled unlike the
# suite (1C/1C, 0.2C/0.3C, 0.5C with 10-min rests: false alarms).
bench-campaigns: $(STAMP)
	$(PY) bench/detection_score.py --only dead_sodium --dead-sodium-cycles 40 --per-fault
	$(PY) bench/detection_score.py --only dead_sodium --dead-sodium-cycles 40 --per-fault --seed 5000
	$(PY) bench/detection_score.py --other-cycling

# Time to detect a soft short against its resistance on Dask, on 1 worker and on every core (docs/bench.md).
campaign: $(STAMP)
	$(PY) -m host.cli campaign soft_short_resistance --scaling

clean:
	rm -rf build runs .pytest_cache
