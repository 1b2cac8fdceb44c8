"""JDBC URLs, parsed in one place: the datasource maps them to SQLAlchemy, the store reads its own
``jdbc:postgresql:`` URL, and start-up learns the password it must mask in every log line.

Forms: ``jdbc:<scheme>:<rest>``, where ``rest`` is either a path (``jdbc:sqlite:/abs/file.db``,
``jdbc:duckdb:``) or ``//[user[:password]@]host[:port][/path][?a=b&c=d][;k=v...]``; ``;k=v``
properties may come before or after the query (Hive puts them right after the database).
Nothing here ever puts a password in an error message. Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from engine.common.errors import ConfigError
from engine.common.redaction import redact_text

MAX_URL_LENGTH = 8192


@dataclass(frozen=True)
class JdbcUrl:
    """A parsed JDBC URL. ``user`` and ``password`` are taken out of ``properties``."""

    scheme: str  # lower case, between "jdbc:" and the next ":" (postgresql, mysql, sqlite, hive2, ...)
    rest: str  # everything after "jdbc:<scheme>:"
    shown: str  # the URL with its password masked, for messages
    host: str | None = None
    port: int | None = None
    path: str = ""  # the database path of a network URL (unquoted), or the file of a file URL
    properties: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    password: str | None = None

    @property
    def database(self) -> str | None:
        """The first element of a network URL's path."""
        return self.path.split("/")[0] or None


def libpq_options(jdbc: JdbcUrl) -> tuple[dict[str, str], list[str]]:
    """A ``jdbc:postgresql:`` URL's pgjdbc properties as libpq connection options (what psycopg2
    takes in a URL's query), and the names of the properties libpq has no equivalent for."""
    options: dict[str, str] = {}
    ignored: list[str] = []
    for key, value in jdbc.properties.items():
        lowered = key.lower()
        if lowered in ("sslmode", "sslrootcert", "sslcert", "sslkey", "target_session_attrs"):
            options[lowered] = value
        elif lowered == "ssl" and value.lower() == "true":
            options.setdefault("sslmode", "require")
        elif lowered in ("applicationname", "application_name"):
            options["application_name"] = value
        elif lowered in ("connecttimeout", "connect_timeout"):
            options["connect_timeout"] = value
        elif lowered in ("currentschema", "search_path"):
            options["options"] = f"-csearch_path={value}"
        else:
            ignored.append(key)
    return options, ignored


def is_jdbc(text: str) -> bool:
    return text.strip()[:5].lower() == "jdbc:"


def parse_jdbc_url(text: str, *, network: bool | None = None) -> JdbcUrl:
    """Parse a JDBC URL. ``network``: True requires the ``//host`` form, False takes the rest as a
    path, None decides by whether ``//`` follows the scheme. Raises ConfigError (masked text)."""
    raw = (text or "").strip()
    shown = mask_url(raw)
    if len(raw) > MAX_URL_LENGTH:
        raise ConfigError(f"the JDBC URL is longer than {MAX_URL_LENGTH} characters")
    if not is_jdbc(raw):
        raise ConfigError(f"not a JDBC URL: {shown}")
    scheme, _, rest = raw[5:].partition(":")
    scheme = scheme.strip().lower()
    if not scheme or not all(char.isalnum() or char in "_+-" for char in scheme):
        raise ConfigError(f"malformed JDBC URL {shown}: no scheme after 'jdbc:'")
    if network is None:
        network = rest.startswith("//")
    if not network:
        return JdbcUrl(scheme, rest, shown, path=rest.strip())
    return _network(scheme, rest, shown)


def _network(scheme: str, rest: str, shown: str) -> JdbcUrl:
    if not rest.startswith("//"):
        raise ConfigError(f"malformed JDBC URL {shown}: expected //host[:port]/database after the scheme")
    body, _, _fragment = rest[2:].partition("#")
    properties: dict[str, str] = {}
    segments = body.split(";")
    head = segments[0]
    for segment in segments[1:]:
        if not segment:
            continue
        key, _, value = segment.partition("=")
        value, _, tail = value.partition("?")
        properties[key.strip()] = unquote(value.strip())
        if tail:
            properties.update(_query_pairs(tail))
    head, _, query = head.partition("?")
    properties.update(_query_pairs(query))
    authority, _, path = head.partition("/")
    user: str | None = None
    password: str | None = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        name, _, secret = userinfo.partition(":")
        user, password = unquote(name) or None, unquote(secret) or None
    user = properties.pop("user", None) or properties.pop("username", None) or user
    password = properties.pop("password", None) or password
    if not authority:
        raise ConfigError(f"malformed JDBC URL {shown}: no host")
    host, port = _host_port(authority, shown)
    return JdbcUrl(scheme, rest, shown, host, port, unquote(path), properties, user or None, password or None)


def _query_pairs(query: str) -> dict[str, str]:
    return {key.strip(): value for key, value in parse_qsl(query, keep_blank_values=True)}


def _host_port(authority: str, shown: str) -> tuple[str, int | None]:
    if authority.startswith("["):  # IPv6 literal
        end = authority.find("]")
        if end < 0:
            raise ConfigError(f"malformed JDBC URL {shown}: unterminated IPv6 address")
        host, tail = authority[1:end], authority[end + 1 :]
        return host, _port(tail[1:], shown) if tail.startswith(":") else None
    host, port = authority, None
    if ":" in authority:
        host, _, raw_port = authority.rpartition(":")
        port = _port(raw_port, shown)
    if "," in host:
        raise ConfigError(f"malformed JDBC URL {shown}: several hosts are not supported")
    return host, port


def _port(raw: str, shown: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"malformed JDBC URL {shown}: bad port {raw[:20]!r}")
    return int(raw)


def mask_url(text: str) -> str:
    """``text`` with any password hidden (JDBC ``?password=``/``;password=``, ``user:pw@``)."""
    return redact_text(text)


def url_password(text: str | None) -> str | None:
    """The password a JDBC or URL-shaped (``scheme://user:pw@host``) value carries, if any."""
    if not text:
        return None
    raw = text.strip()
    if is_jdbc(raw):
        try:
            return parse_jdbc_url(raw).password
        except ConfigError:
            return None
    try:
        parts = urlsplit(raw)
        password = parts.password
    except ValueError:
        return None
    if password:
        return unquote(password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in ("password", "pwd") and value:
            return value
    return None
