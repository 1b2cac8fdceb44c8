"""Where to connect: ``host:port``, a ``jdbc:hive2://`` URL, or a ZooKeeper discovery URL.

The URL grammar is the Hive JDBC driver's:
``jdbc:hive2://<hosts>/<db>;<session vars>?<hive conf>#<hive vars>``, where ``<hosts>`` is one
``host:port`` or, with ``serviceDiscoveryMode=zooKeeper``, the ZooKeeper quorum
(``h1:2181,h2:2181``) and ``zooKeeperNamespace`` names the znode whose children are servers.
Hive conf and hive vars go to OpenSession as ``set:hiveconf:k`` / ``set:hivevar:k``, as beeline
sends them. A password never belongs in a URL (it would sit on the command line): one is refused.
Plain text parsing with ``str.partition``; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.common.znode import parse_address

DEFAULT_PORT = 10009  # the engine's kyuubi.frontend.thrift.binary.bind.port default
URL_SCHEMES = ("jdbc:hive2://", "jdbc:kyuubi://")


class TargetError(ValueError):
    """A connection string that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Target:
    """A parsed connection string."""

    host: str = ""  # direct: the server; empty with ZooKeeper discovery
    port: int = 0
    zk_quorum: str = ""  # discovery: the ZooKeeper connect string
    zk_namespace: str = ""  # discovery: the znode (no leading slash) whose children are servers
    database: str = "default"
    nosasl: bool = False
    user: str | None = None
    configuration: dict[str, str] = field(default_factory=dict)

    @property
    def discovery(self) -> bool:
        return bool(self.zk_quorum)

    def describe(self) -> str:
        if self.discovery:
            return f"ZooKeeper {self.zk_quorum} /{self.zk_namespace}"
        return f"{self.host}:{self.port}"


def parse_target(text: str) -> Target:
    """Parse what the user typed after ``data-agent``; raises TargetError."""
    text = text.strip()
    if not text:
        raise TargetError("no server given: use HOST:PORT or a jdbc:hive2:// URL")
    lowered = text.lower()
    for scheme in URL_SCHEMES:
        if lowered.startswith(scheme):
            return _parse_jdbc(text[len(scheme) :])
    if lowered.startswith("jdbc:"):
        raise TargetError(f"unsupported URL {_shown(text)}: use jdbc:hive2://host:port/db")
    return Target(*_address(text), configuration={})


def _parse_jdbc(rest: str) -> Target:
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    slash, semi = rest.find("/"), rest.find(";")
    if slash >= 0 and (semi < 0 or slash < semi):
        authority, path = rest[:slash], rest[slash + 1 :]
    elif semi >= 0:
        authority, path = rest[:semi], rest[semi:]
    else:
        authority, path = rest, ""
    database, _, session_part = path.partition(";")
    session = _pairs(session_part, "session variable")
    configuration = {f"set:hiveconf:{k}": v for k, v in _pairs(query, "hive conf").items()}
    configuration.update({f"set:hivevar:{k}": v for k, v in _pairs(fragment, "hive var").items()})
    options = {key.lower(): value for key, value in session.items()}
    if "password" in options:
        raise TargetError(
            "a password does not belong in the URL (it would be visible in the process list): "
            "use --password-file, DATA_AGENT_PASSWORD or --password-prompt"
        )
    transport = options.get("transportmode", "binary").lower()
    if transport != "binary":
        raise TargetError(f"transportMode={transport} is not supported: the engine speaks binary Thrift")
    if options.get("ssl", "false").lower() == "true":
        raise TargetError("ssl=true is not supported by data-agent yet")
    auth = options.get("auth", "").lower()
    if auth not in ("", "nosasl", "none", "plain"):
        raise TargetError(f"auth={options['auth']} is not supported: use auth=noSasl or leave it out")
    if not authority:
        raise TargetError("the URL names no host (embedded mode is not supported): jdbc:hive2://host:port/")
    common = {
        "database": database.strip() or "default",
        "nosasl": auth == "nosasl",
        "user": options.get("user") or None,
        "configuration": configuration,
    }
    mode = options.get("servicediscoverymode", "").lower()
    if mode == "zookeeper":
        namespace = options.get("zookeepernamespace", "hiveserver2").strip("/")
        if not namespace:
            raise TargetError("zooKeeperNamespace is empty")
        return Target(zk_quorum=authority, zk_namespace=namespace, **common)  # type: ignore[arg-type]
    if mode:
        raise TargetError(f"serviceDiscoveryMode={options['servicediscoverymode']} is not supported")
    if "," in authority:
        raise TargetError("several hosts need serviceDiscoveryMode=zooKeeper")
    host, port = _address(authority)
    return Target(host, port, **common)  # type: ignore[arg-type]


def _address(text: str) -> tuple[str, int]:
    """``host:port``, ``host`` (the default port), ``[v6]:port`` or a bare IPv6 address."""
    text = text.strip()
    bracketed = text.startswith("[")
    has_port = "]:" in text if bracketed else text.count(":") == 1
    if not has_port:
        host = text.strip("[]")
        if not host or "/" in host or ";" in host:
            raise TargetError(f"not a host or host:port: {_shown(text)}")
        return host, DEFAULT_PORT
    try:
        return parse_address(text)
    except ValueError:
        raise TargetError(f"not a host:port address: {_shown(text)}") from None


def _pairs(text: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise TargetError(f"bad {what} {_shown(part)}: expected key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
