# Event vocabulary shared by firmware detectors, protections, the protocol and the host.
from bms.compat import const

# severities (foxBMS-style levels: only CRITICAL switches charging off by itself)
INFO = const(0)
WARNING = const(1)
ALARM = const(2)
CRITICAL = const(3)
SEVERITY_NAMES = ("info", "warning", "alarm", "critical")

# plating-anomaly detectors
SOFT_SHORT = const(1)
DENDRITE = const(2)
DEAD_SODIUM = const(3)
NUCLEATION = const(4)
STRIPPING_VOID = const(5)
MODEL_MISMATCH = const(6)
# protections and plausibility
OVER_VOLTAGE = const(16)
UNDER_VOLTAGE = const(17)
OVER_CURRENT_CHARGE = const(18)
OVER_CURRENT_DISCHARGE = const(19)
OVER_TEMPERATURE = const(20)
UNDER_TEMPERATURE_CHARGE = const(21)
SENSOR_INVALID = const(22)  # NaN/inf reading
OPEN_WIRE = const(23)  # cell voltage outside physical plausibility
# input diagnosis (bms.core.diag): the event's cell byte names the channel (CH_* below)
SENSOR_IMPLAUSIBLE = const(24)  # a temperature outside physical plausibility
SENSOR_MISSING = const(25)  # no temperature, or fewer readings than channels
SENSOR_STUCK = const(26)  # no change beyond noise for diag's stuck time while current flows
CURRENT_RANGE = const(27)  # current beyond the sensor's range
TIME_PAST = const(28)  # sample stamped at or before the last one (u32 wrap-safe)
TIME_AHEAD = const(29)  # sample stamped too far after the last one
LINK_TIMEOUT = const(30)  # no SAMPLE for the configured time
FLOOR_BREACH = const(31)  # a reading beyond the compiled safety floor: FAULT latches
FAULT_CLEARED = const(32)  # an authenticated clear left FAULT
INPUTS_TRUSTED = const(33)  # sane data for the debounce time after an input fault

# channels: the event's cell byte for input faults
CH_TEMP0 = const(0x40)  # temperature sensor k is CH_TEMP0 + k (cells are 0..MAX_CELLS-1 < 0x40)
CH_LINK = const(0xFC)
CH_TIME = const(0xFD)
CH_CURRENT = const(0xFE)
CH_STRING = const(0xFF)

KIND_NAMES = {
    SOFT_SHORT: "soft_short",
    DENDRITE: "dendrite",
    DEAD_SODIUM: "dead_sodium",
    NUCLEATION: "nucleation",
    STRIPPING_VOID: "stripping_void",
    MODEL_MISMATCH: "model_mismatch",
    OVER_VOLTAGE: "over_voltage",
    UNDER_VOLTAGE: "under_voltage",
    OVER_CURRENT_CHARGE: "over_current_charge",
    OVER_CURRENT_DISCHARGE: "over_current_discharge",
    OVER_TEMPERATURE: "over_temperature",
    UNDER_TEMPERATURE_CHARGE: "under_temperature_charge",
    SENSOR_INVALID: "sensor_invalid",
    OPEN_WIRE: "open_wire",
    SENSOR_IMPLAUSIBLE: "sensor_implausible",
    SENSOR_MISSING: "sensor_missing",
    SENSOR_STUCK: "sensor_stuck",
    CURRENT_RANGE: "current_range",
    TIME_PAST: "time_past",
    TIME_AHEAD: "time_ahead",
    LINK_TIMEOUT: "link_timeout",
    FLOOR_BREACH: "floor_breach",
    FAULT_CLEARED: "fault_cleared",
    INPUTS_TRUSTED: "inputs_trusted",
}


def channel_name(ch):
    """'cell 3', 'temperature 0', 'current', 'time', 'link' or 'string' for an event's cell byte."""
    if ch == CH_STRING:
        return "string"
    if ch == CH_CURRENT:
        return "current"
    if ch == CH_TIME:
        return "time"
    if ch == CH_LINK:
        return "link"
    if ch >= CH_TEMP0:
        return "temperature %d" % (ch - CH_TEMP0)
    return "cell %d" % ch
