"""Connection limits per IP address, per user and per (user, address), with Kyuubi's keys.

The address is known when a connection is accepted, so its limit is checked before the TLS or
SASL handshake. The user is known after the SASL PLAIN response (checked before the password
is, so a refused user costs no password hashing) or, in NOSASL mode, at the first OpenSession.
A connection counts towards its user from then until it ends.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from engine.common.redaction import clip


@dataclass(frozen=True)
class ConnectionLimits:
    """0 means no limit."""

    per_user: int = 0
    per_address: int = 0
    per_user_address: int = 0

    @property
    def any(self) -> bool:
        return bool(self.per_user or self.per_address or self.per_user_address)


class ConnectionLimiter:
    """Counts live connections; one lock guards every counter."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._by_address: Counter[str] = Counter()
        self._by_user: Counter[str] = Counter()
        self._by_user_address: Counter[tuple[str, str]] = Counter()

    # --- addresses ------------------------------------------------------------------------------
    def admit_address(self, address: str) -> str | None:
        """Count a new connection from ``address``; or return why it is refused (not counted)."""
        limit = self.limits.per_address
        with self._lock:
            if limit and self._by_address[address] >= limit:
                return (
                    f"Connection limit per ipaddress reached (ipaddress: {address} limit: {limit}); "
                    "see kyuubi.server.limit.connections.per.ipaddress"
                )
            self._by_address[address] += 1
        return None

    def release_address(self, address: str) -> None:
        with self._lock:
            _decrement(self._by_address, address)

    # --- users ----------------------------------------------------------------------------------
    def check_user(self, user: str, address: str) -> str | None:
        """Why ``user`` from ``address`` would be refused now, without counting anything."""
        with self._lock:
            return self._user_refusal(user, address)

    def admit_user(self, user: str, address: str) -> str | None:
        """Count the connection towards ``user``; or return why it is refused (not counted)."""
        with self._lock:
            refusal = self._user_refusal(user, address)
            if refusal is None:
                self._by_user[user] += 1
                self._by_user_address[(user, address)] += 1
            return refusal

    def release_user(self, user: str, address: str) -> None:
        with self._lock:
            _decrement(self._by_user, user)
            _decrement(self._by_user_address, (user, address))

    def counts(self) -> tuple[int, int]:
        """(addresses, users) with at least one connection; for tests and diagnostics."""
        with self._lock:
            return len(self._by_address), len(self._by_user)

    def _user_refusal(self, user: str, address: str) -> str | None:
        limits = self.limits
        if limits.per_user and self._by_user[user] >= limits.per_user:
            return (
                f"Connection limit per user reached (user: {clip(user)} limit: {limits.per_user}); "
                "see kyuubi.server.limit.connections.per.user"
            )
        if limits.per_user_address and self._by_user_address[(user, address)] >= limits.per_user_address:
            return (
                f"Connection limit per user and ipaddress reached (user: {clip(user)} ipaddress: {address} "
                f"limit: {limits.per_user_address}); see kyuubi.server.limit.connections.per.user.ipaddress"
            )
        return None


def _decrement(counter: Counter[str] | Counter[tuple[str, str]], key: object) -> None:
    value = counter.get(key, 0)  # type: ignore[call-overload]
    if value <= 1:
        counter.pop(key, None)  # type: ignore[call-overload]
    else:
        counter[key] = value - 1  # type: ignore[index]
