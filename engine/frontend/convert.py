"""Thrift <-> domain conversions for handles, statuses, schemas and operation status.

Thrift structs stop here: everything below the frontend sees ``engine.common`` types only.
"""

from __future__ import annotations

from typing import Any

from engine.common.errors import EngineError, InvalidHandleError
from engine.common.handle import OperationHandle, OperationType, SessionHandle
from engine.common.types import ColumnSpec, HiveType, TableSchema
from engine.frontend.idl import TCLI, ThriftStruct
from engine.operation.operation import OperationStatus

GENERIC_ERROR = "internal error in the engine; see the engine log"

_TYPE_IDS: dict[HiveType, int] = {hive_type: getattr(TCLI.TTypeId, hive_type.value) for hive_type in HiveType}


def ok_status() -> ThriftStruct:
    return TCLI.TStatus(statusCode=TCLI.TStatusCode.SUCCESS_STATUS)


def error_status(error: BaseException) -> ThriftStruct:
    """The one place where errors become ``TStatus``."""
    if isinstance(error, EngineError):
        return TCLI.TStatus(
            statusCode=TCLI.TStatusCode.ERROR_STATUS,
            sqlState=error.sqlstate,
            errorCode=int(error.vendor_code),
            errorMessage=str(error),
        )
    return TCLI.TStatus(
        statusCode=TCLI.TStatusCode.ERROR_STATUS,
        sqlState="HY000",
        errorCode=EngineError.vendor_code,
        errorMessage=GENERIC_ERROR,
    )


# --- handles ----------------------------------------------------------------------------------
def _identifier(handle_id: ThriftStruct | None, what: str) -> tuple[bytes, bytes]:
    if handle_id is None or handle_id.guid is None or handle_id.secret is None:
        raise InvalidHandleError(f"missing {what} handle")
    guid, secret = handle_id.guid, handle_id.secret
    if isinstance(guid, str):
        guid = guid.encode("latin-1")
    if isinstance(secret, str):
        secret = secret.encode("latin-1")
    return bytes(guid), bytes(secret)


def session_handle(thandle: ThriftStruct | None) -> SessionHandle:
    if thandle is None:
        raise InvalidHandleError("missing session handle")
    guid, secret = _identifier(thandle.sessionId, "session")
    return SessionHandle(guid=guid, secret=secret)


def to_session_handle(handle: SessionHandle) -> ThriftStruct:
    return TCLI.TSessionHandle(sessionId=TCLI.THandleIdentifier(guid=handle.guid, secret=handle.secret))


def operation_handle(thandle: ThriftStruct | None) -> OperationHandle:
    if thandle is None:
        raise InvalidHandleError("missing operation handle")
    guid, secret = _identifier(thandle.operationId, "operation")
    try:
        op_type = OperationType(thandle.operationType)
    except (TypeError, ValueError):
        op_type = OperationType.UNKNOWN
    return OperationHandle(
        guid=guid, secret=secret, op_type=op_type, has_result_set=bool(thandle.hasResultSet)
    )


def to_operation_handle(handle: OperationHandle) -> ThriftStruct:
    return TCLI.TOperationHandle(
        operationId=TCLI.THandleIdentifier(guid=handle.guid, secret=handle.secret),
        operationType=int(handle.op_type),
        hasResultSet=bool(handle.has_result_set),
    )


# --- schema -----------------------------------------------------------------------------------
def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def metadata_arguments(req: ThriftStruct) -> dict[str, str | list[str] | None]:
    """A metadata request's fields but the session handle, as the backend's snake_case arguments
    (``catalogName`` -> ``catalog_name``, ``tableTypes`` -> ``table_types`` as a list)."""
    arguments: dict[str, str | list[str] | None] = {}
    for field in req.thrift_spec.values():
        name = field[1]
        if name == "sessionHandle":
            continue
        value = getattr(req, name)
        arguments[_snake(name)] = list(value) if isinstance(value, list | tuple) else value
    return arguments


def _qualifiers(column: ColumnSpec) -> ThriftStruct | None:
    values: dict[str, Any] = {}
    if column.type is HiveType.DECIMAL:
        values[TCLI.PRECISION] = TCLI.TTypeQualifierValue(i32Value=int(column.precision or 38))
        values[TCLI.SCALE] = TCLI.TTypeQualifierValue(i32Value=int(column.scale or 0))
    elif column.type in (HiveType.VARCHAR, HiveType.CHAR) and column.max_length:
        values[TCLI.CHARACTER_MAXIMUM_LENGTH] = TCLI.TTypeQualifierValue(i32Value=int(column.max_length))
    return TCLI.TTypeQualifiers(qualifiers=values) if values else None


def to_table_schema(schema: TableSchema) -> ThriftStruct:
    columns = []
    for position, column in enumerate(schema.columns, start=1):
        entry = TCLI.TPrimitiveTypeEntry(type=_TYPE_IDS[column.type], typeQualifiers=_qualifiers(column))
        columns.append(
            TCLI.TColumnDesc(
                columnName=column.name,
                typeDesc=TCLI.TTypeDesc(types=[TCLI.TTypeEntry(primitiveEntry=entry)]),
                position=position,
                comment=column.comment or "",
            )
        )
    return TCLI.TTableSchema(columns=columns)


# --- operation status -------------------------------------------------------------------------
# No TProgressUpdateResp is ever sent. hive-jdbc 2.3 hands one to beeline's in-place progress bar,
# which formats its header and every row with a fixed nine-column pattern (Tez's VERTICES, STATUS,
# TOTAL... table; fewer cells throw MissingFormatArgumentException and fail the statement), and
# once that bar has rendered, beeline holds back the operation log until the bar completes. An
# agent run has no vertices to show, and its live progress is the operation log (steps, tool calls,
# parked calls with their __approve:/__deny: statements), so the field stays unset: hive-jdbc reads
# a missing update as "nothing to report" and keeps printing the log.
def to_operation_status(status: OperationStatus) -> ThriftStruct:
    """``TGetOperationStatusResp``: the state, its times, and for a failed operation the error
    (hive-jdbc raises ``SQLException(errorMessage, sqlState, errorCode)``, which beeline prints)."""
    response = TCLI.TGetOperationStatusResp(
        status=ok_status(),
        operationState=int(status.state),
        operationStarted=int(status.started_ms),
        operationCompleted=int(status.completed_ms),
        hasResultSet=bool(status.has_result_set),
    )
    if status.error_message is not None or status.sqlstate is not None:
        response.sqlState = status.sqlstate or "HY000"
        response.errorCode = int(status.error_code or 0)
        response.errorMessage = status.error_message or ""
    return response


def info_value(value: str | int) -> ThriftStruct:
    """Names travel as ``stringValue``, numbers as ``lenValue`` (as HiveServer2 does)."""
    if isinstance(value, int):
        return TCLI.TGetInfoValue(lenValue=int(value))
    return TCLI.TGetInfoValue(stringValue=str(value))
