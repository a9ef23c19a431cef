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
SENSOR_INVALID = const(22)
OPEN_WIRE = const(23)

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
}
