"""Hostile clients (issue 11) against an engine run as its own process, and a probe that measures a
normal PyHive client's ``SELECT 1`` while an attack runs. Shared by tests/frontend/test_hostile.py,
tests/frontend/test_fuzz.py and bench/hostile.py.

Every attack returns what the engine did with it: ``refused`` (told why, then closed), ``answered``
(an error reply on a connection that stays open), ``closed`` (closed without a word) or ``hung``
(nothing within the wait: the failure we guard against).
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.frontend.rawclient import recv_exact, sasl_frame
from tests.support.passwords import write_password_file

ROOT = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"engine serving on ([\d.]+):(\d+)")

# --- Thrift binary protocol and SASL framing, by hand --------------------------------------------
VERSION_1 = -2147418112
STOP, VOID, BOOL, BYTE, DOUBLE, I16, I32, I64, STRING, STRUCT, MAP, SET, LIST = (
    0, 1, 2, 3, 4, 6, 8, 10, 11, 12, 13, 14, 15,
)  # fmt: skip
SASL_START, SASL_OK, SASL_BAD, SASL_ERROR, SASL_COMPLETE = 1, 2, 3, 4, 5
MAX_I32 = 2**31 - 1


def message(name: str | bytes, body: bytes, seqid: int = 1, mtype: int = 1) -> bytes:
    """A strict binary-protocol message: header, then ``body`` (the argument struct's bytes)."""
    encoded = name.encode() if isinstance(name, str) else name
    return struct.pack(">iI", VERSION_1 | mtype, len(encoded)) + encoded + struct.pack(">i", seqid) + body


def field(ttype: int, fid: int, payload: bytes) -> bytes:
    return struct.pack(">Bh", ttype, fid) + payload


def string(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def list_header(element: int, count: int) -> bytes:
    return struct.pack(">Bi", element, count)


def map_header(key: int, value: int, count: int) -> bytes:
    return struct.pack(">BBi", key, value, count)


def data_frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def password_file(path: Path, users: dict[str, str]) -> Path:
    """A ``kyuubi.authentication.password.file`` for CUSTOM mode."""
    return write_password_file(path, users)


# --- the engine, as users run it ----------------------------------------------------------------
class EngineProcess:
    """``bin/data-agent-engine`` with ``--conf`` flags, on 127.0.0.1 port 0; its output is kept."""

    def __init__(self, conf: dict[str, str], work: Path) -> None:
        values = {
            "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
            "kyuubi.frontend.thrift.binary.bind.port": "0",
            "kyuubi.engine.data.agent.work.dir": str(work),
            "kyuubi.session.engine.idle.timeout": "PT1H",
            **conf,
        }
        args = [str(ROOT / "bin" / "data-agent-engine")]
        for key, value in values.items():
            args += ["--conf", f"{key}={value}"]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, name="engine-output", daemon=True).start()
        try:
            self.host, self.port = self._wait_serving()
        except BaseException:
            self.proc.kill()  # never leave an engine behind
            self.proc.wait(timeout=10)
            raise
        self.mode = "NOSASL" if values.get("kyuubi.authentication") == "NOSASL" else "SASL"

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _wait_serving(self) -> tuple[str, int]:
        while True:
            line = self._lines.get(timeout=60)
            self.output.append(line)
            if not line:
                raise RuntimeError("the engine exited before serving:\n" + "".join(self.output))
            match = SERVING.search(line)
            if match:
                return match.group(1), int(match.group(2))

    def drain(self) -> list[str]:
        """Output lines printed since the last call."""
        fresh: list[str] = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line:
                fresh.append(line)
        self.output.extend(fresh)
        return fresh

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.drain()
        return self.proc.returncode


@contextlib.contextmanager
def engine_process(conf: dict[str, str], work: Path) -> Iterator[EngineProcess]:
    engine = EngineProcess(conf, work)
    try:
        yield engine
    finally:
        engine.stop()


# --- the normal client --------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    host: str
    port: int
    mode: str  # "SASL" or "NOSASL"
    user: str = "probe"
    password: str = "probe-pw"
    source: str = ""  # bind the attacking sockets to this local address (e.g. 127.0.0.2)


def pyhive_connect(target: Target, timeout: float = 10.0, user: str | None = None) -> Any:
    """A PyHive connection whose socket has a timeout (PyHive's own has none)."""
    import thrift_sasl
    from pyhive import hive
    from thrift.transport import TSocket, TTransport

    user = user or target.user
    sock = TSocket.TSocket(target.host, target.port)
    sock.setTimeout(timeout * 1000)
    if target.mode == "NOSASL":
        transport: Any = TTransport.TBufferedTransport(sock)
    else:
        password = target.password

        def sasl_client() -> Any:
            return hive.get_installed_sasl(
                host=target.host, sasl_auth="PLAIN", username=user, password=password
            )

        transport = thrift_sasl.TSaslClientTransport(sasl_client, "PLAIN", sock)
    return hive.connect(thrift_transport=transport, username=user)


@dataclass
class ProbeResult:
    latencies: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self) -> float:
        return self.percentile(0.5)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


