# The plots live with the closed loop (hil); host tools use them from there (host depends on hil).
from hil.plots import plot_recording  # noqa: F401
