#!/usr/bin/env bash
# Installs, when missing: the emulated-MCU runtime (qemu-system-arm + Debian's micro:bit MicroPython) and a headless
# browser for the report test (chromium + chromium-driver). Best effort: without root or apt the tests that need them
# skip with a message that says so.
fw=/usr/share/firmware-microbit-micropython/firmware.hex
want=()
if ! command -v qemu-system-arm >/dev/null 2>&1 || [ ! -f "$fw" ]; then want+=(qemu-system-arm firmware-microbit-micropython); fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then want+=(chromium chromium-driver); fi
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; tests needing ${want[*]} will be skipped" >&2; exit 0
fi
echo "system-deps: installing ${want[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null 2>&1 \
  || echo "system-deps: apt-get install failed; tests needing ${want[*]} will be skipped" >&2
exit 0
