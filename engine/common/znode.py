"""ZooKeeper paths and node names of Data Agent engines, exactly as Kyuubi computes them.

Shared by the launcher (which finds or creates an engine) and the engine's registration (which
publishes itself), so both always agree on where an engine lives. Stdlib only; no I/O.

Kyuubi's rules (``EngineRef``, ``ZookeeperDiscoveryClient``):

- subdomain: ``"ds-" + hex(sha256(jdbc_url)[:8])`` (16 lowercase hex digits), ``default`` without
  a URL;
- engine space: ``/<namespace>_<version>_<SHARELEVEL>_DATA_AGENT/<user>/<subdomain>``; at share
  level CONNECTION the last element is the launch's refId instead of the subdomain;
- creation lock: the same path with ``_lock`` appended to the first element;
- node name: ``serverUri=host:port;version=V;kyuubi.engine.id=ID;refId=ID;sequence=`` followed by
  ZooKeeper's 10-digit sequence number (the node is ephemeral and sequential), data ``host:port``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from engine.common.errors import ConfigError
from engine.common.version import KYUUBI_VERSION

ENGINE_TYPE = "DATA_AGENT"
SHARE_LEVELS = ("CONNECTION", "USER", "GROUP", "SERVER")
ENGINE_ID_ATTR = "kyuubi.engine.id"

# A path element: no slash, not "." or "..", no control characters, not empty.
_ELEMENT_RE = re.compile(r"^[^/\x00-\x1f\x7f]+$")


def subdomain(jdbc_url: str | None) -> str:
    """Kyuubi's DATA_AGENT subdomain of a datasource URL."""
    if not jdbc_url:
        return "default"
    return "ds-" + hashlib.sha256(jdbc_url.encode("utf-8")).digest()[:8].hex()


def make_path(parent: str, *children: str) -> str:
    """Join path elements the way Curator's ``ZKPaths.makePath`` does: one leading slash, no
    trailing slash, no empty elements."""
    parts = [part.strip("/") for part in (parent, *children)]
    return "/" + "/".join(part for part in parts if part)


def check_element(kind: str, value: str) -> str:
    """Validate one path element (a user, namespace or subdomain); raises ConfigError."""
    if not value or not _ELEMENT_RE.match(value) or value in (".", ".."):
        raise ConfigError(
            f"invalid {kind} {value!r} for a ZooKeeper path: it must be non-empty and contain no "
            "'/' or control characters"
        )
    return value


def space_root(namespace: str, share_level: str, version: str = KYUUBI_VERSION) -> str:
    """``/<namespace>_<version>_<SHARELEVEL>_DATA_AGENT``: the parent of every user's engines."""
    level = _check_level(share_level)
    check_element("namespace", namespace.strip("/"))
    return make_path(f"{namespace.strip('/')}_{version}_{level}_{ENGINE_TYPE}")


def engine_space(
    namespace: str,
    share_level: str,
    user: str,
    jdbc_url: str | None,
    ref_id: str | None = None,
    version: str = KYUUBI_VERSION,
    *,
    lock: bool = False,
) -> str:
    """The znode under which the engine for (share level, user, datasource) registers; with
    ``lock``, its creation lock (``_lock`` appended to the first element)."""
    return make_path(
        space_root(namespace, share_level, version) + ("_lock" if lock else ""),
        check_element("user", user),
        _last_element(share_level, jdbc_url, ref_id),
    )


def _check_level(share_level: str) -> str:
    level = share_level.strip().upper()
    if level not in SHARE_LEVELS:
        raise ConfigError(f"invalid share level {share_level!r}; accepted values: {', '.join(SHARE_LEVELS)}")
    return level


def _last_element(share_level: str, jdbc_url: str | None, ref_id: str | None) -> str:
    if _check_level(share_level) == "CONNECTION":
        if not ref_id:
            raise ConfigError("share level CONNECTION needs an engine refId (kyuubi.engine.engineRef.id)")
        return check_element("refId", ref_id)
    return subdomain(jdbc_url)


@dataclass(frozen=True)
class NodeName:
    """One engine node: ``serverUri=host:port;version=V;kyuubi.engine.id=ID;refId=ID;sequence=N``."""

    host: str
    port: int
    version: str = KYUUBI_VERSION
    engine_id: str | None = None
    ref_id: str | None = None
    sequence: int | None = None
    attributes: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def prefix(self) -> str:
        """The name without the sequence number: what is passed to a sequential create."""
        for label, value in (
            ("engine id", self.engine_id),
            ("refId", self.ref_id),
            ("version", self.version),
        ):
            if value is not None and (";" in value or "/" in value or "=" in value or not value):
                raise ConfigError(f"invalid {label} {value!r}: it may not contain ';', '/' or '='")
        text = f"serverUri={self.address};version={self.version}"
        if self.engine_id:
            text += f";{ENGINE_ID_ATTR}={self.engine_id}"
        if self.ref_id:
            text += f";refId={self.ref_id}"
        return text + ";sequence="

    def name(self) -> str:
        if self.sequence is None:
            raise ValueError("a node name needs its sequence number")
        return f"{self.prefix()}{self.sequence:010d}"

    @classmethod
    def parse(cls, name: str) -> NodeName:
        """Parse a child name the way Kyuubi and the Hive JDBC driver read it.

        Raises ValueError when the name has no usable ``serverUri=host:port``.
        """
        attributes: dict[str, str] = {}
        for part in name.split(";"):
            key, sep, value = part.partition("=")
            if sep:
                attributes[key] = value
        host, port = parse_address(attributes.get("serverUri", ""))
        sequence_text = attributes.get("sequence", "")
        return cls(
            host=host,
            port=port,
            version=attributes.get("version", ""),
            engine_id=attributes.get(ENGINE_ID_ATTR),
            ref_id=attributes.get("refId"),
            sequence=int(sequence_text) if sequence_text.isdigit() else None,
            attributes=attributes,
        )


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts may be bracketed) -> (host, port); raises ValueError."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"not a host:port address: {text!r}")
    return host, int(port_text)


def sorted_nodes(children: list[str]) -> list[NodeName]:
    """Parse the children of an engine space, skipping foreign names, oldest sequence first."""
    nodes = []
    for child in children:
        try:
            node = NodeName.parse(child)
        except ValueError:
            continue
        nodes.append(node)
    return sorted(nodes, key=lambda node: (node.sequence is None, node.sequence or 0))


def server_address(name: str, data: str) -> tuple[str, int]:
    """The address of one server node of a discovery namespace, read as the Hive JDBC driver
    reads it: data ``host:port`` (no ``=``) is the address; data ``k=v;...`` are server settings
    (``hive.server2.thrift.bind.host``/``.port``); otherwise the name's ``serverUri``.

    Raises ValueError when none of them gives an address.
    """
    data = data.strip()
    if data and "=" not in data:
        return parse_address(data)
    if data:
        settings = dict(part.partition("=")[::2] for part in data.split(";") if "=" in part)
        host = settings.get("hive.server2.thrift.bind.host", "")
        port = settings.get("hive.server2.thrift.port", "")
        if host and port:
            return parse_address(f"{host}:{port}")
    node = NodeName.parse(name)
    return node.host, node.port
