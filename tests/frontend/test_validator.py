"""The structural check that runs before thriftpy2 decodes a request: it accepts every request the
IDL can express, refuses what thriftpy2 would loop on or what exceeds a limit, does work linear
in the message size, and asks for bytes only as far as it needs them."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TMemoryBuffer

from engine.frontend.idl import TCLI
from engine.frontend.validator import MalformedMessageError, OversizedMessageError, scan_message
from tests.support.hostile import (
    BOOL,
    I32,
    LIST,
    MAP,
    MAX_I32,
    SET,
    STOP,
    STRING,
    STRUCT,
    VOID,
    field,
    list_header,
    map_header,
    message,
    string,
)

LIMIT = 1 << 20
MAX_LENGTH = 100_000


def scan(data: bytes, *, limit: int = LIMIT, max_length: int = MAX_LENGTH) -> int:
    buffer = bytearray(data)

    def fill(needed: int) -> int:
        raise EOFError(f"asked for {needed} bytes, {len(buffer)} available")

    return scan_message(buffer, fill, max_message_size=limit, max_container_length=max_length)


def encode(name: str, request: Any) -> bytes:
    buffer = TMemoryBuffer()
    protocol = TBinaryProtocol(buffer)
    protocol.write_message_begin(name, TMessageType.CALL, 7)
    getattr(TCLI.TCLIService, f"{name}_args")(req=request).write(protocol)
    protocol.write_message_end()
    return buffer.getvalue()


HANDLE = TCLI.THandleIdentifier(guid=b"\x0d\x0e\x0f" * 5 + b"\x01", secret=b"\x00\x0f" * 8)
SESSION = TCLI.TSessionHandle(sessionId=HANDLE)
OPERATION = TCLI.TOperationHandle(
    operationId=HANDLE, operationType=0, hasResultSet=True, modifiedRowCount=1.5
)
REQUESTS: dict[str, Any] = {
    "OpenSession": TCLI.TOpenSessionReq(
        client_protocol=9, username="u", password="p", configuration={"use:database": "default", "k": "v"}
    ),
    "CloseSession": TCLI.TCloseSessionReq(sessionHandle=SESSION),
    "GetInfo": TCLI.TGetInfoReq(sessionHandle=SESSION, infoType=18),
    "ExecuteStatement": TCLI.TExecuteStatementReq(
        sessionHandle=SESSION, statement="select 1", confOverlay={"a": "b"}, runAsync=True, queryTimeout=5
    ),
    "GetTables": TCLI.TGetTablesReq(
        sessionHandle=SESSION, catalogName="c", schemaName="s", tableName="t", tableTypes=["TABLE", "VIEW"]
    ),
    "GetOperationStatus": TCLI.TGetOperationStatusReq(operationHandle=OPERATION, getProgressUpdate=True),
    "FetchResults": TCLI.TFetchResultsReq(
        operationHandle=OPERATION, orientation=0, maxRows=1000, fetchType=1
    ),
    "CloseOperation": TCLI.TCloseOperationReq(operationHandle=OPERATION),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_real_requests_pass_with_their_exact_length(name: str) -> None:
    data = encode(name, REQUESTS[name])
    assert scan(data) == len(data)
    # a pipelined next request stays for the next scan
    assert scan(data + encode("GetInfo", REQUESTS["GetInfo"])) == len(data)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    statement=st.text(max_size=300),
    overlay=st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8),
    types=st.lists(st.text(max_size=10), max_size=8),
    run_async=st.booleans(),
)
def test_any_encodable_request_passes(
    statement: str, overlay: dict[str, str], types: list[str], run_async: bool
) -> None:
    for name, request in (
        (
            "ExecuteStatement",
            TCLI.TExecuteStatementReq(
                sessionHandle=SESSION, statement=statement, confOverlay=overlay, runAsync=run_async
            ),
        ),
        ("GetTables", TCLI.TGetTablesReq(sessionHandle=SESSION, tableName=statement, tableTypes=types)),
        ("OpenSession", TCLI.TOpenSessionReq(client_protocol=5, username=statement, configuration=overlay)),
    ):
        data = encode(name, request)
        assert scan(data) == len(data)


def _args(*fields: bytes) -> bytes:
    return message("ExecuteStatement", b"".join(fields) + bytes([STOP]))


@pytest.mark.parametrize(
    "value",
    [
        field(LIST, 1, list_header(VOID, MAX_I32)),
        field(LIST, 1, list_header(STOP, 5)),
        field(SET, 1, list_header(17, MAX_I32)),
        field(LIST, 1, list_header(9, 1)),
        field(MAP, 1, map_header(STOP, STOP, MAX_I32)),
        field(MAP, 1, map_header(STRING, VOID, 3)),
        field(LIST, 2, list_header(LIST, 60) + list_header(STOP, MAX_I32) * 60),
    ],
    ids=["void list", "stop list", "unknown set", "u64 list", "stop map", "void map values", "nested"],
)
def test_zero_width_or_unknown_elements_are_refused_at_once(value: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(MalformedMessageError, match="unknown or zero-width"):
        scan(_args(value))
    assert time.perf_counter() - started < 0.05


def test_empty_containers_of_any_type_pass() -> None:
    data = _args(field(LIST, 1, list_header(VOID, 0)), field(MAP, 2, map_header(STOP, 17, 0)))
    assert scan(data) == len(data)


@pytest.mark.parametrize("ttype", [VOID, 5, 7, 9, 16, 17, 19, 200])
def test_unknown_field_types_are_refused(ttype: int) -> None:
    with pytest.raises(MalformedMessageError, match="unknown or zero-width Thrift type id"):
        scan(_args(field(ttype, 1, b"")))


def test_declared_sizes_beyond_the_message_limit_are_refused_before_any_byte_is_awaited() -> None:
    cases = [
        field(STRING, 1, struct.pack(">i", 0x7FFFFFF0)),
        field(LIST, 1, list_header(I32, LIMIT // 4)),  # 4 bytes each: more than the limit holds
        field(LIST, 1, list_header(STRING, LIMIT // 4)),
        field(MAP, 1, map_header(STRING, STRING, LIMIT // 8)),
        field(LIST, 1, list_header(STRUCT, LIMIT + 1)),
    ]
    for value in cases:
        with pytest.raises(OversizedMessageError):
            scan(_args(value), max_length=LIMIT * 2)


def test_the_container_length_limit() -> None:
    ok = _args(field(LIST, 1, list_header(BOOL, 100) + bytes(100)))
    assert scan(ok, max_length=100) == len(ok)
    with pytest.raises(OversizedMessageError, match="exceeds the limit of 100"):
        scan(_args(field(LIST, 1, list_header(BOOL, 101) + bytes(101))), max_length=100)


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">i", 0x00010001) + b"\x00" * 12,  # positive size: the old non-strict header
        struct.pack(">i", -2147352575) + b"\x00" * 12,  # version 2
        message("ExecuteStatement", bytes([STOP]), mtype=2),  # a REPLY sent to the server
        message("ExecuteStatement", field(STRING, 1, struct.pack(">i", -1))),
        message("ExecuteStatement", field(LIST, 1, list_header(I32, -5))),
        b"\x80\x01\x00\x01" + struct.pack(">i", -3),  # negative name length
    ],
    ids=["non-strict", "version 2", "reply", "negative string", "negative list", "negative name"],
)
def test_malformed_headers_and_sizes(data: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        scan(data + b"\x00" * 8)


def test_nesting_deeper_than_thriftpy2_allows_is_refused() -> None:
    deep = field(STRUCT, 1, b"") * 70 + bytes([STOP]) * 70
    with pytest.raises(MalformedMessageError, match="nested deeper"):
        scan(_args(deep))
    lists = field(LIST, 1, b"") + list_header(LIST, 1) * 70
    with pytest.raises(MalformedMessageError, match="nested deeper"):
        scan(_args(lists))
    fine = field(STRUCT, 1, b"") * 60 + bytes([STOP]) * 60
    assert scan(_args(fine)) == len(_args(fine))


def test_bytes_are_awaited_only_as_far_as_the_walk_needs_them() -> None:
    data = encode("ExecuteStatement", REQUESTS["ExecuteStatement"])
    arrived = bytearray()
    asked: list[int] = []

    def fill(needed: int) -> int:
        asked.append(needed)
        assert needed <= len(data), "asked for bytes beyond the message"
        while len(arrived) < needed:
            arrived.append(data[len(arrived)])  # one byte per receive: a slow client
        return len(arrived)

    assert scan_message(arrived, fill, max_message_size=LIMIT, max_container_length=MAX_LENGTH) == len(data)
    assert asked == sorted(asked) and asked[-1] == len(data)


def test_the_walk_is_linear_in_the_message_size() -> None:
    """Its work grows with the bytes, whatever their shape (quadratic would be 16x for 4x)."""

    def list_of_strings(count: int) -> bytes:
        return _args(field(LIST, 1, list_header(STRING, count) + string(b"") * count))

    def nested_maps(count: int) -> bytes:
        inner = map_header(STRING, MAP, 1) + string(b"k")
        return _args(field(MAP, 1, inner * count + map_header(STRING, STRING, 0)))

    def structs(count: int) -> bytes:
        return _args(
            field(LIST, 1, list_header(STRUCT, count) + (field(I32, 1, b"\x00" * 4) + b"\x00") * count)
        )

    for shape in (list_of_strings, structs):
        small, large = shape(50_000), shape(200_000)
        times = []
        for data in (small, large):
            best = min(
                _timed(lambda data=data: scan(data, limit=1 << 24, max_length=1 << 24)) for _ in range(3)
            )
            times.append(best)
        assert times[1] / max(times[0], 1e-6) < 4 * 3, (shape.__name__, times)
    assert scan(nested_maps(50), limit=1 << 24) > 0


def _timed(work: Any) -> float:
    started = time.thread_time()  # this thread's CPU time: other processes and threads do not count
    work()
    return time.thread_time() - started


def test_every_request_map_has_string_keys_and_values() -> None:
    """The one place thriftpy2 reads by the IDL instead of by the wire is a map whose wire key or
    value type is string or binary; the walk follows the wire. Both consume the same bytes as long
    as every map a request can hold is map<string, string>."""

    def maps(spec: Any, seen: set[Any]) -> list[Any]:
        found = []
        for entry in spec.values():
            ttype, nested = entry[0], entry[2] if len(entry) > 3 else None
            found += _maps_in(ttype, nested, seen, maps)
        return found

    requests = [getattr(TCLI.TCLIService, name + "_args") for name in TCLI.TCLIService.thrift_services]
    for args in requests:
        for key, value in maps(args.thrift_spec, set()):
            assert key in (11, 18) and value in (11, 18), (args.__name__, key, value)


def _maps_in(ttype: int, nested: Any, seen: set[Any], maps: Any) -> list[Any]:
    if ttype == STRUCT and nested not in seen:
        seen.add(nested)
        return maps(nested.thrift_spec, seen)
    if ttype in (LIST, SET) and nested is not None:
        inner = nested if isinstance(nested, tuple) else (nested, None)
        return _maps_in(inner[0], inner[1], seen, maps)
    if ttype == MAP:
        key, value = (item if isinstance(item, tuple) else (item, None) for item in nested)
        return [
            (key[0], value[0]),
            *_maps_in(key[0], key[1], seen, maps),
            *_maps_in(value[0], value[1], seen, maps),
        ]
    return []
