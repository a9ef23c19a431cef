"""Property-based tests (hypothesis): the frame decoder and CONFIG validation never raise anything but a counted
rejection or a ValueError naming the field; HMAC agrees with CPython's hmac module."""

import hmac as py_hmac
import hashlib
import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bms.comm import protocol as pr
from bms.comm.auth import Auth, Hmac, config_requests
from bms.comm.service import Session, handle_frame
from bms.core.app import Bms
from bms.core import floor

KEY = bytes(range(32))


@given(st.binary(max_size=3000))
@settings(max_examples=400, deadline=None)
def test_any_bytes_give_only_valid_frames_or_counted_rejections(data):
    reader = pr.FrameReader()
    got = reader.feed(data + b"\x00")
    zeros = (data + b"\x00").count(0)
    # every delimited chunk is either one good frame, one counted rejection, or an empty idle delimiter
    assert len(got) + sum(reader.stats[1:5]) <= zeros
    for t, s, p in got:
        assert 0 <= t < 256 and 0 <= s < 256 and len(p) <= pr.MAX_FRAME - 5


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=pr.MAX_FRAME - 5))
@settings(max_examples=300, deadline=None)
def test_encode_decode_round_trip(msg_type, seq, payload):
    (t, s, p), = pr.FrameReader().feed(pr.encode_frame(msg_type, seq, payload))
    assert (t, s, p) == (msg_type, seq, payload)


_SHARED = Bms(n_cells=2)  # one board takes every hostile frame in turn, as a real one would


@given(st.integers(0, 255), st.binary(max_size=600))
@settings(max_examples=500, deadline=None)
def test_a_valid_frame_with_any_payload_never_escapes_the_handler(msg_type, payload):
    out = []
    handle_frame(_SHARED, msg_type, 1, payload, lambda t, s, p: out.append((t, p)), Session(Auth(KEY)))
    assert out  # every request is answered
    for t, p in out:
        if t == pr.NACK:
            assert len(p) <= 2 + pr.MAX_DETAIL


_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


@given(st.integers(0, 255), _FLOATS, _FLOATS, st.sampled_from(["nvp-mg-naf", "layered-oxide-bare-cu", "nope", ""]))
@settings(max_examples=60, deadline=None)
@example(4, math.nan, math.inf, "nvp-mg-naf")  # found by hypothesis: inf was taken as "not given" (only NaN is)
@example(4, -math.inf, math.nan, "nvp-mg-naf")
def test_config_validation_accepts_exactly_the_sane_ones(n, soc0, sigma, doc):
    bms = Bms()
    reqs = config_requests(Hmac(KEY), 1, n, doc.encode(), soc0, sigma)
    session = Session(Auth(KEY))
    out = []
    for t, p in reqs:
        handle_frame(bms, t, 1, p, lambda t, s, p: out.append((t, p)), session)
    sane = (1 <= n <= pr.MAX_CELLS and doc in ("nvp-mg-naf", "layered-oxide-bare-cu") and (math.isnan(soc0) or 0 <= soc0 <= 1)
            and (math.isnan(sigma) or 0.01 <= sigma <= 0.5))
    if sane:
        assert out[-1][0] == pr.ACK and bms.n_cells == n
    else:
        assert out[-1][0] == pr.NACK and bms.n_cells == 1 and bms.config_version == 1
        detail = pr.unpack_nack(out[-1][1])[2]
        assert ":" in detail  # "field: rule"


@given(st.dictionaries(st.sampled_from(["v_max", "v_min", "t_max_c", "t_min_c", "i_chg_max_a", "i_dis_max_a", "q_ah"]),
                       st.floats(-100, 100)))
@settings(max_examples=300, deadline=None)
def test_no_accepted_parameter_set_reaches_beyond_the_floor(over):
    from bms.config import cell

    p = cell.preset("nvp-mg-naf")
    p.update(over)
    try:
        cell.validate(p)
        f = floor.check_config(p)
    except ValueError as e:
        assert str(e)
        return
    assert p["v_max"] + floor.TRIP_MARGIN_V <= f[floor.V_MAX] and p["v_min"] - 0.2 >= f[floor.V_MIN]
    assert f[floor.T_MIN] <= p["t_min_c"] and p["t_max_c"] <= f[floor.T_MAX]
    assert p["i_chg_max_a"] <= f[floor.I_CHG_C] * p["q_ah"] and p["i_dis_max_a"] <= f[floor.I_DIS_C] * p["q_ah"]


@given(st.binary(min_size=1, max_size=200), st.lists(st.binary(max_size=300), max_size=4))
@settings(max_examples=300, deadline=None)
def test_hmac_matches_cpython(key, parts):
    assert Hmac(key).digest(*parts) == py_hmac.new(key, b"".join(parts), hashlib.sha256).digest()
