"""Server side of the SASL handshake that HiveServer2 clients speak before Thrift (PLAIN only).

Every handshake frame is ``status:u8 | length:u32 big-endian | payload``. The client opens with
``START`` carrying the mechanism name, then sends its PLAIN response
(``authzid NUL authcid NUL password``) with status ``OK`` (Python's thrift_sasl) or ``COMPLETE``
(Java). We answer ``COMPLETE`` on success, ``BAD``/``ERROR`` with a reason otherwise. After it,
PLAIN has no security layer: data frames are ``length:u32 | payload``.

Every read of the handshake shares one deadline (``kyuubi.frontend.thrift.login.timeout``), so a
client that drips a byte now and then is still cut when the deadline passes.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from engine.common.errors import AuthenticationError
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


class Authenticator:
    """NONE: any user and password are accepted; the user is the SASL authcid."""

    def authenticate(self, credentials: Credentials) -> None:
        if not credentials.authcid:
            raise AuthenticationError("SASL PLAIN: empty user name")


class PasswordFileAuthenticator(Authenticator):
    """CUSTOM: ``user:sha256-hex(password)`` lines; ``#`` starts a comment. Read on every login,
    so an edited file takes effect without a restart."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries()  # fail at start when the file is unreadable or malformed

    def _entries(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthenticationError(f"cannot read the password file: {exc.strerror}") from None
        entries: dict[str, str] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, digest = line.rpartition(":")
            if not sep or not user or len(digest) != 64:
                raise AuthenticationError(f"password file line {number}: expected user:sha256-hex")
            entries[user] = digest.lower()
        return entries

    def authenticate(self, credentials: Credentials) -> None:
        super().authenticate(credentials)
        expected = self._entries().get(credentials.authcid)
        offered = hashlib.sha256(credentials.password.encode("utf-8")).hexdigest()
        # compare even for unknown users so timing does not reveal who exists
        if not hmac.compare_digest(offered, expected or "0" * 64) or expected is None:
            raise AuthenticationError(f"authentication failed for user {clip(credentials.authcid)}")


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
