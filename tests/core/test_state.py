"""Every operation state transition, allowed or not, from one table."""

from __future__ import annotations

import itertools

import pytest

from engine.common.errors import InvalidStateError
from engine.operation.state import TERMINAL_STATES, OperationState, check_transition

S = OperationState
ALLOWED = {
    (S.INITIALIZED, S.PENDING),
    (S.INITIALIZED, S.RUNNING),
    (S.INITIALIZED, S.FINISHED),
    (S.INITIALIZED, S.CANCELED),
    (S.INITIALIZED, S.CLOSED),
    (S.INITIALIZED, S.ERROR),
    (S.INITIALIZED, S.TIMEDOUT),
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.FINISHED),
    (S.PENDING, S.CANCELED),
    (S.PENDING, S.CLOSED),
    (S.PENDING, S.ERROR),
    (S.PENDING, S.TIMEDOUT),
    (S.RUNNING, S.FINISHED),
    (S.RUNNING, S.CANCELED),
    (S.RUNNING, S.CLOSED),
    (S.RUNNING, S.ERROR),
    (S.RUNNING, S.TIMEDOUT),
    (S.FINISHED, S.CLOSED),
    (S.CANCELED, S.CLOSED),
    (S.TIMEDOUT, S.CLOSED),
    (S.ERROR, S.CLOSED),
}


@pytest.mark.parametrize("current,new", list(itertools.product(OperationState, OperationState)))
def test_transition_table(current: OperationState, new: OperationState) -> None:
    if (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidStateError, match=f"{current.name} -> {new.name}"):
            check_transition(current, new)


def test_wire_values_match_toperationstate() -> None:
    assert [state.value for state in OperationState] == list(range(9))
    assert OperationState.TIMEDOUT == 8 and OperationState.PENDING == 7
    assert TERMINAL_STATES == {S.FINISHED, S.CANCELED, S.CLOSED, S.ERROR, S.TIMEDOUT}
