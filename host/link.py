# The link lives with the closed loop (hil), which needs it; host tools use it from there (host depends on hil).
from hil.link import BoardLink, Event, LinkError  # noqa: F401