class Probe:
    """A normal client running ``SELECT 1`` in a loop on its own thread. ``fresh``: a new
    connection for every query (what a client locked out of a full server would notice).
    A query that fails counts as an error, and its time as a sample."""

    def __init__(
        self, target: Target, *, fresh: bool = False, pause: float = 0.01, timeout: float = 10.0
    ) -> None:
        self.target = target
        self.fresh = fresh
        self.pause = pause
        self.timeout = timeout
        self.result = ProbeResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self._connection: Any = None
        if not fresh:
            with contextlib.suppress(Exception):
                self._connection = pyhive_connect(target, timeout)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> ProbeResult:
        self._stop.set()
        self._thread.join(self.timeout * 3)
        self._close()
        return self.result

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def _query(self) -> None:
        if self._connection is None:
            self._connection = pyhive_connect(self.target, self.timeout)
        try:
            cursor = self._connection.cursor()
            cursor.execute("SELECT 1")
            assert cursor.fetchall() == [(1,)]
            cursor.close()
        except Exception:
            self._close()  # start over on a new connection
            raise
        finally:
            if self.fresh:
                self._close()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self._query()
            except Exception as exc:
                self.result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            self.result.latencies.append(time.perf_counter() - started)
            self._stop.wait(self.pause)


def wait_healthy(target: Target, limit: float) -> float:
    """Seconds until a fresh client runs SELECT 1 again (at most ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        probe = Probe(target, fresh=True, timeout=5.0)
        try:
            probe._query()
            return time.monotonic() - started
        except Exception:
            time.sleep(0.5)
    return time.monotonic() - started


# --- the attacks --------------------------------------------------------------------------------
REFUSED, ANSWERED, CLOSED, HUNG = "refused", "answered", "closed", "hung"


def connect(target: Target, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if target.source:
        sock.bind((target.source, 0))
    sock.connect((target.host, target.port))
    return sock


def login(sock: socket.socket, user: str, password: str) -> None:
    sock.sendall(sasl_frame(SASL_START, b"PLAIN") + sasl_frame(SASL_OK, f"\0{user}\0{password}".encode()))
    status, length = struct.unpack(">BI", recv_exact(sock, 5))
    reply = recv_exact(sock, length)
    if status != SASL_COMPLETE:
        raise ConnectionError(f"login refused ({status}): {reply.decode(errors='replace')}")


def reaction(sock: socket.socket, wait: float) -> str:
    """What the server does next: closes (after a reply or not), answers, or nothing."""
    sock.settimeout(wait)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return REFUSED if received else CLOSED
            received += chunk
            sock.settimeout(0.5)  # a reply arrived: does the close follow?
    except (ConnectionResetError, BrokenPipeError):
        return REFUSED if received else CLOSED
    except TimeoutError:
        return ANSWERED if received else HUNG


def send_request(target: Target, payload: bytes, wait: float = 10.0) -> str:
    """One Thrift message: before any login in NOSASL mode, after a login in SASL mode."""
    with connect(target) as sock:
        if target.mode == "SASL":
            login(sock, target.user, target.password)
            payload = data_frame(payload)
        try:
            sock.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):
            return CLOSED
        return reaction(sock, wait)


def send_handshake(target: Target, payload: bytes, wait: float = 10.0) -> str:
    with connect(target) as sock:
        try:
            sock.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):
            return CLOSED
        return reaction(sock, wait)


def _first_method(target: Target) -> str:
    return "OpenSession" if target.mode == "NOSASL" else "ExecuteStatement"


def zero_width_list(target: Target) -> str:
    """32 bytes: a list of 2^31-1 VOID elements that thriftpy2 skips one by one."""
    body = field(LIST, 1, list_header(VOID, MAX_I32)) + bytes([STOP])
    return send_request(target, message(_first_method(target), body))


def nested_zero_width_lists(target: Target) -> str:
    """A list of 60 lists, each of 2^31-1 STOP elements (344 bytes)."""
    inner = list_header(STOP, MAX_I32) * 60
    body = field(LIST, 7, list_header(LIST, 60) + inner) + bytes([STOP])
    return send_request(target, message(_first_method(target), body))


def zero_width_map(target: Target) -> str:
    body = field(MAP, 1, map_header(STOP, VOID, MAX_I32)) + bytes([STOP])
    return send_request(target, message(_first_method(target), body))


def unknown_element_type(target: Target) -> str:
    body = field(SET, 3, list_header(17, MAX_I32)) + bytes([STOP])
    return send_request(target, message(_first_method(target), body))


def huge_declared_string(target: Target) -> str:
    body = field(STRUCT, 1, field(STRING, 2, struct.pack(">i", 0x7FFFFFF0))) + bytes([STOP])
    return send_request(target, message(_first_method(target), body))


def long_mechanism_name(target: Target) -> str:
    """A 65 KB SASL mechanism name before any login (the old redaction took 15 s per line)."""
    return send_handshake(target, sasl_frame(SASL_START, b"a" * 65000))


def long_user_wrong_password(target: Target) -> str:
    """A 65 KB user name with a wrong password (CUSTOM authentication)."""
    response = b"\0" + b"a" * 65000 + b"\0wrong-password"
    return send_handshake(target, sasl_frame(SASL_START, b"PLAIN") + sasl_frame(SASL_OK, response))


def long_method_name(target: Target) -> str:
    """An unknown method with a 100 KB name (the old redaction took 35 s per line)."""
    return send_request(target, message(b"a" * 100_000, bytes([STOP])))


def encode_call(name: str, request: Any, seqid: int = 1) -> bytes:
    """A CALL message for ``name`` carrying ``request``, encoded by thriftpy2."""
    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.thrift import TMessageType
    from thriftpy2.transport import TMemoryBuffer

    from engine.frontend.idl import TCLI

    buffer = TMemoryBuffer()
    protocol = TBinaryProtocol(buffer)
    protocol.write_message_begin(name, TMessageType.CALL, seqid)
    getattr(TCLI.TCLIService, f"{name}_args")(req=request).write(protocol)
    protocol.write_message_end()
    return buffer.getvalue()


def call(sock: socket.socket, mode: str, name: str, request: Any) -> Any:
    """Send one request on a raw socket and return the decoded response struct."""
    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.transport import TMemoryBuffer

    from engine.frontend.idl import TCLI

    payload = encode_call(name, request)
    sock.sendall(data_frame(payload) if mode == "SASL" else payload)
    if mode == "SASL":
        (length,) = struct.unpack(">I", recv_exact(sock, 4))
        replies = [recv_exact(sock, length)]
    else:
        replies = [sock.recv(65536)]
    while True:
        try:
            protocol = TBinaryProtocol(TMemoryBuffer(b"".join(replies)))
            protocol.read_message_begin()
            result = getattr(TCLI.TCLIService, f"{name}_result")()
            result.read(protocol)
            return result.success
        except Exception:
            if mode == "SASL":
                raise
            more = sock.recv(65536)  # NOSASL: the reply was not whole yet
            if not more:
                raise
            replies.append(more)


def _session_then(target: Target, request: Callable[[bytes], bytes], wait: float = 30.0) -> str:
    """Open a session on a raw socket, then send a hand-made request using its handle."""
    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.transport import TMemoryBuffer

    from engine.frontend.idl import TCLI

    with connect(target, timeout=wait) as sock:
        if target.mode == "SASL":
            login(sock, target.user, target.password)
        opened = call(
            sock, target.mode, "OpenSession", TCLI.TOpenSessionReq(client_protocol=5, username=target.user)
        )
        handle = TMemoryBuffer()
        opened.sessionHandle.write(TBinaryProtocol(handle))
        payload = request(handle.getvalue())
        sock.sendall(data_frame(payload) if target.mode == "SASL" else payload)
        return reaction(sock, wait)


def invalid_utf8_statement(target: Target) -> str:
    """ExecuteStatement whose statement is not valid UTF-8: a clear error, not "internal error"."""

    def request(session: bytes) -> bytes:
        request = field(STRUCT, 1, session) + field(STRING, 2, string(b"select \xff\xfe")) + bytes([STOP])
        return message("ExecuteStatement", field(STRUCT, 1, request) + bytes([STOP]), seqid=2)

    return _session_then(target, request)


def request_without_struct(target: Target) -> str:
    """ExecuteStatement with no TExecuteStatementReq at all, 50 times on one connection."""
    with connect(target) as sock:
        if target.mode == "SASL":
            login(sock, target.user, target.password)
        payload = message("ExecuteStatement", bytes([STOP]))
        frames = (data_frame(payload) if target.mode == "SASL" else payload) * 50
        sock.sendall(frames)
        return reaction(sock, 10.0)


def slow_drip_handshake(target: Target, interval: float = 0.3, longest: float = 30.0) -> str:
    """One byte of a SASL START frame at a time (NOSASL: of a request), forever: the engine must
    cut it at its login deadline (NOSASL: idle timeout) however often a byte arrives."""
    if target.mode == "SASL":
        frame = sasl_frame(SASL_START, b"PLAIN" * 2000)  # a START frame that is never complete
    else:  # an OpenSession whose user name is 1 MB long: never complete
        frame = (
            message("OpenSession", field(STRUCT, 1, field(STRING, 2, struct.pack(">i", 1 << 20))))
            + b"a" * 10000
        )
    started = time.monotonic()
    with connect(target) as sock:
        sock.settimeout(interval)
        for byte in frame:
            if time.monotonic() - started > longest:
                return HUNG
            try:
                sock.sendall(bytes([byte]))
                if not sock.recv(65536):
                    return CLOSED
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return CLOSED
        return HUNG


def idle_logged_in(target: Target, count: int, hold: float) -> str:
    """``count`` connections that log in and then say nothing for ``hold`` seconds."""
    sockets: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(count):
            sock = connect(target)
            sockets.append(sock)
            if target.mode == "SASL":
                try:
                    login(sock, target.user, target.password)
                except (ConnectionError, OSError):
                    refused += 1
        time.sleep(hold)  # the attack is holding the connections open
    finally:
        for sock in sockets:
            sock.close()
    return REFUSED if refused else ANSWERED


def statement(text: str | bytes) -> Callable[[Target], str]:
    """An ExecuteStatement (runAsync=false) with ``text``, on a fresh session."""

    def attack(target: Target) -> str:
        value = text.encode() if isinstance(text, str) else text

        def request(session: bytes) -> bytes:
            body = field(
                STRUCT,
                1,
                field(STRUCT, 1, session)
                + field(STRING, 2, string(value))
                + field(BOOL, 4, b"\x00")
                + bytes([STOP]),
            )
            return message("ExecuteStatement", body + bytes([STOP]), seqid=2)

        return _session_then(target, request, wait=120.0)

    return attack


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Target], str]
    modes: tuple[str, ...] = ("SASL", "NOSASL")
    repeat: bool = True  # run again and again while the probe measures


FRAME_ATTACKS = [
    Attack("zero-width list, 32 B", zero_width_list),
    Attack("60 nested zero-width lists, 344 B", nested_zero_width_lists),
    Attack("zero-width map", zero_width_map),
    Attack("unknown element type", unknown_element_type),
    Attack("2 GB declared string", huge_declared_string),
]
REDACTION_ATTACKS = [
    Attack("65 KB SASL mechanism name", long_mechanism_name, modes=("SASL",)),
    Attack("65 KB user, wrong password", long_user_wrong_password, modes=("SASL",)),
    Attack("100 KB method name", long_method_name),
]
REQUEST_ATTACKS = [
    Attack("invalid UTF-8 statement", invalid_utf8_statement),
    Attack("50 requests without a struct", request_without_struct),
]
# Issue 11 item 3: statements whose regexes were super-linear; the parser classifies them in
# time linear in their size (statement.max.length bounds it).
STATEMENT_ATTACKS = [
    Attack('"set a" + 2500 spaces + "b"', statement("set a" + " " * 2500 + "b"), modes=("SASL",)),
    Attack("60 KB USE", statement("USE " + "a" * 60_000), modes=("SASL",)),
    Attack("480 KB of select from (", statement("select from (" * 37_000), modes=("SASL",)),
    Attack("1 MB __sql: SELECT 1+1+...", statement("__sql: SELECT 1" + "+1" * 500_000), modes=("SASL",)),
]
ALL_ATTACKS = FRAME_ATTACKS + REDACTION_ATTACKS + REQUEST_ATTACKS + STATEMENT_ATTACKS


def under_attack(
    attack: Attack, target: Target, probe_target: Target, duration: float
) -> tuple[ProbeResult, list[str]]:
    """Run ``attack`` (again and again for ``duration`` s, unless it runs once) while a probe
    measures; return the probe's result and the attack's outcomes."""
    outcomes: list[str] = []
    with Probe(probe_target) as probe:
        deadline = time.monotonic() + duration
        while True:
            outcomes.append(attack.run(target))
            if not attack.repeat or time.monotonic() >= deadline:
                break
        if not attack.repeat:
            time.sleep(0.2)
    return probe.result, outcomes


def quiet_baseline(probe_target: Target, duration: float) -> ProbeResult:
    with Probe(probe_target) as probe:
        time.sleep(duration)
    return probe.result
