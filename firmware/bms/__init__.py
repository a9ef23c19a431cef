# nabms firmware package: runs unchanged on MicroPython boards and on CPython (host, tests, simulation).
VERSION = "0.2.0"
