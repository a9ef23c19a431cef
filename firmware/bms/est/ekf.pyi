# Type stub for pyright: SocEkf's state is set by bms.est.kalman.init (outside the class, so that the module the
# micro:bit compiles last stays small). Not deployed (host/deploy copies .py only).
from bms.est.model import CellModel

class SocEkf:
    m: CellModel
    x: list[float]  # [soc, v1, h, b]
    P: list[float]  # 4x4 row-major
    d: list[float]
    c: list[float]
    H: list[float]
    K: list[float]
    U: list[float]
    q: tuple[float, float, float, float, float]
    x_hi: tuple[float, float, float, float]
    r: float
    ri: float
    gate: float
    tau_r: float
    v_pred: float
    y: float
    S: float
    R: float
    nis: float
    r_scale: float
    n_rejected: int
    def __init__(self, p: dict, soc0: float | None, v: float | None = ...) -> None: ...
    def predict(self, dt: float, i: float, t_c: float, q_ah: float) -> float: ...
    def update(self, y: float, R: float, H: tuple[float, ...] | list[float], n: int = ...) -> float: ...
    def step(self, dt: float, i: float, v: float, t_c: float, q_ah: float) -> bool: ...
