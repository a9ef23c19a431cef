# The two-slot store survives a power cut at every byte offset of a write, on the board's filesystem code (the
# unix port's) and on CPython.
import os

from bms.core import store as sto


def _dir():
    import time

    d = "/tmp/nabms-store-%d" % (time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1e6))
    try:
        os.mkdir(d)
    except OSError:
        pass
    return d + "/"


def _clean(prefix):
    for name in sto.SLOTS:
        try:
            os.remove(prefix + name)
        except OSError:
            pass


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_power_cut_at_every_byte_of_a_write_brings_back_the_last_good_state():
    prefix = _dir()
    try:
        old = {"n": 2, "doc": "nvp-mg-naf", "fault": None, "log": [[1, 3, 3, 1000, 2]]}
        new = {"n": 4, "doc": "nvp-bare-cu", "fault": [31, 0, 4], "log": []}
        st = sto.Store(prefix)
        st.save({"n": 1})
        st.save(old)
        target = st.paths[1 - st.slot]
        before = open(target, "rb").read()  # the older slot's content, about to be overwritten
        image = sto.encode(st.seq + 1, __import__("json").dumps(new).encode())
        tried = 0
        for k in range(len(image) + 1):
            for torn in (image[:k], image[:k] + before[k:]):  # truncated, or new bytes over old ones
                _write(target, torn)
                got = sto.Store(prefix).load()
                want = new if torn == image else old
                assert got == want, (k, got)
                tried += 1
        assert tried == 2 * (len(image) + 1)
        # after a cut the next save goes to the torn slot, never over the good one
        _write(target, image[:7])
        st2 = sto.Store(prefix)
        assert st2.load() == old
        st2.save(new)
        assert sto.Store(prefix).load() == new
    finally:
        _clean(prefix)


def test_a_cut_during_the_very_first_write_leaves_nothing_not_garbage():
    prefix = _dir()
    try:
        image = sto.encode(1, b'{"n": 1}')
        for k in range(len(image)):
            _write(prefix + sto.SLOTS[0], image[:k])
            assert sto.Store(prefix).load() is None
    finally:
        _clean(prefix)
