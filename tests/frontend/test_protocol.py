"""A raw thriftpy2 client: protocol negotiation, rowset layouts and the facts of CLIENTS.md that
need byte-level control (SASL statuses, the configuration map, users, log fetches...)."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType
from thriftpy2.transport import TMemoryBuffer

from engine.frontend.idl import TCLI
from tests.frontend.rawclient import COMPLETE, OK, RawClient, column_strings, recv_exact

SUCCESS = TCLI.TStatusCode.SUCCESS_STATUS
ERROR = TCLI.TStatusCode.ERROR_STATUS
V1, V6, V10, V11 = 0, 5, 9, 10


@pytest.mark.parametrize("sasl", [True, False], ids=["sasl", "nosasl"])
@pytest.mark.parametrize(("asked", "answered"), [(V1, V1), (V6, V6), (V10, V10), (V11, V11), (V11 + 1, V11)])
def test_protocol_is_min_of_client_and_server(hs2: Any, sasl: bool, asked: int, answered: int) -> None:
    stack = hs2({} if sasl else {"kyuubi.authentication": "NOSASL"})
    client = RawClient(stack.host, stack.port, sasl=sasl)
    try:
        opened = client.open_session(asked, username="raw")
        assert opened.serverProtocolVersion == answered
        assert opened.configuration is not None  # hive-jdbc crashes on a null map
        operation = client.execute(opened.sessionHandle, "protocol check")
        metadata = client.GetResultSetMetadata(TCLI.TGetResultSetMetadataReq(operationHandle=operation))
        column = metadata.schema.columns[0]
        assert (column.columnName, column.position) == ("reply", 1)
        assert column.typeDesc.types[0].primitiveEntry.type == TCLI.TTypeId.STRING_TYPE
        fetched = client.fetch(operation, 100)
        assert fetched.status.statusCode == SUCCESS
        if answered >= V6:
            assert fetched.results.columns and fetched.results.rows == []
        else:
            assert fetched.results.rows and not fetched.results.columns
        events = [json.loads(text) for text in column_strings(fetched.results)]
        assert events[0]["type"] == "agent_start" and events[-1]["type"] == "agent_finish"
        client.CloseOperation(TCLI.TCloseOperationReq(operationHandle=operation))
        closed = client.CloseSession(TCLI.TCloseSessionReq(sessionHandle=opened.sessionHandle))
        assert closed.status.statusCode == SUCCESS
    finally:
        client.close()


@pytest.mark.parametrize("status", [OK, COMPLETE], ids=["python-OK", "java-COMPLETE"])
def test_sasl_response_status_ok_or_complete(server: Any, status: int) -> None:
    client = RawClient(server.host, server.port, user="jill", status=status)
    try:
        opened = client.open_session(V10, username="someone-else")
        info = client.GetInfo(
            TCLI.TGetInfoReq(sessionHandle=opened.sessionHandle, infoType=TCLI.TGetInfoType.CLI_USER_NAME)
        )
        assert info.infoValue.stringValue == "jill"  # the SASL authcid, not OpenSession.username
    finally:
        client.close()


@pytest.mark.parametrize(("username", "expected"), [("kate", "kate"), ("", "anonymous"), (None, "anonymous")])
def test_nosasl_user_comes_from_open_session(nosasl_server: Any, username: str | None, expected: str) -> None:
    client = RawClient(nosasl_server.host, nosasl_server.port, sasl=False)
    try:
        opened = client.open_session(V10, username=username)
        info = client.GetInfo(
            TCLI.TGetInfoReq(sessionHandle=opened.sessionHandle, infoType=TCLI.TGetInfoType.CLI_USER_NAME)
        )
        assert info.infoValue.stringValue == expected
    finally:
        client.close()


def test_get_info_and_beeline_open_session(raw: RawClient) -> None:
    client = raw
    opened = client.open_session(
        V10,
        configuration={
            "use:database": "default",
            "set:hiveconf:hive.server2.thrift.resultset.default.fetch.size": "1000",
        },
    )
    assert isinstance(opened.configuration, dict)
    handle = opened.sessionHandle
    values = {}
    for name in ("CLI_SERVER_NAME", "CLI_DBMS_NAME", "CLI_DBMS_VER"):
        info = client.GetInfo(
            TCLI.TGetInfoReq(sessionHandle=handle, infoType=getattr(TCLI.TGetInfoType, name))
        )
        assert info.status.statusCode == SUCCESS
        values[name] = info.infoValue.stringValue
    assert values["CLI_SERVER_NAME"] and values["CLI_DBMS_NAME"] and values["CLI_DBMS_VER"]
    unknown = client.GetInfo(
        TCLI.TGetInfoReq(sessionHandle=handle, infoType=TCLI.TGetInfoType.CLI_ALTER_TABLE)
    )
    assert unknown.status.statusCode == ERROR and unknown.infoValue is not None


def test_beeline_style_status_and_log_fetches(raw: RawClient) -> None:
    client = raw
    session = client.open_session(V10).sessionHandle
    operation = client.execute(session, "log please", run_async=True)
    while True:
        status = client.GetOperationStatus(
            TCLI.TGetOperationStatusReq(operationHandle=operation, getProgressUpdate=True)
        )
        assert status.status.statusCode == SUCCESS and status.hasResultSet
        if status.operationState == TCLI.TOperationState.FINISHED_STATE:
            break
        assert status.operationState in (
            TCLI.TOperationState.INITIALIZED_STATE,
            TCLI.TOperationState.PENDING_STATE,
            TCLI.TOperationState.RUNNING_STATE,
        )
    assert status.operationStarted > 0 and status.operationCompleted >= status.operationStarted
    log = client.fetch(operation, 1000, fetch_type=1)
    assert log.status.statusCode == SUCCESS
    assert len(log.results.columns) == 1 and log.results.columns[0].stringVal is not None
    rows = client.fetch(operation, 1000)
    assert json.loads(column_strings(rows.results)[-1])["type"] == "agent_finish"


def test_fetch_first_then_next(raw: RawClient) -> None:
    """node hive-driver: FETCH_FIRST first, then FETCH_NEXT until empty; FETCH_FIRST rewinds."""
    client = raw
    session = client.open_session(V10).sessionHandle
    operation = client.execute(session, "rewind me")
    first = column_strings(client.fetch(operation, 2, orientation=TCLI.TFetchOrientation.FETCH_FIRST).results)
    rest: list[Any] = []
    while True:
        batch = client.fetch(operation, 2, orientation=TCLI.TFetchOrientation.FETCH_NEXT)
        assert batch.status.statusCode == SUCCESS
        values = column_strings(batch.results)
        if not values:
            assert batch.hasMoreRows is False
            break
        rest.extend(values)
    again = client.fetch(operation, 100, orientation=TCLI.TFetchOrientation.FETCH_FIRST)
    assert column_strings(again.results) == first + rest
    assert again.results.startRowOffset == 0


def test_unknown_method_keeps_the_connection(raw: RawClient) -> None:
    client = raw
    session = client.open_session(V6).sessionHandle
    proto = client.client._iprot
    # Call a method that is not in TCLIService, by hand, as impyla does with GetLog.
    proto.write_message_begin("GetLog", 1, 77)
    proto.write_struct(TCLI.TCloseSessionReq(sessionHandle=session))
    proto.write_message_end()
    proto.trans.flush()
    name, kind, seqid = proto.read_message_begin()
    assert (name, kind, seqid) == ("GetLog", 3, 77)  # 3 = EXCEPTION
    error = TApplicationException()
    proto.read_struct(error)
    proto.read_message_end()
    assert error.type == TApplicationException.UNKNOWN_METHOD
    # same connection, still serving
    assert client.execute(session, "still here") is not None


def test_not_supported_rpcs_answer_a_clear_status(raw: RawClient) -> None:
    client = raw
    session = client.open_session(V10).sessionHandle
    token = client.GetDelegationToken(
        TCLI.TGetDelegationTokenReq(sessionHandle=session, owner="a", renewer="b")
    )
    assert token.status.statusCode == ERROR and token.status.sqlState == "0A000"
    assert "not supported" in token.status.errorMessage
    for call, req in (
        (
            client.CancelDelegationToken,
            TCLI.TCancelDelegationTokenReq(sessionHandle=session, delegationToken="t"),
        ),
        (
            client.RenewDelegationToken,
            TCLI.TRenewDelegationTokenReq(sessionHandle=session, delegationToken="t"),
        ),
    ):
        assert call(req).status.statusCode == ERROR
    info = client.SetClientInfo(TCLI.TSetClientInfoReq(sessionHandle=session, configuration={"app": "x"}))
    assert info.status.statusCode == SUCCESS
    operation = client.execute(session, "query id")
    assert client.GetQueryId(TCLI.TGetQueryIdReq(operationHandle=operation)).queryId


def test_metadata_rpcs_answer_a_handle_or_a_clear_status(raw: RawClient) -> None:
    client = raw
    session = client.open_session(V10).sessionHandle
    calls = [
        (client.GetCatalogs, TCLI.TGetCatalogsReq(sessionHandle=session)),
        (client.GetSchemas, TCLI.TGetSchemasReq(sessionHandle=session, schemaName="%")),
        (
            client.GetTables,
            TCLI.TGetTablesReq(sessionHandle=session, schemaName="%", tableName="%", tableTypes=["TABLE"]),
        ),
        (client.GetTableTypes, TCLI.TGetTableTypesReq(sessionHandle=session)),
        (client.GetColumns, TCLI.TGetColumnsReq(sessionHandle=session, schemaName="%", tableName="%")),
        (client.GetTypeInfo, TCLI.TGetTypeInfoReq(sessionHandle=session)),
        (client.GetFunctions, TCLI.TGetFunctionsReq(sessionHandle=session, functionName="%")),
        (client.GetPrimaryKeys, TCLI.TGetPrimaryKeysReq(sessionHandle=session, tableName="t")),
        (
            client.GetCrossReference,
            TCLI.TGetCrossReferenceReq(sessionHandle=session, parentTableName="t"),
        ),
    ]
    for call, req in calls:
        response = call(req)
        if response.status.statusCode == SUCCESS:
            assert response.operationHandle.hasResultSet
            client.CloseOperation(TCLI.TCloseOperationReq(operationHandle=response.operationHandle))
        else:
            assert response.status.sqlState and response.status.errorMessage
    assert client.execute(session, "connection alive") is not None


def _status_call(raw: RawClient, operation: Any, seqid: int) -> tuple[int, Any]:
    """One GetOperationStatus as hand-made bytes with ``seqid`` (thriftpy2's client always sends
    0): the reply's sequence id and its decoded result."""
    request = TMemoryBuffer()
    protocol = TBinaryProtocol(request)
    protocol.write_message_begin("GetOperationStatus", TMessageType.CALL, seqid)
    args = TCLI.TCLIService.GetOperationStatus_args(
        req=TCLI.TGetOperationStatusReq(operationHandle=operation)
    )
    args.write(protocol)
    protocol.write_message_end()
    payload = request.getvalue()
    sock = raw.tsocket.sock
    sock.sendall(struct.pack(">I", len(payload)) + payload)
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    reply = TBinaryProtocol(TMemoryBuffer(recv_exact(sock, length)))
    name, kind, got = reply.read_message_begin()
    assert (name, kind) == ("GetOperationStatus", TMessageType.REPLY)
    result = TCLI.TCLIService.GetOperationStatus_result()
    result.read(reply)
    return got, result.success


