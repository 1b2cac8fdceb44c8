"""The byte stream under thriftpy2's C-accelerated buffered transport.

``TCyBufferedTransport`` pulls bytes with ``read(n)`` and pushes a whole reply with ``write`` +
``flush``. This class supplies them from a socket:

* NOSASL: the raw stream;
* SASL PLAIN (no security layer): ``length:u32 | payload`` frames in both directions.

It enforces ``kyuubi.frontend.thrift.max.message.size``: a frame, a single value or a whole
message larger than that is refused (:class:`OversizedMessageError`) and the connection closes.
"""

from __future__ import annotations

import socket
import struct

from thriftpy2.transport import TTransportException

_LENGTH = struct.Struct(">I")
_RECV_CHUNK = 256 * 1024


class OversizedMessageError(TTransportException):
    def __init__(self, message: str) -> None:
        super().__init__(TTransportException.UNKNOWN, message)


class MalformedFrameError(TTransportException):
    def __init__(self, message: str) -> None:
        super().__init__(TTransportException.UNKNOWN, message)


class SocketStream:
    def __init__(self, sock: socket.socket, *, framed: bool, max_message_size: int) -> None:
        self.sock = sock
        self.framed = framed
        self.max_message_size = max_message_size
        self._frame_left = 0
        self._budget = max_message_size
        self._pending: list[bytes] = []
        self.bytes_in = 0
        self.bytes_out = 0

    # --- the TTransport surface used by TCyBufferedTransport --------------------------------
    def is_open(self) -> bool:
        return self.sock.fileno() >= 0

    def open(self) -> None:  # pragma: no cover - server side sockets arrive open
        pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def begin_message(self) -> None:
        """Reset the per-message byte budget (called before each request is read)."""
        self._budget = self.max_message_size

    def read(self, size: int) -> bytes:
        # TCyBufferedTransport asks for (buffer capacity - buffered), and grows its buffer first
        # when one value needs more: a request this large means a value beyond the limit.
        if size > self.max_message_size + _RECV_CHUNK:
            raise OversizedMessageError(
                f"a value of about {size} bytes exceeds the {self.max_message_size}-byte message limit"
            )
        if self.framed:
            if self._frame_left == 0:
                self._next_frame()
            size = min(size, self._frame_left)
        data = self._recv(min(size, _RECV_CHUNK))
        if self.framed:
            self._frame_left -= len(data)
        self._budget -= len(data)
        if self._budget < 0:
            raise OversizedMessageError(f"message exceeds the {self.max_message_size}-byte limit")
        return data

    def write(self, data: bytes) -> None:
        # The buffered transport hands over its buffer whenever it fills; keep the pieces so a
        # reply leaves as one SASL frame and one sendall.
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        payload = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if self.framed:
            self.sock.sendall(_LENGTH.pack(len(payload)) + payload)
        else:
            self.sock.sendall(payload)
        self.bytes_out += len(payload)

    def discard(self) -> None:
        """Drop a reply that failed half-way through encoding."""
        self._pending.clear()

    # --- internals --------------------------------------------------------------------------
    def _recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        if not data:
            raise TTransportException(TTransportException.END_OF_FILE, "peer closed the connection")
        self.bytes_in += len(data)
        return data

    def _next_frame(self) -> None:
        header = b""
        while len(header) < _LENGTH.size:
            header += self._recv(_LENGTH.size - len(header))
        (length,) = _LENGTH.unpack(header)
        if length == 0:
            raise MalformedFrameError("empty SASL data frame")
        if length > self.max_message_size:
            raise OversizedMessageError(
                f"frame of {length} bytes exceeds the {self.max_message_size}-byte message limit"
            )
        self._frame_left = length
