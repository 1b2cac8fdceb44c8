"""What the read-only guard learns from the datasource before it checks a statement.

The datasource layer reads these facts from the database itself (PostgreSQL's ``pg_proc``) and
hands them to the guard in ``engine.tools`` as plain values; the guard never talks to the database.

- :class:`FunctionPolicy`: the worst volatility (``pg_proc.provolatile``) of the overloads of every
  function name, per schema. A name the policy does not know is a name the guard refuses. A policy
  whose catalog could not be read (:meth:`FunctionPolicy.unavailable`) knows no name at all.
- :class:`ReadPolicy`: the function policy (None where the dialect has no such catalog) and the
  schema unqualified table names resolve to (MySQL/MariaDB: the connection's database).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Volatility(enum.Enum):
    """PostgreSQL's function volatility classes, in increasing order of what a call may do."""

    IMMUTABLE = "i"  # same result for the same arguments, touches nothing
    STABLE = "s"  # reads the database, writes nothing
    VOLATILE = "v"  # anything: writes, locks, files, randomness, time

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def reads_only(self) -> bool:
        """True for IMMUTABLE and STABLE: the catalog promises the call changes nothing."""
        return self is not Volatility.VOLATILE

    @classmethod
    def from_code(cls, code: str) -> Volatility:
        """The class for a ``provolatile`` code; an unknown code is VOLATILE (fail closed)."""
        for member in cls:
            if member.value == code:
                return member
        return cls.VOLATILE


_RANKS = {Volatility.IMMUTABLE: 0, Volatility.STABLE: 1, Volatility.VOLATILE: 2}


def _worst(codes: Iterable[str]) -> Volatility:
    found = [Volatility.from_code(code) for code in codes]
    return max(found, key=lambda v: v.rank) if found else Volatility.VOLATILE


@dataclass(frozen=True)
class FunctionPolicy:
    """Function names and their worst volatility per schema, as the database's catalog declares it.

    ``by_name[name][schema]`` is the worst volatility of the overloads of ``name`` (exact case, as
    the catalog stores it) in ``schema``. ``source`` says where the facts came from, or why there
    are none when ``available`` is False.
    """

    by_name: Mapping[str, Mapping[str, Volatility]] = field(compare=False)
    source: str
    available: bool = True

    @classmethod
    def from_catalog(cls, rows: Iterable[tuple[str, str, str]], source: str) -> FunctionPolicy:
        """Build from ``(schema, name, provolatile codes of its overloads)`` rows, e.g.
        ``("pg_catalog", "date_trunc", "is")``; repeated (schema, name) rows merge."""
        merged: dict[str, dict[str, str]] = {}
        for schema, name, codes in rows:
            per_schema = merged.setdefault(str(name), {})
            per_schema[str(schema)] = per_schema.get(str(schema), "") + str(codes or "v")
        frozen = {
            name: MappingProxyType({schema: _worst(codes) for schema, codes in schemas.items()})
            for name, schemas in merged.items()
        }
        return cls(MappingProxyType(frozen), source, True)

    @classmethod
    def unavailable(cls, reason: str) -> FunctionPolicy:
        """A policy that vouches for nothing: the catalog could not be read (``reason`` says why)."""
        return cls(MappingProxyType({}), reason, False)

    def volatility(self, name: str, schema: str | None = None) -> Volatility | None:
        """The worst volatility of ``name``'s overloads in ``schema``, or in every schema when
        ``schema`` is None; None when no such function exists there."""
        schemas = self.by_name.get(name)
        if not schemas:
            return None
        if schema is not None:
            return schemas.get(schema)
        return max(schemas.values(), key=lambda v: v.rank)

    def schemas(self, name: str) -> frozenset[str]:
        """The schemas that define a function called ``name``."""
        return frozenset(self.by_name.get(name, {}))

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass(frozen=True)
class ReadPolicy:
    """The datasource facts the read-only guard checks a statement against."""

    functions: FunctionPolicy | None = None  # None: the dialect has no volatility catalog
    default_schema: str | None = None  # where unqualified table names resolve (MySQL's database)


NO_FACTS = ReadPolicy()
