"""The byte stream under thriftpy2's C-accelerated buffered transport.

Requests are read whole before thriftpy2 sees a byte of them: :meth:`SocketStream.next_message`
receives one Thrift message (from the raw socket, or out of SASL ``length:u32 | payload`` data
frames), walks its structure with :class:`engine.frontend.validator.MessageScanner`, and only then
lets ``read`` hand exactly those bytes to ``TCyBufferedTransport``. A request thriftpy2 would
loop on (zero-width containers), or one larger than ``kyuubi.frontend.thrift.max.message.size``,
is refused (:class:`~engine.frontend.validator.MalformedMessageError`) and the connection closes.

Replies go out through ``write`` + ``flush``: one SASL frame (or one ``sendall``) per reply. The
last message and the last reply stay readable (``message``, ``last_reply``) for
:mod:`engine.frontend.replay`.
"""

from __future__ import annotations

import socket
import struct

from engine.frontend.replay import Replay
from engine.frontend.validator import MalformedMessageError, MessageScanner, OversizedMessageError

_LENGTH = struct.Struct(">I")
_RECV_CHUNK = 64 * 1024


class PeerClosedError(ConnectionError):
    """The client closed the connection (cleanly between messages, or in the middle of one)."""

    def __init__(self, mid_message: bool) -> None:
        super().__init__(
            "peer closed the connection" + (" in the middle of a request" if mid_message else "")
        )
        self.mid_message = mid_message


class SocketStream:
    def __init__(
        self,
        sock: socket.socket,
        *,
        framed: bool,
        max_message_size: int,
        max_container_length: int,
    ) -> None:
        self.sock = sock
        self.framed = framed
        self.max_message_size = max_message_size
        self.max_container_length = max_container_length
        self._scratch = bytearray(_RECV_CHUNK)
        self._raw = bytearray()  # SASL mode: received bytes not yet taken out of their frame
        self._frame_left = 0
        self._in = bytearray()  # message bytes received, starting with the next message
        self._scanner = MessageScanner(self._in, self._fill, max_message_size, max_container_length)
        self._ready = b""  # the validated message not yet read by the transport
        self.message = b""  # the whole of the last validated message
        self.last_reply = b""  # the payload of the last reply sent
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

    def next_message(self) -> int:
        """Receive and check the next whole request; return its size. Blocks until it is in.

        Raises :class:`PeerClosedError`, :class:`MalformedMessageError`, ``TimeoutError`` (the
        socket's timeout; the partial message is kept and a later call resumes) or ``OSError``.
        """
        size = self._scanner.scan()
        if size == len(self._in):
            self._ready = bytes(self._in)
            self._in.clear()
        else:  # the client already sent (part of) its next request
            with memoryview(self._in) as view:
                self._ready = bytes(view[:size])
            del self._in[:size]
        self.message = self._ready
        return size

    def answer_repeats(self, request: bytes, replay: Replay) -> int:
        """Answer ``request`` sent again (bar its sequence id) from ``replay`` while it holds, in
        one tight loop: beeline's per-row status call costs a receive and a send. Returns how many
        were answered once anything else arrives (kept for :meth:`next_message`)."""
        if self._raw or self._in or self._frame_left:
            return 0
        sock, scratch = self.sock, self._scratch
        prefix = _LENGTH.pack(len(request)) if self.framed else b""
        seqid = len(prefix) + replay.SEQID
        size = len(prefix) + len(request)
        expect_head = prefix + request[: replay.SEQID]
        expect_tail = request[replay.SEQID + 4 :]
        reply_length = len(replay.head) + 4 + len(replay.tail)
        reply_head = (_LENGTH.pack(reply_length) if self.framed else b"") + replay.head
        reply_tail, holds = replay.tail, replay.holds
        answered = 0
        while True:
            got = sock.recv_into(scratch)
            if not got:
                raise PeerClosedError(False)
            self.bytes_in += got
            if (
                got == size
                and scratch.startswith(expect_head)
                and scratch.endswith(expect_tail, 0, got)
                and holds()
            ):
                sock.sendall(reply_head + scratch[seqid : seqid + 4] + reply_tail)
                self.bytes_out += reply_length
                answered += 1
                continue
            with memoryview(scratch) as view:
                if self.framed:
                    self._raw += view[:got]
                else:
                    self._in += view[:got]
            return answered

    def skip(self) -> None:
        """The validated message was answered without being decoded: drop it."""
        self._ready = b""

    def read(self, size: int) -> bytes:
        ready = self._ready
        if not ready:
            # The decoder wants more than the message the walk accepted: never hand it bytes
            # that were not checked.
            raise MalformedMessageError("the request does not decode within its own bytes")
        if size >= len(ready):
            self._ready = b""
            return ready
        self._ready = ready[size:]
        return ready[:size]

    def write(self, data: bytes) -> None:
        # The buffered transport hands over its buffer whenever it fills; keep the pieces so a
        # reply leaves as one SASL frame and one sendall.
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        payload = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self.send(payload)

    def send(self, payload: bytes) -> None:
        """Send one whole reply at once (nothing may be pending)."""
        if self.framed:
            self.sock.sendall(_LENGTH.pack(len(payload)) + payload)
        else:
            self.sock.sendall(payload)
        self.bytes_out += len(payload)
        self.last_reply = payload

    def discard(self) -> None:
        """Drop a reply that failed half-way through encoding."""
        self._pending.clear()

    @property
    def mid_message(self) -> bool:
        """True while part of a request has arrived and the rest has not."""
        return bool(self._in) or self._frame_left > 0 or bool(self._raw)

    # --- internals --------------------------------------------------------------------------
    def _recv(self, into_raw: bool) -> None:
        got = self.sock.recv_into(self._scratch)
        if not got:
            raise PeerClosedError(self.mid_message)
        self.bytes_in += got
        target = self._raw if into_raw else self._in
        with memoryview(self._scratch) as view:
            target += view[:got]

    def _fill(self, needed: int) -> int:
        """Receive until the current message buffer holds ``needed`` bytes; return its length."""
        buffer = self._in
        while len(buffer) < needed:
            if not self.framed:
                self._recv(into_raw=False)
                continue
            if self._frame_left == 0:
                self._next_frame()
            if not self._raw:
                self._recv(into_raw=True)
            take = min(self._frame_left, len(self._raw))
            if take == len(self._raw):
                buffer += self._raw
                self._raw.clear()
            else:
                with memoryview(self._raw) as view:
                    buffer += view[:take]
                del self._raw[:take]
            self._frame_left -= take
        return len(buffer)

    def _next_frame(self) -> None:
        while len(self._raw) < _LENGTH.size:
            self._recv(into_raw=True)
        (length,) = _LENGTH.unpack_from(self._raw)
        del self._raw[: _LENGTH.size]
        if length == 0:
            raise MalformedMessageError("empty SASL data frame")
        if length > self.max_message_size:
            raise OversizedMessageError(
                f"frame of {length} bytes exceeds the {self.max_message_size}-byte message limit"
            )
        self._frame_left = length
