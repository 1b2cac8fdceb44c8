"""The operation state machine, with Hive's ``TOperationState`` values.

Allowed transitions are one explicit table; anything else raises InvalidStateError.
"""

from __future__ import annotations

import enum

from engine.common.errors import InvalidStateError


class OperationState(enum.IntEnum):
    INITIALIZED = 0
    RUNNING = 1
    FINISHED = 2
    CANCELED = 3
    CLOSED = 4
    ERROR = 5
    UNKNOWN = 6
    PENDING = 7
    TIMEDOUT = 8

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        OperationState.FINISHED,
        OperationState.CANCELED,
        OperationState.CLOSED,
        OperationState.ERROR,
        OperationState.TIMEDOUT,
    }
)

S = OperationState
TRANSITIONS: dict[OperationState, frozenset[OperationState]] = {
    S.INITIALIZED: frozenset({S.PENDING, S.RUNNING, S.FINISHED, S.CANCELED, S.CLOSED, S.ERROR, S.TIMEDOUT}),
    S.PENDING: frozenset({S.RUNNING, S.FINISHED, S.CANCELED, S.CLOSED, S.ERROR, S.TIMEDOUT}),
    S.RUNNING: frozenset({S.FINISHED, S.CANCELED, S.CLOSED, S.ERROR, S.TIMEDOUT}),
    S.FINISHED: frozenset({S.CLOSED}),
    S.CANCELED: frozenset({S.CLOSED}),
    S.TIMEDOUT: frozenset({S.CLOSED}),
    S.ERROR: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.UNKNOWN: frozenset(),
}


def check_transition(current: OperationState, new: OperationState) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidStateError(f"illegal operation state transition {current.name} -> {new.name}")
