"""The bench's link to the emulated micro:bit survives what a loaded emulator's UART does: dropped bytes."""

import pytest

from hil.microbit import Microbit, available

OK, WHY = available()
pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not OK, reason="emulated micro:bit unavailable: " + WHY)]


class DropsOnce(Microbit):
    """Drops `drop` from the first chunk sent that contains it, as an overrun UART FIFO loses a run of bytes."""

    def __init__(self, drop, **kw):
        self.drop = drop
        self.dropped = 0
        super().__init__(**kw)

    def _send(self, data):
        if not self.dropped and self.drop in data:
            data = data.replace(self.drop, b"", 1)
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
