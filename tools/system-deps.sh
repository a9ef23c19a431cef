#!/usr/bin/env bash
# Installs the emulated-MCU runtime (qemu-system-arm + Debian's micro:bit MicroPython) when missing.
# Best effort: without root or apt the qemu tests skip with a message that says so.
fw=/usr/share/firmware-microbit-micropython/firmware.hex
if command -v qemu-system-arm >/dev/null 2>&1 && [ -f "$fw" ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; qemu micro:bit tests will be skipped" >&2; exit 0
fi
echo "system-deps: installing qemu-system-arm firmware-microbit-micropython" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1
apt-get install -y -qq --no-install-recommends qemu-system-arm firmware-microbit-micropython >/dev/null 2>&1 \
  || echo "system-deps: apt-get install failed; qemu micro:bit tests will be skipped" >&2
exit 0
