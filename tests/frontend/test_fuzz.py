"""Fuzzing the frontend: 10,000 generated frames, 5,000 per transport (NOSASL and SASL PLAIN), sent
to the engine run as its own process, each on its own connection, with a health check (a normal
PyHive client's ``SELECT 1``) after every batch of 50. The engine must answer or close every frame within
seconds, keep serving, and log no traceback.

Frames: Thrift messages built from random structs (every type id, huge, negative and zero counts,
lying string lengths, deep nesting), real requests with bytes flipped, cut or inserted, real
requests unchanged, and raw noise; in SASL mode sometimes with a lying frame length.

Seed: Hypothesis runs derandomized (``derandomize=True``: the seed is derived from the test's
name), so every run sends the same frames; a failure reproduces as is.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.frontend.idl import TCLI
from tests.support.hostile import (
    MAX_I32,
    SASL_COMPLETE,
    SASL_OK,
    SASL_START,
    EngineProcess,
    Target,
    data_frame,
    encode_call,
    engine_process,
    message,
    pyhive_connect,
    recv_exact,
    sasl_frame,
)

BATCHES = 100
FRAMES_PER_BATCH = 50  # 5,000 frames per transport, 10,000 in all
SENDERS = 4  # client threads sending frames at once
REPLY_WAIT = 10.0  # seconds the engine has to answer or close each frame

HANDLE = TCLI.THandleIdentifier(guid=b"\x01" * 16, secret=b"\x02" * 16)
SESSION = TCLI.TSessionHandle(sessionId=HANDLE)
OPERATION = TCLI.TOperationHandle(operationId=HANDLE, operationType=0, hasResultSet=True)
CORPUS = [
    encode_call(
        "OpenSession", TCLI.TOpenSessionReq(client_protocol=5, username="fuzz", configuration={"a": "b"})
    ),
    encode_call("ExecuteStatement", TCLI.TExecuteStatementReq(sessionHandle=SESSION, statement="SELECT 1")),
    encode_call("GetTables", TCLI.TGetTablesReq(sessionHandle=SESSION, tableTypes=["TABLE", "VIEW"])),
    encode_call("GetOperationStatus", TCLI.TGetOperationStatusReq(operationHandle=OPERATION)),
    encode_call("FetchResults", TCLI.TFetchResultsReq(operationHandle=OPERATION, orientation=0, maxRows=10)),
    encode_call("GetInfo", TCLI.TGetInfoReq(sessionHandle=SESSION, infoType=18)),
    encode_call("CloseSession", TCLI.TCloseSessionReq(sessionHandle=SESSION)),
]
METHODS = [*TCLI.TCLIService.thrift_services, "GetLog", "", "x" * 300]
TYPES = [0, 1, 2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 9, 5, 7, 255]


# --- frames ---------------------------------------------------------------------------------------
def _count(rng: random.Random) -> int:
    return rng.choice(
        [
            rng.randint(0, 3),
            rng.randint(0, 3),
            MAX_I32,
            MAX_I32 - 1,
            -1,
            -(2**31),
            1 << 20,
            rng.randint(-(2**31), MAX_I32),
        ]
    )


def _value(rng: random.Random, ttype: int, depth: int) -> bytes:
    if ttype in (2, 3):
        return bytes([rng.randrange(256)])
    if ttype == 6:
        return rng.randbytes(2)
    if ttype == 8:
        return rng.randbytes(4)
    if ttype in (4, 10):
        return rng.randbytes(8)
    if ttype in (11, 18):
        body = rng.randbytes(rng.randint(0, 20)) if rng.random() < 0.5 else "dé∂".encode()
        length = len(body) if rng.random() < 0.8 else _count(rng)
        return struct.pack(">i", length) + body
    if ttype == 12:
        return _struct(rng, depth + 1)
    if ttype in (14, 15):
        element, count = rng.choice(TYPES), _count(rng)
        items = b"".join(_value(rng, element, depth + 1) for _ in range(min(max(count, 0), 3)))
        return struct.pack(">Bi", element, count) + items
    if ttype == 13:
        key, value, count = rng.choice(TYPES), rng.choice(TYPES), _count(rng)
        items = b"".join(
            _value(rng, key, depth + 1) + _value(rng, value, depth + 1) for _ in range(min(max(count, 0), 2))
        )
        return struct.pack(">BBi", key, value, count) + items
    return b""  # unknown or zero-width types carry no bytes


def _struct(rng: random.Random, depth: int = 0) -> bytes:
    if depth > 70 or (depth > 3 and rng.random() < 0.7):
        return b"\x00"
    fields = []
    for _ in range(rng.randint(0, 5)):
        ttype = rng.choice(TYPES) if rng.random() < 0.3 else rng.choice([8, 11, 12, 13, 15, 2])
        if ttype == 0:
            break
        fields.append(
            struct.pack(">Bh", ttype, rng.choice([1, 2, 3, 4, -1, 999])) + _value(rng, ttype, depth)
        )
    return b"".join(fields) + (b"\x00" if rng.random() < 0.95 else b"")


def _mutated(rng: random.Random) -> bytes:
    data = bytearray(rng.choice(CORPUS))
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        position = rng.randrange(len(data)) if data else 0
        if kind < 0.5 and data:
            data[position] = rng.randrange(256)
        elif kind < 0.7:
            data[position:position] = rng.randbytes(rng.randint(1, 8))
        elif kind < 0.85:
            del data[position : position + rng.randint(1, 8)]
        else:
            data = data[:position]
    return bytes(data)


def random_frame(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.4:
        name = rng.choice(METHODS)
        return message(name, _struct(rng), seqid=rng.randint(-5, 5), mtype=rng.choice([1, 1, 1, 2, 4, 9]))
    if kind < 0.75:
        return _mutated(rng)
    if kind < 0.85:
        return rng.choice(CORPUS)
    return rng.randbytes(rng.randint(0, 200))


# --- sending --------------------------------------------------------------------------------------
def send_frame(target: Target, frame: bytes, rng_bits: int) -> None:
    """One frame on its own connection, then end of input: the engine must answer and close, or
    close, within REPLY_WAIT seconds."""
    with socket.create_connection((target.host, target.port), timeout=REPLY_WAIT) as sock:
        if target.mode == "SASL":
            sock.sendall(sasl_frame(SASL_START, b"PLAIN") + sasl_frame(SASL_OK, b"\0fuzz\0pw"))
            status, length = struct.unpack(">BI", recv_exact(sock, 5))
            recv_exact(sock, length)
            assert status == SASL_COMPLETE
            if rng_bits % 20 == 0:  # a frame whose length lies
                frame = struct.pack(">I", (rng_bits * 7919) % (1 << 32)) + frame
            else:
                frame = data_frame(frame)
        try:
            sock.sendall(frame)
            sock.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            return  # closed already
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"no answer and no close within {REPLY_WAIT} s for {frame[:80]!r}") from None


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EngineProcess]]:
    work: Path = tmp_path_factory.mktemp("fuzz")
    with (
        engine_process({"kyuubi.authentication": "NONE"}, work / "sasl") as sasl,
        engine_process({"kyuubi.authentication": "NOSASL"}, work / "nosasl") as nosasl,
    ):
        yield {"SASL": sasl, "NOSASL": nosasl}


class Health:
    """A normal client kept connected through the whole run."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.connection: Any = pyhive_connect(target)
        self.checks = 0

    def check(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]
        cursor.close()
        self.checks += 1


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["NOSASL", "SASL"])
def test_generated_frames(engines: dict[str, EngineProcess], mode: str) -> None:
    engine = engines[mode]
    target = Target(engine.host, engine.port, mode, user="health", password="x")
    health = Health(target)
    sent = [0]
    lock = threading.Lock()

    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="fuzz-sender") as pool:

        @settings(
            max_examples=BATCHES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(rng=st.randoms(use_true_random=False))
        def batch(rng: random.Random) -> None:
            frames = [(random_frame(rng), rng.getrandbits(32)) for _ in range(FRAMES_PER_BATCH)]
            for future in [pool.submit(send_frame, target, frame, bits) for frame, bits in frames]:
                future.result()
            with lock:
                sent[0] += len(frames)
            health.check()  # after every batch

        batch()
    health.connection.close()
    assert sent[0] >= BATCHES * FRAMES_PER_BATCH
    assert health.checks >= BATCHES
    assert engine.proc.poll() is None, "the engine died"
    output = engine.drain()
    assert not [line for line in output if "Traceback" in line or " ERROR " in line], output[:20]
