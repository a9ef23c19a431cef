# The operating state machine: one transition table, evaluated once per sample (and on a link timeout or an
# authenticated clear). The state drives the charge-enable and discharge-enable outputs.
#
#   INIT     no trusted sample yet                       both paths off
#   STANDBY  trusted, |i| at rest                        paths as the protections allow
#   CHARGE / DISCHARGE   current flowing                 paths as the protections allow
#   BALANCE  at rest with balancing resistors on         paths as the protections allow
#   HOLD     inputs untrusted (bms.core.diag)            both paths off; left by itself after the debounce
#   FAULT    safety floor breached (latched, persisted)  both paths off; left only by an authenticated
#                                                        clear once the condition is gone
from bms.compat import const

INIT = const(0)
STANDBY = const(1)
CHARGE = const(2)
DISCHARGE = const(3)
BALANCE = const(4)
HOLD = const(5)
FAULT = const(6)
NAMES = ("init", "standby", "charge", "discharge", "balance", "hold", "fault")

# conditions, evaluated as a bit set
C_FLOOR = const(1)  # a reading beyond the safety floor stands (or a latched fault was restored)
C_UNTRUSTED = const(2)  # the inputs are not trusted (a HOLD fault stands)
C_CLEARED = const(4)  # an authenticated clear arrived and no floor condition stands
C_CHARGING = const(8)
C_DISCHARGING = const(16)
C_BLEEDING = const(32)  # a balancing resistor is on
C_TRUSTED = const(64)  # a sample was accepted and the inputs are trusted

ANY = const(-1)
# (from, condition bits that must all be set, condition bits that must all be clear, to): first match wins
TABLE = (
    (ANY, C_FLOOR, 0, FAULT),
    (FAULT, C_CLEARED, C_FLOOR, STANDBY),
    (FAULT, 0, 0, FAULT),
    (ANY, C_UNTRUSTED, 0, HOLD),
    (INIT, C_TRUSTED, 0, STANDBY),
    (HOLD, C_TRUSTED, 0, STANDBY),
    (STANDBY, C_CHARGING, 0, CHARGE),
    (STANDBY, C_DISCHARGING, 0, DISCHARGE),
    (STANDBY, C_BLEEDING, 0, BALANCE),
    (CHARGE, C_DISCHARGING, 0, DISCHARGE),
    (CHARGE, C_TRUSTED, C_CHARGING, STANDBY),
    (DISCHARGE, C_CHARGING, 0, CHARGE),
    (DISCHARGE, C_TRUSTED, C_DISCHARGING, STANDBY),
    (BALANCE, C_CHARGING, 0, CHARGE),
    (BALANCE, C_DISCHARGING, 0, DISCHARGE),
    (BALANCE, C_TRUSTED, C_BLEEDING, STANDBY),
)


def next_state(state, cond):
    for row in TABLE:
        if (row[0] == ANY or row[0] == state) and cond & row[1] == row[1] and not cond & row[2]:
            return row[3]
    return state


def paths_may_close(state):
    """Whether the state lets the protections' limits through at all (else both paths are off)."""
    return STANDBY <= state <= BALANCE
