"""Catalog domain types shared by the layers that read a datasource's catalog and the ones that
present it (metadata RPCs, Hive's SHOW/DESCRIBE forms, the schema tools), and the one converter
of name patterns.

Name patterns come in two flavours:

- JDBC ``DatabaseMetaData`` patterns (metadata RPCs, the schema tools): ``%`` any run of
  characters, ``_`` one character, ``\\`` escapes either. As in HiveServer2, ``*`` and ``.*``
  (what impyla sends) also match any run.
- Hive's ``SHOW ... LIKE`` patterns: ``*`` (and ``%``) any run, ``|`` separates alternatives,
  everything else literal.

Matching ignores case (as Hive's metastore does) and never uses a regular expression: a pattern
is a list of literal characters and wildcards matched by the classic two-pointer glob algorithm,
whose cost is bounded by ``len(pattern) * len(name)`` whatever the input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from engine.common.types import ColumnSpec

# Schemas that hold the database's own catalog, hidden from clients; ``pg_*`` schemas as well.
SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys"}
)
TABLE_TYPES = ("TABLE", "VIEW")
MAX_PATTERN_LENGTH = 1024


def is_system_schema(name: str) -> bool:
    lowered = name.lower()
    return lowered in SYSTEM_SCHEMAS or lowered.startswith("pg_")


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str  # TABLE or VIEW
    remarks: str = ""


@dataclass(frozen=True)
class ColumnInfo:
    spec: ColumnSpec  # name, Hive type (with precision/scale/length) and comment
    ordinal: int  # 1-based
    nullable: bool = True
    default: str | None = None
    autoincrement: bool = False
    source_type: str = ""  # the datasource's own type name


@dataclass(frozen=True)
class ForeignKey:
    name: str | None
    schema: str
    table: str
    columns: tuple[str, ...]
    referred_schema: str
    referred_table: str
    referred_columns: tuple[str, ...]


class PatternFlavor(enum.Enum):
    JDBC = "jdbc"
    HIVE = "hive"


_ANY = object()  # any run of characters
_ONE = object()  # exactly one character
_Item = object  # a casefolded character (str), _ANY or _ONE


@dataclass(frozen=True)
class NamePattern:
    """A compiled name pattern; ``alternatives`` is empty when it matches every name."""

    alternatives: tuple[tuple[_Item, ...], ...]

    @classmethod
    def compile(cls, pattern: str | None, flavor: PatternFlavor = PatternFlavor.JDBC) -> NamePattern:
        if pattern is None or pattern in ("", "%", "*"):
            return cls(())
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise ValueError(f"a name pattern may hold at most {MAX_PATTERN_LENGTH} characters")
        if flavor is PatternFlavor.HIVE:
            parts = [part.strip() for part in pattern.replace("''", "'").split("|")]
            return cls(tuple(_hive_items(part) for part in parts))
        return cls((_jdbc_items(pattern),))

    @property
    def matches_all(self) -> bool:
        return not self.alternatives

    def matches(self, name: str) -> bool:
        if not self.alternatives:
            return True
        folded = name.casefold()
        return any(_glob(items, folded) for items in self.alternatives)


def _jdbc_items(pattern: str) -> tuple[_Item, ...]:
    items: list[_Item] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            items.append(pattern[index + 1].casefold())
            index += 2
            continue
        if pattern.startswith(".*", index):  # HiveServer2 passes regex wildcards through
            items.append(_ANY)
            index += 2
            continue
        items.append(_ANY if char in "%*" else _ONE if char == "_" else char.casefold())
        index += 1
    return tuple(items)


def _hive_items(pattern: str) -> tuple[_Item, ...]:
    return tuple(_ANY if char in "*%" else char.casefold() for char in pattern)


def _glob(items: tuple[_Item, ...], name: str) -> bool:
    """Two-pointer wildcard matching: on a mismatch, retry from the last ``_ANY`` one character on."""
    p = n = 0
    star_p, star_n = -1, 0
    while n < len(name):
        if p < len(items) and items[p] is not _ANY and (items[p] is _ONE or items[p] == name[n]):
            p += 1
            n += 1
        elif p < len(items) and items[p] is _ANY:
            star_p, star_n = p, n
            p += 1
        elif star_p >= 0:
            star_n += 1
            p, n = star_p + 1, star_n
        else:
            return False
    while p < len(items) and items[p] is _ANY:
        p += 1
    return p == len(items)


def is_literal_pattern(pattern: str | None) -> bool:
    """True when a JDBC ``pattern`` names exactly one object (no unescaped ``%``, ``_`` or ``*``)."""
    if not pattern:
        return False
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "%_*":
            return False
    return True


def unescape_pattern(pattern: str) -> str:
    """A literal JDBC pattern's name: ``\\x`` becomes ``x``."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    if escaped:
        out.append("\\")
    return "".join(out)


def escape_pattern(name: str) -> str:
    """The JDBC pattern that matches exactly ``name``."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%").replace("*", "\\*")
