"""A structural check of one binary-protocol Thrift message, done before thriftpy2 decodes it.

thriftpy2's C decoder has a depth limit but no container or string limits, and it skips a value
of a type it does not expect once per declared element, without reading a byte when the element
type has no width (STOP, VOID, unknown type ids). A 32-byte list of 2^31 such elements kept the
interpreter lock for seconds. This walk refuses, before any decoding:

* a container whose element type is zero-width or unknown while its count is not zero;
* a container whose count times the smallest encoding of its elements exceeds the bytes the
  message may still hold (``max_message_size``), or whose count exceeds ``max_container_length``;
* a string or binary value longer than the bytes the message may still hold, or negative;
* nesting deeper than thriftpy2's own limit, an unknown message version or message type.

Each step of the walk consumes at least one byte of the message, except the fixed-width runs it
skips in one step, so its work is linear in the message size. The walk follows the bytes (wire
types), which is also what thriftpy2 does wherever a wire type differs from the IDL's (it skips).
The one place thriftpy2 trusts the IDL instead of the wire is a map whose wire key or value type
is string or binary: it reads the IDL's type there. Every map of a request in TCLIService has
string keys and values, so both walks consume the same bytes; a test keeps that true.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

VERSION_1 = -2147418112  # 0x80010000 as a signed i32
VERSION_MASK = -65536  # 0xffff0000
CALL, ONEWAY = 1, 4
MAX_DEPTH = 64  # thriftpy2's DEFAULT_MAX_DEPTH: the outermost struct counts one
MEMO_SIZE = 512  # bytes: a request up to this size is remembered, and a repeat of it not walked again

T_STOP, T_STRUCT, T_MAP, T_SET, T_LIST = 0, 12, 13, 14, 15
_STRING_TYPES = frozenset((11, 18))  # STRING, BINARY (thriftpy2 writes both as 11)

# Width of the fixed-width types (BOOL, BYTE, DOUBLE, I16, I32, I64); 0 elsewhere.
_FIXED = [0] * 256
for _type, _width in ((2, 1), (3, 1), (4, 8), (6, 2), (8, 4), (10, 8)):
    _FIXED[_type] = _width
# Smallest encoding of one value of each type; 0 marks a type that is malformed as an element.
_MIN_WIDTH = list(_FIXED)
for _type, _width in ((11, 4), (18, 4), (T_STRUCT, 1), (T_MAP, 6), (T_SET, 5), (T_LIST, 5)):
    _MIN_WIDTH[_type] = _width

_I32 = struct.Struct(">i").unpack_from
_HEADER = struct.Struct(">ii").unpack_from  # version | type, length of the method name


class MalformedMessageError(Exception):
    """The bytes are not a well-formed Thrift message (or one beyond a limit)."""


class OversizedMessageError(MalformedMessageError):
    """The message, or a value it declares, exceeds ``max_message_size``."""


def scan_message(
    buf: bytearray,
    fill: Callable[[int], int],
    *,
    max_message_size: int,
    max_container_length: int,
) -> int:
    """Walk the message at the start of ``buf``; return its length in bytes (see
    :class:`MessageScanner`)."""
    return MessageScanner(buf, fill, max_message_size, max_container_length).scan()


class MessageScanner:
    """Walks the message at the start of ``buf``, one message per :meth:`scan`. Positions are
    offsets into ``buf``; ``have`` is its length. ``fill(n)`` must make ``len(buf) >= n``
    (receiving more bytes into ``buf``) and return the new length; it raises when the peer goes
    away, and is never asked for more than ``max_message_size`` bytes.

    A value is skipped by adding its width to the position before its bytes have arrived; the
    next read (or the end of the walk) makes sure they have.
    """

    __slots__ = ("buf", "fill", "have", "last", "limit", "max_length")

    def __init__(self, buf: bytearray, fill: Callable[[int], int], limit: int, max_length: int) -> None:
        self.buf = buf
        self.fill = fill
        self.limit = limit
        self.max_length = max_length
        self.have = 0
        self.last = b""  # the last small message walked: a repeat of it (bar the seqid) is not walked

    def scan(self) -> int:
        """The length in bytes of the well-formed message at the start of ``buf``."""
        buf = self.buf
        self.have = len(buf)
        if self.have < 8:
            self.need(8)
        version, name_length = _HEADER(buf, 0)
        if version >= 0 or version & VERSION_MASK != VERSION_1:
            raise MalformedMessageError("not a strict binary-protocol Thrift message (bad version header)")
        if version & 0xFF not in (CALL, ONEWAY):
            raise MalformedMessageError(f"unexpected Thrift message type {version & 0xFF}")
        if name_length < 0 or 12 + name_length > self.limit:
            raise OversizedMessageError(f"method name of {name_length} bytes does not fit the message limit")
        seqid = 8 + name_length
        last = self.last
        end = len(last)
        if (
            end
            and self.have >= end
            and buf[:seqid] == last[:seqid]
            and buf[seqid + 4 : end] == last[seqid + 4 : end]
        ):
            # the same bytes as the last message but its sequence number (beeline asks for the
            # status once per row): the walk, which never reads the seqid, would end there again
            return end
        end = self.struct(seqid + 4, 1)  # after the name and the seqid: the arguments
        if end > self.have:
            self.need(end)
        self.last = bytes(buf[:end]) if end <= MEMO_SIZE else b""
        return end

    def need(self, end: int) -> None:
        if end > self.limit:
            raise OversizedMessageError(f"message exceeds the {self.limit}-byte limit")
        self.have = self.fill(end)

    def struct(self, pos: int, depth: int) -> int:
        """The fields of a struct up to its STOP, nested structs included: the hot loop (most
        requests are structs of structs, walked here without a call per struct)."""
        if depth > MAX_DEPTH:
            raise MalformedMessageError(f"Thrift values nested deeper than {MAX_DEPTH} levels")
        buf, fixed, limit = self.buf, _FIXED, self.limit
        have, base = self.have, depth - 1
        while True:
            if pos >= have:
                self.need(pos + 1)
                have = self.have
            ttype = buf[pos]
            if ttype == T_STOP:
                pos += 1
                depth -= 1
                if depth == base:
                    return pos
                continue
            pos += 3  # type, field id
            width = fixed[ttype]
            if width:
                pos += width
            elif ttype == 11 or ttype == 18:
                if pos + 4 > have:
                    self.need(pos + 4)
                    have = self.have
                size = _I32(buf, pos)[0]
                if size < 0 or pos + 4 + size > limit:
                    raise _string_error(size, limit - pos - 4)
                pos += 4 + size
            elif ttype == T_STRUCT:
                depth += 1
                if depth > MAX_DEPTH:
                    raise MalformedMessageError(f"Thrift values nested deeper than {MAX_DEPTH} levels")
            else:
                pos = self.value(ttype, pos, depth + 1)
                have = self.have

    def value(self, ttype: int, pos: int, depth: int) -> int:
        width = _FIXED[ttype]
        if width:
            return pos + width
        if ttype in _STRING_TYPES:
            return self.strings(pos, 1)
        if ttype == T_STRUCT:
            return self.struct(pos, depth)
        if depth > MAX_DEPTH:
            raise MalformedMessageError(f"Thrift values nested deeper than {MAX_DEPTH} levels")
        buf = self.buf
        if ttype == T_LIST or ttype == T_SET:
            if pos + 5 > self.have:
                self.need(pos + 5)
            element = buf[pos]
            count = _I32(buf, pos + 1)[0]
            pos += 5
            if count == 0:
                return pos
            element_width = self.check_container(count, _MIN_WIDTH[element], pos)
            if _FIXED[element]:
                return pos + count * element_width
            if element in _STRING_TYPES:
                return self.strings(pos, count)
            for _ in range(count):
                pos = self.value(element, pos, depth + 1)
            return pos
        if ttype == T_MAP:
            if pos + 6 > self.have:
                self.need(pos + 6)
            key, value = buf[pos], buf[pos + 1]
            count = _I32(buf, pos + 2)[0]
            pos += 6
            if count == 0:
                return pos
            key_width, value_width = _MIN_WIDTH[key], _MIN_WIDTH[value]
            self.check_container(count, key_width and value_width and key_width + value_width, pos)
            if _FIXED[key] and _FIXED[value]:
                return pos + count * (key_width + value_width)
            for _ in range(count):
                pos = self.value(key, pos, depth + 1)
                pos = self.value(value, pos, depth + 1)
            return pos
        raise MalformedMessageError(f"unknown or zero-width Thrift type id {ttype}")

    def strings(self, pos: int, count: int) -> int:
        """Skip ``count`` strings (one, or the elements of the common list<string>)."""
        buf, limit = self.buf, self.limit
        for _ in range(count):
            if pos + 4 > self.have:
                self.need(pos + 4)
            size = _I32(buf, pos)[0]
            if size < 0 or pos + 4 + size > limit:
                raise _string_error(size, limit - pos - 4)
            pos += 4 + size
        return pos

    def check_container(self, count: int, element_width: int, pos: int) -> int:
        if count < 0:
            raise MalformedMessageError(f"negative container size {count}")
        if element_width == 0:
            raise MalformedMessageError(f"a container of {count} elements of an unknown or zero-width type")
        if count > self.max_length:
            raise OversizedMessageError(
                f"a container of {count} elements exceeds the limit of {self.max_length}"
            )
        room = self.limit - pos
        if count * element_width > room:
            raise OversizedMessageError(
                f"a container of {count} elements needs at least {count * element_width} bytes; "
                f"the message may hold only {max(room, 0)} more"
            )
        return element_width


def _string_error(size: int, room: int) -> MalformedMessageError:
    if size < 0:
        return MalformedMessageError(f"negative string size {size}")
    return OversizedMessageError(
        f"a string of {size} bytes does not fit in the {max(room, 0)} bytes the message may still hold"
    )
