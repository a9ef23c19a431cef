"""The bench's link to the emulated micro:bit survives what a loaded emulator's UART does: dropped bytes."""

import pytest

from hil.microbit import Microbit, available

OK, WHY = available()
pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not OK, reason="emulated micro:bit unavailable: " + WHY)]


class DropsOnce(Microbit):
    """The first time `drop` is sent, it arrives as `drop_to` (default: nothing), as an overrun UART FIFO loses
    a run of bytes."""

    def __init__(self, drop, **kw):
        self.drop = drop
        self.drop_to = b""
        self.dropped = 0
        super().__init__(**kw)

    def _send(self, data):
        if not self.dropped and self.drop in data:
            data = data.replace(self.drop, self.drop_to, 1)
            self.dropped += 1
        super()._send(data)


def test_a_file_piece_garbled_into_other_python_is_written_again():
    # "f.write('...')" losing ".write" arrives as "f('...')": valid Python that fails on the board with
    # TypeError: 'TextIO' object is not callable. The file is written again and reads back whole
    text = "x = 1\n" * 60  # two pieces of 200 characters and a bit
    with DropsOnce(b".write") as mb:
        assert mb.write_file("t.py", text, strip=False, piece=200) == len(text)
        assert mb.dropped == 1
        assert mb.exec("import t\nprint(t.x)").strip() == "1"


def test_a_parameter_garbled_into_another_value_is_sent_again():
    # "p['r0_ohm'] = 0.14" losing a "1" arrives as "p['r0_ohm'] = 0.4": valid Python, a wrong resistance that
    # nothing would flag. send_core_params reads each key back and sends it again
    import sys
    from pathlib import Path

    from bms.config import cell as cellparams

    sys.path.insert(0, str(Path(__file__).parent / "mpy"))
    import est_microbit

    p = cellparams.preset("nvp-bare-cu")
    assert repr(p["r0_ohm"]) == "0.14"
    with DropsOnce(b"['r0_ohm'] = 0.1") as mb:
        mb.drop_to = b"['r0_ohm'] = 0."
        est_microbit.send_core_params(mb, p)
        assert mb.dropped == 1
        assert abs(float(mb.exec("print(p['r0_ohm'])")) - 0.14) < 1e-6
        assert abs(float(mb.exec("print(p['tau1_s'])")) - p["tau1_s"]) < 1e-6