def test_a_settled_status_is_reused_until_the_operation_changes(raw: RawClient) -> None:
    """beeline asks for the status before every row: a finished operation's encoded reply is sent
    again with each request's own sequence id, and a close ends that at once."""
    session = raw.open_session(V10).sessionHandle
    operation = raw.execute(session, "first question")
    ask = TCLI.TGetOperationStatusReq(operationHandle=operation)
    first = raw.GetOperationStatus(ask)
    assert first.status.statusCode == SUCCESS
    assert first.operationState == TCLI.TOperationState.FINISHED_STATE
    for seqid in (1, 7, 2**31 - 1, -5):
        got, again = _status_call(raw, operation, seqid)
        assert got == seqid
        assert again.operationState == TCLI.TOperationState.FINISHED_STATE
        assert again == first
    assert raw.CloseOperation(TCLI.TCloseOperationReq(operationHandle=operation)).status.statusCode == SUCCESS
    got, closed = _status_call(raw, operation, 42)
    assert got == 42 and closed.status.statusCode == ERROR
    other = raw.execute(session, "second question")
    assert (
        raw.GetOperationStatus(TCLI.TGetOperationStatusReq(operationHandle=other)).status.statusCode
        == SUCCESS
    )
    assert json.loads(column_strings(raw.fetch(other).results)[-1])["type"] == "agent_finish"


