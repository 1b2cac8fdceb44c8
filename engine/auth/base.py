"""The authenticator interface, the NONE authenticator, the bound on concurrent password checks,
and the factory that picks one from ``kyuubi.authentication``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from engine.common.errors import AuthenticationError
from engine.common.principal import Principal
from engine.common.redaction import clip

DEFAULT_CHECK_TIME = 30.0  # a caller without a deadline of its own (the REST server) gets this one
MAX_USER_LENGTH = 256


class PasswordAuthenticator(Protocol):
    """Checks a user's password. Both frontends call it; it never blocks past ``deadline``
    (``time.monotonic()``; default: 30 s from the call) and raises :class:`AuthenticationError`
    with a message fit for the client (no secret, no hint whether the user exists)."""

    @property
    def mechanism(self) -> str: ...

    def authenticate(self, user: str, password: str, *, deadline: float | None = None) -> Principal: ...


def check_user_name(user: str) -> None:
    """A user name any mechanism accepts: not empty, printable, not absurdly long."""
    if not user:
        raise AuthenticationError("empty user name")
    if len(user) > MAX_USER_LENGTH or not user.isprintable():
        raise AuthenticationError(f"invalid user name {clip(user)}")


def deadline_or_default(deadline: float | None) -> float:
    return time.monotonic() + DEFAULT_CHECK_TIME if deadline is None else deadline


class CheckSlots:
    """A bound on password checks running at once (LDAP connections, argon2's memory): a check
    waits for a slot up to its deadline, then is refused with a clear message."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def hold(self, deadline: float) -> Iterator[None]:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._slots.acquire(timeout=remaining):
            raise AuthenticationError(
                "too many logins are being checked at once and this one passed its deadline; try again"
            )
        try:
            yield
        finally:
            self._slots.release()


class AnyPasswordAuthenticator:
    """``NONE``: any password; the user is the name the client gave."""

    mechanism = "NONE"

    def authenticate(self, user: str, password: str, *, deadline: float | None = None) -> Principal:
        check_user_name(user)
        return Principal(user, self.mechanism)
