"""``kyuubi.authentication=CUSTOM``: a password file of argon2 or bcrypt hashes.

Each line is ``user:hash`` (``#`` starts a comment); the hash is argon2 (``$argon2id$…``, from
argon2-cffi) or bcrypt (``$2b$…``). A plaintext password or an unsalted sha256 digest is refused
when the engine starts, with the command that makes a proper line:
``python -m engine hash-password --user NAME`` (the password comes from stdin or a prompt, never
argv). The file is read again whenever it changes, so users can be added without a restart; an
edit that breaks it refuses every login (fail-closed) until it is fixed, and says so in the log.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import argon2
import bcrypt

from engine.auth.base import CheckSlots, check_user_name, deadline_or_default
from engine.common.errors import AuthenticationError, ConfigError
from engine.common.principal import Principal
from engine.common.redaction import clip

log = logging.getLogger(__name__)

ARGON2_PREFIXES = ("$argon2id$", "$argon2i$", "$argon2d$")
_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
_SHA256_HEX = re.compile(r"[0-9A-Fa-f]{64}")
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (or, since bcrypt 5, refuses) longer passwords
SCHEMES = ("argon2", "bcrypt")


def how_to_hash(user: str) -> str:
    return (
        f"make the line with: python -m engine hash-password --user {clip(user)} "
        "(it reads the password from stdin or a prompt and prints user:hash)"
    )


def hash_password(password: str, scheme: str = "argon2") -> str:
    """A salted hash for the password file: argon2id (argon2-cffi's defaults, RFC 9106's
    low-memory profile) or bcrypt (cost 12)."""
    if scheme == "bcrypt":
        encoded = password.encode("utf-8")
        if len(encoded) > BCRYPT_MAX_BYTES:
            raise ConfigError(f"bcrypt takes at most {BCRYPT_MAX_BYTES} bytes of password; use argon2")
        return bcrypt.hashpw(encoded, bcrypt.gensalt()).decode("ascii")
    if scheme != "argon2":
        raise ConfigError(f"unknown hash scheme {clip(scheme)}; use one of {', '.join(SCHEMES)}")
    return argon2.PasswordHasher().hash(password)


def check_hash(user: str, stored: str, where: str) -> None:
    """Refuse an entry that is not an argon2 or bcrypt hash (never echoing it)."""
    if stored.startswith(ARGON2_PREFIXES):
        try:
            argon2.extract_parameters(stored)
        except argon2.exceptions.InvalidHashError:
            raise ConfigError(
                f"{where}: the argon2 hash of {clip(user)} is malformed; {how_to_hash(user)}"
            ) from None
        return
    if _BCRYPT.fullmatch(stored):
        return
    kind = (
        "an unsalted sha256 digest"
        if _SHA256_HEX.fullmatch(stored)
        else "not an argon2 or bcrypt hash (a plaintext password?)"
    )
    raise ConfigError(f"{where}: the entry of {clip(user)} is {kind}, which is refused; {how_to_hash(user)}")


def parse_password_file(text: str, name: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.rpartition(":")
        where = f"password file {name} line {number}"
        if not sep or not user or not stored:
            raise ConfigError(f"{where}: expected user:hash; {how_to_hash('NAME')}")
        check_hash(user, stored, where)
        entries[user] = stored
    return entries


def verify(stored: str, password: str) -> bool:
    """Does ``password`` match the argon2 or bcrypt hash ``stored``? (never raises)"""
    if stored.startswith(ARGON2_PREFIXES):
        try:
            return argon2.PasswordHasher().verify(stored, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(encoded, stored.encode("ascii"))
    except ValueError:
        return False


@dataclass(frozen=True)
class _Snapshot:
    stamp: tuple[int, int, int]  # (inode, size, mtime_ns): the file changed when it changes
    entries: dict[str, str] | None  # None: the file as it is now is invalid
    problem: str = ""


class PasswordFileAuthenticator:
    """``CUSTOM``: checks passwords against the hashes of a password file."""

    mechanism = "CUSTOM"

    def __init__(self, path: str | os.PathLike[str], slots: CheckSlots) -> None:
        self.path = Path(path)
        self._slots = slots
        self._lock = threading.Lock()
        self._snapshot = self._read()
        if self._snapshot.entries is None:  # at start a bad file stops the engine
            raise ConfigError(self._snapshot.problem)

    def _stamp(self) -> tuple[int, int, int]:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise ConfigError(f"cannot read the password file {self.path}: {exc.strerror}") from None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _read(self) -> _Snapshot:
        stamp = self._stamp()
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return _Snapshot(stamp, None, f"cannot read the password file {self.path}: {exc}")
        try:
            return _Snapshot(stamp, parse_password_file(text, str(self.path)))
        except ConfigError as exc:
            return _Snapshot(stamp, None, exc.message)

    def _entries(self) -> dict[str, str]:
        """The current entries, read again when the file changed; an invalid file refuses logins."""
        try:
            stamp = self._stamp()
        except ConfigError as exc:
            log.error("%s; every CUSTOM login is refused until it is back", exc)
            raise AuthenticationError("the password file cannot be read; see the engine log") from None
        with self._lock:
            if stamp != self._snapshot.stamp:
                self._snapshot = self._read()
                if self._snapshot.entries is None:
                    log.error("%s; every CUSTOM login is refused until it is fixed", self._snapshot.problem)
                else:
                    log.info("password file %s read again: %d users", self.path, len(self._snapshot.entries))
            snapshot = self._snapshot
        if snapshot.entries is None:
            raise AuthenticationError("the password file is invalid; see the engine log")
        return snapshot.entries

    def authenticate(self, user: str, password: str, *, deadline: float | None = None) -> Principal:
        check_user_name(user)
        entries = self._entries()
        stored = entries.get(user)
        # an unknown user costs a verification too, so timing does not tell who exists
        target = stored if stored is not None else next(iter(entries.values()), None)
        with self._slots.hold(deadline_or_default(deadline)):
            matched = target is not None and verify(target, password)
        if stored is None or not matched:
            raise AuthenticationError(f"authentication failed for user {clip(user)}")
        return Principal(user, self.mechanism)
