"""The state machine (bms.core.state): one test per transition, named test_<from>2<to>_if_<condition>, generated from
the list below; a check that the list covers every row of the table; and the transitions seen through Bms."""

import math

from bms.comm import protocol as pr
from bms.core import state as sm
from bms.core.app import Bms

S = {name: k for k, name in enumerate(sm.NAMES)}
RUNNING = ("standby", "charge", "discharge", "balance")

# (from, to, condition name, condition bits)
TRANSITIONS = [(f, "fault", "floor", sm.C_FLOOR) for f in ("init", "hold") + RUNNING] + [
    ("fault", "standby", "cleared", sm.C_CLEARED | sm.C_TRUSTED),
    ("fault", "fault", "cleared_while_floor_stands", sm.C_CLEARED | sm.C_FLOOR),
    ("fault", "fault", "trusted_without_clear", sm.C_TRUSTED),
] + [(f, "hold", "untrusted", sm.C_UNTRUSTED | sm.C_CHARGING) for f in ("init",) + RUNNING] + [
    ("init", "standby", "trusted", sm.C_TRUSTED),
    ("hold", "standby", "trusted", sm.C_TRUSTED | sm.C_CHARGING),
    ("standby", "charge", "charging", sm.C_TRUSTED | sm.C_CHARGING),
    ("standby", "discharge", "discharging", sm.C_TRUSTED | sm.C_DISCHARGING),
    ("standby", "balance", "bleeding", sm.C_TRUSTED | sm.C_BLEEDING),
    ("standby", "standby", "resting", sm.C_TRUSTED),
    ("charge", "discharge", "discharging", sm.C_TRUSTED | sm.C_DISCHARGING),
    ("charge", "standby", "resting", sm.C_TRUSTED),
    ("discharge", "charge", "charging", sm.C_TRUSTED | sm.C_CHARGING),
    ("discharge", "standby", "resting", sm.C_TRUSTED | sm.C_BLEEDING),
    ("balance", "charge", "charging", sm.C_TRUSTED | sm.C_CHARGING | sm.C_BLEEDING),
    ("balance", "discharge", "discharging", sm.C_TRUSTED | sm.C_DISCHARGING),
    ("balance", "standby", "balanced", sm.C_TRUSTED),
    ("balance", "balance", "bleeding", sm.C_TRUSTED | sm.C_BLEEDING),
]


def _make(frm, to, cond):
    def test():
        assert sm.NAMES[sm.next_state(S[frm], cond)] == to

    return test


for _frm, _to, _name, _cond in TRANSITIONS:
    globals()["test_%s2%s_if_%s" % (_frm, _to, _name)] = _make(_frm, _to, _cond)


def test_every_row_of_the_table_is_exercised():
    used = set()
    for frm, to, name, cond in TRANSITIONS:
        for k, row in enumerate(sm.TABLE):
            if (row[0] == sm.ANY or row[0] == S[frm]) and cond & row[1] == row[1] and not cond & row[2]:
                used.add(k)
                break
    assert used == set(range(len(sm.TABLE)))


def test_only_running_states_let_current_through():
    assert [n for n in sm.NAMES if sm.paths_may_close(S[n])] == list(RUNNING)


def test_the_estimate_carries_the_state_through_a_cycle():
    bms = Bms(soc0=0.5)
    seen = []
    t = 0
    for i_a, v in [(0.0, 3.40)] * 2 + [(0.5, 3.42)] * 2 + [(-1.0, 3.38)] * 2 + [(math.nan, 3.4)] + [(0.0, 3.40)] * 3:
        t += 1000
        bms.on_sample(t, i_a, [v], [25.0])
        seen.append(sm.NAMES[pr.unpack_estimate(bms.estimate_payload())["state"]])
    assert seen == ["standby"] * 2 + ["charge"] * 2 + ["discharge"] * 2 + ["hold"] * 3 + ["standby"]