def test_settled_replies_are_bounded_and_only_for_status_calls() -> None:
    from engine.frontend.replay import SettledReplies

    def message(name: str, seqid: int, body: bytes, kind: int = TMessageType.CALL) -> bytes:
        return (
            struct.pack(">iI", -2147418112 | kind, len(name))
            + name.encode()
            + struct.pack(">i", seqid)
            + body
        )

    replies = SettledReplies(capacity=2)
    reply = message("GetOperationStatus", 0, b"reply", TMessageType.REPLY)
    for index in range(3):
        replies.remember(message("GetOperationStatus", 9, bytes([index])), reply, lambda: True)
    assert len(replies) == 2 and replies.lookup(message("GetOperationStatus", 3, b"\0")) is None
    ask = message("GetOperationStatus", 3, b"\2")
    replay = replies.lookup(ask)
    assert replay is not None
    assert replay.reply(ask) == message("GetOperationStatus", 3, b"reply", TMessageType.REPLY)
    replies.remember(message("FetchResults", 1, b"x"), reply, lambda: True)
    replies.remember(
        message("GetOperationStatus", 1, b"e"), message("GetOperationStatus", 1, b"", 3), lambda: True
    )
    assert replies.lookup(message("FetchResults", 2, b"x")) is None
    assert replies.lookup(message("GetOperationStatus", 2, b"e")) is None
    held = [True]
    replies.remember(message("GetOperationStatus", 1, b"h"), reply, lambda: held[0])
    assert replies.lookup(message("GetOperationStatus", 5, b"h")) is not None
    held[0] = False
    assert replies.lookup(message("GetOperationStatus", 6, b"h")) is None
