"""Settled GetOperationStatus replies, sent again without decoding the request.

beeline and hive-jdbc 2.3 ask for the operation's status before every row they read: 100,000 rows
are 100,000 GetOperationStatus calls for an operation that finished long ago. The first call of
each takes the normal path (decode, look the operation up, encode); when the handler reports that
its answer is settled (:meth:`engine.backend.BackendService.settled_status`), the connection keeps
the encoded reply here, keyed by the request's bytes without their sequence id. A later request
with the same bytes is answered from those bytes with the new sequence id patched in, as long as
the settled state still holds (a close or any change of state ends it at once).

The request is still received whole and walked by the structure check first; only the decode,
the lookup and the encode are skipped. The cache belongs to one connection (one user, handles it
has already been allowed to read) and keeps at most ``capacity`` replies.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from engine.frontend.validator import CALL, VERSION_1

_NAME = b"GetOperationStatus"
_REPLY = 2
_SEQID = 8 + len(_NAME)  # offset of the sequence id in a strict binary message of that name
_REQUEST_HEADER = struct.pack(">iI", VERSION_1 | CALL, len(_NAME)) + _NAME
_REPLY_HEADER = struct.pack(">iI", VERSION_1 | _REPLY, len(_NAME)) + _NAME
MAX_REQUEST = 512  # bytes: a status request is ~60 bytes; anything longer is not remembered


@dataclass(frozen=True, slots=True)
class Replay:
    """A settled reply: its bytes before and after the sequence id (at :attr:`SEQID` in both the
    request and the reply), while ``holds()``."""

    SEQID: ClassVar[int] = _SEQID

    head: bytes
    tail: bytes
    holds: Callable[[], bool]

    def reply(self, request: bytes) -> bytes:
        return self.head + request[_SEQID : _SEQID + 4] + self.tail


class SettledReplies:
    __slots__ = ("_capacity", "_replies")

    def __init__(self, capacity: int = 16) -> None:
        self._capacity = capacity
        # request bytes after the sequence id -> its settled reply
        self._replies: dict[bytes, Replay] = {}

    @staticmethod
    def _key(request: bytes) -> bytes | None:
        if len(request) > MAX_REQUEST or not request.startswith(_REQUEST_HEADER):
            return None
        return request[_SEQID + 4 :]

    def lookup(self, request: bytes) -> Replay | None:
        """The settled reply to ``request`` (send ``replay.reply(request)``), or None: take the
        normal path."""
        if not self._replies:
            return None
        key = self._key(request)
        replay = self._replies.get(key) if key is not None else None
        if replay is None:
            return None
        if not replay.holds():
            del self._replies[key]  # type: ignore[arg-type]
            return None
        return replay

    def remember(self, request: bytes, payload: bytes, holds: Callable[[], bool]) -> None:
        """Keep ``payload`` (the reply just sent to ``request``) while ``holds()``."""
        key = self._key(request)
        if key is None or not payload.startswith(_REPLY_HEADER):
            return
        if key not in self._replies and len(self._replies) >= self._capacity:
            self._replies.pop(next(iter(self._replies)))
        self._replies[key] = Replay(payload[:_SEQID], payload[_SEQID + 4 :], holds)

    def __len__(self) -> int:
        return len(self._replies)
