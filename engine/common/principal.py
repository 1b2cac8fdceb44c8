"""Who a login proved to be: the plain result of every password check (Thrift SASL, REST)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated user. ``name`` owns the sessions, runs and approvals it opens;
    ``mechanism`` says how it was proved (NONE, CUSTOM, LDAP)."""

    name: str
    mechanism: str
