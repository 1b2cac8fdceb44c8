"""Session and operation handles: a 16-byte guid and a 16-byte secret, as in HiveServer2."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


def _random16() -> bytes:
    return uuid.uuid4().bytes


@dataclass(frozen=True)
class Handle:
    guid: bytes = field(default_factory=_random16)
    secret: bytes = field(default_factory=_random16)

    @property
    def id(self) -> str:
        return str(uuid.UUID(bytes=self.guid)) if len(self.guid) == 16 else self.guid.hex()

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class SessionHandle(Handle):
    pass


class OperationType(enum.IntEnum):
    """``TOperationType`` values."""

    EXECUTE_STATEMENT = 0
    GET_TYPE_INFO = 1
    GET_CATALOGS = 2
    GET_SCHEMAS = 3
    GET_TABLES = 4
    GET_TABLE_TYPES = 5
    GET_COLUMNS = 6
    GET_FUNCTIONS = 7
    UNKNOWN = 8


@dataclass(frozen=True)
class OperationHandle(Handle):
    op_type: OperationType = OperationType.EXECUTE_STATEMENT
    has_result_set: bool = True
