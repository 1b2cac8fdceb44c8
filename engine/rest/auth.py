"""Who calls: HTTP Basic (API clients) or the web UI's login cookie, with its CSRF token.

* Passwords are checked by the engine's one authenticator (the Thrift frontend's: NONE, CUSTOM,
  LDAP), on a worker thread. A checked Basic pair is remembered as a keyed hash for
  ``rest.auth.cache.ttl`` so that an API client does not pay an LDAP bind or argon2 per request.
* ``POST /api/v1/login`` starts a login: an opaque random cookie (HttpOnly, SameSite=Strict),
  kept in memory as its hash, ending after ``rest.login.session.timeout`` idle (bounded: the least
  recently used goes first). Each login has a CSRF token; a changing request (POST, PATCH, DELETE)
  authenticated by the cookie must carry it in ``X-CSRF-Token``, or it is refused 403.
* No credentials: 401 with ``WWW-Authenticate``. The challenge is ``Basic`` unless the request
  says it is the UI's own (``X-Requested-With: data-agent-ui``): then it is ``Session``, so the
  browser never pops up its password dialog.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request

from engine.auth import PasswordAuthenticator
from engine.common.errors import AuthenticationError
from engine.rest.errors import ApiError
from engine.rest.workers import Workers

COOKIE = "data_agent_session"
CSRF_HEADER = "X-CSRF-Token"
UI_HEADER = "X-Requested-With"
UI_MARKER = "data-agent-ui"
REALM = "data-agent"
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CACHED = 4096  # remembered Basic pairs


@dataclass(frozen=True)
class Caller:
    user: str
    csrf_token: str | None = None  # set when authenticated by the login cookie


@dataclass
class _Login:
    user: str
    csrf_token: str
    last_used: float


def _digest(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\0".join(parts).encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


class LoginTable:
    """The web UI's logins, by the hash of their cookie, behind one lock (bounded, LRU)."""

    def __init__(self, idle_timeout: float, capacity: int) -> None:
        self.idle_timeout = idle_timeout
        self.capacity = capacity
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._logins: OrderedDict[bytes, _Login] = OrderedDict()

    def start(self, user: str) -> tuple[str, str]:
        """A new login: its cookie value and its CSRF token."""
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with self._lock:
            self._logins[_digest(self._key, cookie)] = _Login(user, csrf, time.monotonic())
            while len(self._logins) > self.capacity:
                self._logins.popitem(last=False)
        return cookie, csrf

    def find(self, cookie: str) -> _Login | None:
        key = _digest(self._key, cookie)
        now = time.monotonic()
        with self._lock:
            login = self._logins.get(key)
            if login is None:
                return None
            if now - login.last_used > self.idle_timeout:
                del self._logins[key]
                return None
            login.last_used = now
            self._logins.move_to_end(key)
            return login

    def end(self, cookie: str) -> None:
        with self._lock:
            self._logins.pop(_digest(self._key, cookie), None)


class BasicCache:
    """Basic pairs checked recently, as keyed hashes (never the password), with their expiry."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def hit(self, user: str, password: str) -> bool:
        if self.ttl <= 0:
            return False
        key = _digest(self._key, user, password)
        with self._lock:
            expiry = self._seen.get(key)
            if expiry is None:
                return False
            if expiry < time.monotonic():
                del self._seen[key]
                return False
            return True

    def remember(self, user: str, password: str) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._seen[_digest(self._key, user, password)] = time.monotonic() + self.ttl
            while len(self._seen) > MAX_CACHED:
                self._seen.popitem(last=False)


def challenge(request: Request) -> dict[str, str]:
    """The 401 challenge: Basic for API clients, a non-Basic scheme for the web UI."""
    if request.headers.get(UI_HEADER, "").lower() == UI_MARKER:
        return {"WWW-Authenticate": f'Session realm="{REALM}"'}
    return {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}


def _basic_pair(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise ApiError(400, "malformed Basic credentials: expected user:password")
    return user, password


class RestAuth:
    """Authenticates requests (see the module docstring)."""

    def __init__(
        self,
        authenticator: PasswordAuthenticator,
        workers: Workers,
        logins: LoginTable,
        cache: BasicCache,
    ) -> None:
        self.authenticator = authenticator
        self.workers = workers
        self.logins = logins
        self.cache = cache

    async def check_password(self, user: str, password: str) -> str:
        """The authenticated user name; AuthenticationError when the pair is refused."""
        if self.cache.hit(user, password):
            return user
        principal = await self.workers.run(self.authenticator.authenticate, user, password)
        self.cache.remember(user, password)
        return principal.name

    async def caller(self, request: Request) -> Caller:
        """The caller of ``request``; ApiError 401 (with the challenge) or 403 (CSRF) otherwise."""
        header = request.headers.get("Authorization")
        if header:
            pair = _basic_pair(header)
            if pair is None:
                raise ApiError(401, "unsupported authorization scheme: use Basic", challenge(request))
            try:
                return Caller(await self.check_password(*pair))
            except AuthenticationError as exc:
                raise ApiError(401, f"authentication failed: {exc.message}", challenge(request)) from None
        cookie = request.cookies.get(COOKIE)
        login = self.logins.find(cookie) if cookie else None
        if login is None:
            raise ApiError(
                401, "authentication required: log in or send HTTP Basic credentials", challenge(request)
            )
        if request.method in CHANGING:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode("utf-8", "replace"), login.csrf_token.encode()):
                raise ApiError(403, f"missing or wrong {CSRF_HEADER} header (the token from login or /me)")
        return Caller(login.user, login.csrf_token)
