# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv by itself, once.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: all demo test test-all firmware-check system-deps bench bench-campaigns bench-outside campaign mcu-image clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,cyclers]'
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

# The estimator and detectors on independent physics (PyBaMM, a bench extra): fit, replay, leaks. The recordings are
# simulated once (a few minutes on 2 cores) and cached under build/pybamm/.
bench-outside: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/outside_data.py

# Time to detect a soft short against its resistance on Dask, on 1 worker and on every core (docs/bench.md).
campaign: $(STAMP)
	$(PY) -m host.cli campaign soft_short_resistance --scaling

# MicroPython for the emulated Cortex-M3 (hil/qemu.py) from source, for machines without ../shared/mcu: needs
# network, gcc-arm-none-eabi and libnewlib-arm-none-eabi (tools/system-deps.sh). Writes build/mcu/*.elf, where
# hil/qemu.py looks when NABMS_MCU_DIR is unset. Never committed (build/ is ignored).
MPY_COMMIT := 1c3c201149f37fe8d81246191b3127bb198d6306
mcu-image:
	@command -v arm-none-eabi-gcc >/dev/null || { echo "mcu-image: arm-none-eabi-gcc missing (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"; exit 1; }
	rm -rf build/mpsrc && mkdir -p build/mpsrc build/mcu
	curl -fsSL https://github.com/micropython/micropython/archive/$(MPY_COMMIT).tar.gz | tar -xz -C build/mpsrc --strip-components=1
	$(MAKE) -C build/mpsrc/mpy-cross -j2
	$(MAKE) -C build/mpsrc/ports/qemu -j2 BOARD=MPS2_AN385 FROZEN_MANIFEST=
	$(MAKE) -C build/mpsrc/ports/qemu -j2 BOARD=MPS2_AN500 FROZEN_MANIFEST=
	cp build/mpsrc/ports/qemu/build-MPS2_AN385/firmware.elf build/mcu/firmware-MPS2_AN385.elf
	cp build/mpsrc/ports/qemu/build-MPS2_AN500/firmware.elf build/mcu/firmware-MPS2_AN500.elf
	cp build/mpsrc/LICENSE build/mcu/LICENSE-micropython
	@echo "mcu-image: build/mcu/ (hil/qemu.py finds it when NABMS_MCU_DIR is unset)"

clean:
	rm -rf build runs .pytest_cache
