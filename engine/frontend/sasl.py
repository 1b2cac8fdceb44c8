"""Server side of the SASL handshake that HiveServer2 clients speak before Thrift (PLAIN only).

Every handshake frame is ``status:u8 | length:u32 big-endian | payload``. The client opens with
``START`` carrying the mechanism name, then sends its PLAIN response
(``authzid NUL authcid NUL password``) with status ``OK`` (Python's thrift_sasl) or ``COMPLETE``
(Java). We answer ``COMPLETE`` on success, ``BAD``/``ERROR`` with a reason otherwise. After it,
PLAIN has no security layer: data frames are ``length:u32 | payload``. The credentials are checked
by the configured :class:`engine.auth.PasswordAuthenticator`.

Every read of the handshake shares one deadline (``kyuubi.frontend.thrift.login.timeout``), so a
client that drips a byte now and then is still cut when the deadline passes.
"""

from __future__ import annotations

import enum
import logging
import socket
import struct
import time
from dataclasses import dataclass

from engine.common.redaction import clip

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">BI")
MAX_HANDSHAKE_FRAME = 64 * 1024  # a mechanism name or a PLAIN response is tiny


class SaslStatus(enum.IntEnum):
    START = 1
    OK = 2
    BAD = 3
    ERROR = 4
    COMPLETE = 5


class SaslError(Exception):
    """A broken or refused handshake; the connection is closed after the reply."""

    def __init__(self, message: str, status: SaslStatus = SaslStatus.ERROR) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    authzid: str
    authcid: str
    password: str


def read_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    """``size`` bytes, or TimeoutError once ``deadline`` (``time.monotonic()``) has passed: a
    deadline for the whole handshake, not a timeout that restarts with every byte."""
    chunks = bytearray()
    while len(chunks) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the SASL handshake passed its deadline")
        sock.settimeout(remaining)
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise SaslError("connection closed during the SASL handshake")
        chunks += chunk
    return bytes(chunks)


def read_frame(sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    status, length = _HEADER.unpack(read_exact(sock, _HEADER.size, deadline))
    if status not in SaslStatus.__members__.values():
        raise SaslError(f"not a SASL frame (status byte {status}); is the client using NOSASL?")
    if length > MAX_HANDSHAKE_FRAME:
        raise SaslError(f"SASL handshake frame of {length} bytes is too large")
    return status, read_exact(sock, length, deadline)


def send_frame(sock: socket.socket, status: SaslStatus, payload: bytes = b"") -> None:
    sock.sendall(_HEADER.pack(int(status), len(payload)) + payload)


def parse_plain(payload: bytes) -> Credentials:
    parts = payload.split(b"\x00")
    if len(parts) != 3:
        raise SaslError("malformed SASL PLAIN response: expected authzid NUL authcid NUL password")
    try:
        authzid, authcid, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        raise SaslError("malformed SASL PLAIN response: not UTF-8") from None
    return Credentials(authzid, authcid, password)


def read_credentials(sock: socket.socket, deadline: float) -> Credentials:
    """The client's side of the handshake up to its PLAIN response (not yet checked).

    A broken handshake is answered with ERROR or BAD and raised as :class:`SaslError`.
    """
    try:
        status, mechanism = read_frame(sock, deadline)
        if status != SaslStatus.START:
            raise SaslError(f"expected a SASL START frame, got status {status}")
        name = mechanism.decode("ascii", "replace").strip().upper()
        if name != "PLAIN":
            raise SaslError(f"unsupported SASL mechanism {clip(name)}; use PLAIN", SaslStatus.BAD)
        status, response = read_frame(sock, deadline)
        if status not in (SaslStatus.OK, SaslStatus.COMPLETE):
            raise SaslError(f"expected a SASL response frame, got status {status}")
        return parse_plain(response)
    except SaslError as exc:
        refuse(sock, exc.status, str(exc))
        raise


def complete(sock: socket.socket) -> None:
    send_frame(sock, SaslStatus.COMPLETE)


def refuse(sock: socket.socket, status: SaslStatus, message: str) -> None:
    """Tell the client why its handshake ends (best effort)."""
    try:
        send_frame(sock, status, message.encode("utf-8")[:4096])
    except OSError:
        pass
