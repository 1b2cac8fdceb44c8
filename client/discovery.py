"""ZooKeeper service discovery, as the Hive JDBC driver does it: list the children of the
namespace, pick one at random and read its address. Uses the launcher's one ZooKeeper client
builder; kazoo is imported only when a discovery URL is used."""

from __future__ import annotations

import logging
import random

from engine.common.errors import ConfigError, EngineError
from engine.common.znode import server_address

log = logging.getLogger(__name__)


class DiscoveryError(Exception):
    """No server could be found through ZooKeeper; the message says where we looked."""


def discover(quorum: str, namespace: str, timeout: float) -> tuple[str, int]:
    """A random live server of ``/<namespace>`` on ``quorum``; raises DiscoveryError."""
    from engine.common.config import EngineConf
    from launcher.discovery import EngineDiscovery
    from launcher.zk import close_client, open_client

    path = "/" + namespace.strip("/")
    try:
        conf = EngineConf.load(
            [f"kyuubi.ha.addresses={quorum}", f"kyuubi.ha.zookeeper.connection.timeout=PT{timeout:g}S"],
            environ={},
        )
        client = open_client(conf)
    except (ConfigError, EngineError) as exc:
        raise DiscoveryError(str(exc)) from None
    try:
        nodes = EngineDiscovery(client).server_nodes(path)
    except EngineError as exc:
        raise DiscoveryError(str(exc)) from None
    finally:
        close_client(client)
    addresses = []
    for name, data in nodes:
        try:
            addresses.append(server_address(name, data))
        except ValueError:
            log.debug("skipping znode %s/%s: no address", path, name)
    if not addresses:
        raise DiscoveryError(f"no server is registered under {path} in ZooKeeper {quorum}")
    return random.choice(addresses)
