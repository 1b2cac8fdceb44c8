"""``kyuubi.authentication=LDAP``: a simple bind to the directory, with Kyuubi's LDAP keys (ldap3).

How a login is checked (Kyuubi's ``LdapAuthenticationProviderImpl``, made injection-safe and
bounded):

1. The password is proven first. Without ``binddn`` the user binds directly, as each candidate
   principal in turn: ``<user>@<domain>`` when ``domain`` is set, else each ``userDNPattern``
   with ``%s`` replaced by the user (RDN-escaped), else ``<guidKey>=<user>,<baseDN>``. With
   ``binddn`` (and ``bindpw`` from ``KYUUBI_AUTHENTICATION_LDAP_BINDPW``) the service account
   binds, finds the user's one DN, and a second connection binds as that DN with the password.
2. Then who may log in: ``customLDAPQuery`` alone when set; otherwise, when ``userFilter`` or
   ``groupFilter`` is set, the user's DN must be found exactly once, the user must be in
   ``userFilter`` (when set) and a member of a ``groupFilter`` group (when set): by the groups'
   ``groupMembershipKey`` (the user's DN or name), or, with ``userMembershipKey``, by the user's
   entry listing the group's DN. A user outside them is told so only after the right password.

Every value from the client is escaped before it enters a filter (RFC 4515) or a DN (RFC 4514);
a user name in DN form is refused. An empty password is refused before any bind (an LDAP simple
bind without a password is an anonymous bind, which succeeds). Each login uses its own
connection(s), at most ``kyuubi.authentication.max.concurrent`` at once, and every connect and
answer is bounded by its timeout and by the login's deadline: a directory that is down or stops
answering refuses the login with a clear message instead of holding the connection's thread.
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ldap3 import NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from engine.auth.base import CheckSlots, check_user_name, deadline_or_default
from engine.common.config import (
    LDAP_BASE_DN,
    LDAP_BASE_DN_ALT,
    LDAP_BIND_DN,
    LDAP_BIND_PASSWORD,
    LDAP_CONNECT_TIMEOUT,
    LDAP_CUSTOM_QUERY,
    LDAP_DOMAIN,
    LDAP_GROUP_CLASS_KEY,
    LDAP_GROUP_DN_PATTERN,
    LDAP_GROUP_FILTER,
    LDAP_GROUP_MEMBERSHIP_KEY,
    LDAP_GUID_KEY,
    LDAP_READ_TIMEOUT,
    LDAP_URL,
    LDAP_USER_DN_PATTERN,
    LDAP_USER_FILTER,
    LDAP_USER_MEMBERSHIP_KEY,
    EngineConf,
)
from engine.common.errors import AuthenticationError, ConfigError
from engine.common.principal import Principal
from engine.common.redaction import clip

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = 49  # the LDAP result code of a wrong password or an unknown bind DN
USER_CLASSES = "(|(objectClass=person)(objectClass=user)(objectClass=inetOrgPerson))"
MAX_ENTRIES = 1000  # entries one membership or custom search reads at most


class _Unavailable(Exception):
    """The directory did not answer (down, too slow, or refused the service account)."""


@dataclass(frozen=True)
class LdapSettings:
    urls: tuple[str, ...]
    base_dn: str | None
    domain: str | None
    user_patterns: tuple[str, ...]  # user DN patterns, %s for the (escaped) user
    group_bases: tuple[str, ...]  # where groups are searched
    user_filter: frozenset[str]  # lowercase short names
    group_filter: frozenset[str]  # lowercase short names
    guid_key: str
    group_membership_key: str
    user_membership_key: str | None
    group_class: str
    custom_query: str | None
    bind_dn: str | None
    bind_password: str | None
    connect_timeout: float
    read_timeout: float

    @classmethod
    def from_conf(cls, conf: EngineConf) -> LdapSettings:
        urls = tuple((conf.get(LDAP_URL) or "").split())
        if not urls:
            raise ConfigError(f"kyuubi.authentication=LDAP needs {LDAP_URL.key} (ldap://host:389)")
        for url in urls:
            if urlsplit(url).scheme.lower() not in ("ldap", "ldaps") or not urlsplit(url).hostname:
                raise ConfigError(
                    f"invalid value for {LDAP_URL.key}: {clip(url)} is not an ldap:// or ldaps:// URL"
                )
        base_dn = conf.get(LDAP_BASE_DN) or conf.get(LDAP_BASE_DN_ALT)
        guid = conf.get(LDAP_GUID_KEY)
        user_patterns = _patterns(conf.get(LDAP_USER_DN_PATTERN), LDAP_USER_DN_PATTERN.key)
        if not user_patterns and base_dn:
            user_patterns = (f"{guid}=%s,{base_dn}",)
        group_patterns = _patterns(conf.get(LDAP_GROUP_DN_PATTERN), LDAP_GROUP_DN_PATTERN.key)
        if not group_patterns and base_dn:
            group_patterns = (f"{guid}=%s,{base_dn}",)
        bind_dn, bind_password = conf.get(LDAP_BIND_DN), conf.get(LDAP_BIND_PASSWORD)
        if bind_dn and not bind_password:
            raise ConfigError(
                f"{LDAP_BIND_DN.key} needs its password: set KYUUBI_AUTHENTICATION_LDAP_BINDPW in the "
                f"engine's environment (or {LDAP_BIND_PASSWORD.key} in a conf file, never on argv)"
            )
        custom = conf.get(LDAP_CUSTOM_QUERY)
        if custom is not None and not (custom.strip().startswith("(") and custom.strip().endswith(")")):
            raise ConfigError(
                f"invalid value for {LDAP_CUSTOM_QUERY.key}: an LDAP filter is written in parentheses"
            )
        return cls(
            urls=urls,
            base_dn=base_dn,
            domain=conf.get(LDAP_DOMAIN),
            user_patterns=user_patterns,
            group_bases=tuple(_parent(pattern) for pattern in group_patterns),
            user_filter=frozenset(name.lower() for name in conf.get(LDAP_USER_FILTER)),
            group_filter=frozenset(name.lower() for name in conf.get(LDAP_GROUP_FILTER)),
            guid_key=guid,
            group_membership_key=conf.get(LDAP_GROUP_MEMBERSHIP_KEY),
            user_membership_key=conf.get(LDAP_USER_MEMBERSHIP_KEY),
            group_class=conf.get(LDAP_GROUP_CLASS_KEY),
            custom_query=custom.strip() if custom else None,
            bind_dn=bind_dn,
            bind_password=bind_password,
            connect_timeout=conf.get(LDAP_CONNECT_TIMEOUT),
            read_timeout=conf.get(LDAP_READ_TIMEOUT),
        )

    @property
    def user_bases(self) -> tuple[str, ...]:
        return tuple(_parent(pattern) for pattern in self.user_patterns)


def _patterns(value: str | None, key: str) -> tuple[str, ...]:
    """Colon-separated DN patterns; each needs a ``%s`` in its first RDN and a parent."""
    patterns = []
    for pattern in (value or "").split(":"):
        pattern = pattern.strip()
        if not pattern:
            continue
        first, sep, parent = pattern.partition(",")
        if not sep or "=" not in first or "%s" not in first or not parent.strip():
            raise ConfigError(
                f"invalid value for {key}: {clip(pattern)} is not a DN pattern such as uid=%s,ou=people,dc=example,dc=org"
            )
        patterns.append(pattern)
    return tuple(patterns)


def _parent(pattern: str) -> str:
    return pattern.partition(",")[2].strip()


def short_name(user: str) -> str:
    """The name before a domain: ``alice@example.org`` and ``alice/host`` are ``alice`` (Hive)."""
    cut = [index for index in (user.find("@"), user.find("/")) if index > 0]
    return user[: min(cut)] if cut else user


def first_rdn_value(dn: str) -> str:
    """``alice`` of ``uid=alice,ou=people,...``; a value that is not a DN is itself."""
    if "=" not in dn:
        return dn
    try:
        return str(parse_dn(dn)[0][1])
    except (LDAPException, IndexError, ValueError):
        return dn


class LdapAuthenticator:
    mechanism = "LDAP"

    def __init__(self, settings: LdapSettings, slots: CheckSlots) -> None:
        self.settings = settings
        self._slots = slots
        self._tls = Tls(validate=ssl.CERT_REQUIRED)

    # --- the check ------------------------------------------------------------------------------
    def authenticate(self, user: str, password: str, *, deadline: float | None = None) -> Principal:
        check_user_name(user)
        if "=" in user or "," in user:
            raise AuthenticationError(f"LDAP: log in with your user name, not a DN ({clip(user)})")
        if user != user.strip():  # the directory ignores such spaces; the engine's owner names do not
            raise self._failed(user)
        if not password or password[0] == "\x00":
            raise AuthenticationError(f"authentication failed for user {clip(user)}: empty password")
        due = deadline_or_default(deadline)
        with self._slots.hold(due):
            try:
                self._check(user, password, due)
            except _Unavailable as exc:
                log.warning("LDAP login of %s refused: the directory did not answer: %s", clip(user), exc)
                raise AuthenticationError(
                    "the LDAP directory does not answer, so the login is refused; try again later"
                ) from None
        return Principal(user, self.mechanism)

    def _check(self, user: str, password: str, deadline: float) -> None:
        settings, name = self.settings, short_name(user)
        if settings.bind_dn is not None:
            assert settings.bind_password is not None
            conn = self._bind([settings.bind_dn], settings.bind_password, deadline, "")
            try:
                user_dn = self._find_user_dn(conn, name, deadline)
                if user_dn is None:
                    log.info("LDAP login of %s refused: no single entry for this user", clip(user))
                    raise self._failed(user)
                self._bind([user_dn], password, deadline, user).unbind()
                self._allowed(conn, user, name, deadline)
            finally:
                conn.unbind()
            return
        conn = self._bind(self._candidates(user), password, deadline, user)
        try:
            self._allowed(conn, user, name, deadline)
        finally:
            conn.unbind()

    def _candidates(self, user: str) -> list[str]:
        """The principals a user binds as (Kyuubi's ``createCandidatePrincipals``)."""
        settings = self.settings
        if short_name(user) != user:
            return [user]
        if settings.domain:
            return [f"{user}@{settings.domain}"]
        if settings.user_patterns:
            return [pattern.replace("%s", escape_rdn(user)) for pattern in settings.user_patterns]
        return [user]

    @staticmethod
    def _failed(user: str) -> AuthenticationError:
        return AuthenticationError(f"authentication failed for user {clip(user)}")

    # --- who may log in ------------------------------------------------------------------------
    def _allowed(self, conn: Connection, user: str, name: str, deadline: float) -> None:
        settings = self.settings
        if settings.custom_query is not None:
            if not self._custom_query_allows(conn, user, name, deadline):
                log.info("LDAP login of %s refused by customLDAPQuery", clip(user))
                raise AuthenticationError(
                    f"user {clip(user)} may not log in here (kyuubi.authentication.ldap.customLDAPQuery)"
                )
            return
        if not settings.user_filter and not settings.group_filter:
            return
        user_dn = self._find_user_dn(conn, name, deadline)
        if user_dn is None:
            log.info("LDAP login of %s refused: no single entry for this user", clip(user))
            raise self._failed(user)
        if settings.user_filter and name.lower() not in settings.user_filter:
            log.info("LDAP login of %s refused: not in userFilter", clip(user))
            raise AuthenticationError(
                f"user {clip(user)} may not log in here (kyuubi.authentication.ldap.userFilter)"
            )
        if settings.group_filter and not self._in_groups(conn, name, user_dn, deadline):
            log.info("LDAP login of %s refused: in none of the groupFilter groups", clip(user))
            raise AuthenticationError(
                f"user {clip(user)} may not log in here: not a member of an allowed group "
                "(kyuubi.authentication.ldap.groupFilter)"
            )

    def _find_user_dn(self, conn: Connection, name: str, deadline: float) -> str | None:
        """The one DN of a user: by the DN patterns' first RDN, else by uid or sAMAccountName
        under the users' bases; None unless exactly one entry matches."""
        escaped = escape_filter_chars(name)
        for pattern in self.settings.user_patterns:
            first, _, parent = pattern.partition(",")
            attribute, _, template = first.partition("=")
            found = self._search(
                conn, parent.strip(), f"({attribute.strip()}={template.replace('%s', escaped)})", deadline, 2
            )
            if found:
                return found[0][0] if len(found) == 1 else None
        search = f"(&{USER_CLASSES}(|(uid={escaped})(sAMAccountName={escaped})))"
        found = [
            entry
            for base in self.settings.user_bases
            for entry in self._search(conn, base, search, deadline, 2)
        ]
        return found[0][0] if len(found) == 1 else None

    def _in_groups(self, conn: Connection, name: str, user_dn: str, deadline: float) -> bool:
        settings = self.settings
        group_class = escape_filter_chars(settings.group_class)
        if settings.user_membership_key is None:
            key = settings.group_membership_key
            search = (
                f"(&(objectClass={group_class})"
                f"(|({key}={escape_filter_chars(user_dn)})({key}={escape_filter_chars(name)})))"
            )
            for base in settings.group_bases:
                for group_dn, _ in self._search(conn, base, search, deadline, MAX_ENTRIES):
                    if first_rdn_value(group_dn).lower() in settings.group_filter:
                        return True
            return False
        for group in sorted(settings.group_filter):
            search = f"(&(objectClass={group_class})({settings.guid_key}={escape_filter_chars(group)}))"
            groups = [
                entry
                for base in settings.group_bases
                for entry in self._search(conn, base, search, deadline, 2)
            ]
            if len(groups) != 1:
                continue
            member = (
                f"(&{USER_CLASSES}({settings.user_membership_key}={escape_filter_chars(groups[0][0])})"
                f"({settings.guid_key}={escape_filter_chars(name)}))"
            )
            if any(len(self._search(conn, base, member, deadline, 2)) == 1 for base in settings.user_bases):
                return True
        return False

    def _custom_query_allows(self, conn: Connection, user: str, name: str, deadline: float) -> bool:
        settings = self.settings
        query = settings.custom_query
        assert query is not None
        base = settings.base_dn or ""
        key = settings.group_membership_key
        found = self._search(conn, base, query, deadline, MAX_ENTRIES, attributes=[key])
        for dn, attributes in found:
            for value in [dn, *attributes.get(key, [])]:
                if first_rdn_value(value).lower() == name.lower() or value.lower() == user.lower():
                    return True
        if "%s" in query:
            return (
                len(self._search(conn, base, query.replace("%s", escape_filter_chars(name)), deadline, 2))
                == 1
            )
        return False

    # --- the directory -------------------------------------------------------------------------
    def _bind(self, principals: list[str], password: str, deadline: float, user: str) -> Connection:
        """A connection bound as the first principal the directory accepts with ``password``.

        A wrong password (or an unknown principal) is :class:`AuthenticationError`; a directory
        that does not answer, or refuses the service account (``user`` empty), is
        :class:`_Unavailable`.
        """
        for principal in principals:
            conn = self._open(principal, password, deadline)
            try:
                self._bound_timeout(conn, deadline)
                if conn.bind():
                    return conn
                result, message = conn.result.get("result"), conn.result.get("description")
            except (LDAPException, OSError) as exc:
                conn.unbind()
                raise _Unavailable(f"bind failed: {type(exc).__name__}: {exc}") from None
            conn.unbind()
            if result != INVALID_CREDENTIALS:
                raise _Unavailable(f"bind refused: {message} ({result})")
            if not user:
                raise _Unavailable("the directory refused kyuubi.authentication.ldap.binddn and its password")
        log.info(
            "LDAP login of %s refused: wrong password or unknown user (%d DNs tried)",
            clip(user),
            len(principals),
        )
        raise self._failed(user)

    def _open(self, principal: str, password: str, deadline: float) -> Connection:
        """A connection to the first LDAP server that answers (not yet bound)."""
        problems = []
        for url in self.settings.urls:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            parts = urlsplit(url)
            server = Server(
                parts.hostname or "",
                port=parts.port,
                use_ssl=parts.scheme.lower() == "ldaps",
                tls=self._tls,
                get_info=NONE,
                connect_timeout=min(self.settings.connect_timeout, remaining),
            )
            conn = Connection(
                server,
                user=principal,
                password=password,
                authentication=SIMPLE,
                read_only=True,
                raise_exceptions=False,
                # whole seconds (ldap3 sets SO_RCVTIMEO from it); each answer's own, finer bound is
                # set on the socket before every request (_bound_timeout)
                receive_timeout=max(1, math.ceil(min(self.settings.read_timeout, remaining))),
                auto_referrals=False,
            )
            try:
                conn.open()
                return conn
            except (LDAPException, OSError) as exc:
                problems.append(f"{parts.hostname}:{parts.port or ''}: {type(exc).__name__}")
                conn.unbind()
        raise _Unavailable("; ".join(problems) or "the login deadline passed before a server answered")

    def _bound_timeout(self, conn: Connection, deadline: float) -> None:
        """The next answer must come within the read timeout and before the login's deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Unavailable("the login deadline passed")
        sock = conn.socket
        if sock is not None:
            sock.settimeout(min(self.settings.read_timeout, remaining))

    def _search(
        self,
        conn: Connection,
        base: str,
        search: str,
        deadline: float,
        limit: int,
        attributes: list[str] | None = None,
    ) -> list[tuple[str, dict[str, list[str]]]]:
        """(DN, attributes) of the entries under ``base`` matching ``search``, at most ``limit``.
        A base that does not exist finds nothing; a directory that does not answer is _Unavailable."""
        self._bound_timeout(conn, deadline)
        try:
            conn.search(
                base,
                search,
                search_scope=SUBTREE,
                attributes=attributes or [],
                size_limit=limit,
                time_limit=max(1, int(min(self.settings.read_timeout, deadline - time.monotonic()))),
            )
        except (LDAPException, OSError) as exc:
            raise _Unavailable(f"search failed: {type(exc).__name__}: {exc}") from None
        entries = []
        for item in conn.response or []:
            if item.get("type") != "searchResEntry":
                continue
            values = {
                key: [str(value) for value in (raw if isinstance(raw, list) else [raw])]
                for key, raw in (item.get("attributes") or {}).items()
            }
            entries.append((str(item["dn"]), values))
        return entries
