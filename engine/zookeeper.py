"""The one ZooKeeper client builder, shared by the engine's registration, the launcher and the
terminal client's service discovery.

Kazoo's default reconnect back-off grows past a short server outage; ours is capped at one
second, so a ZooKeeper that returns within the session timeout finds its clients back at once and
their sessions (and ephemeral nodes) survive. Requests are retried a few times on connection loss.
"""

from __future__ import annotations

import logging

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from engine.common.config import HA_ADDRESSES, HA_SESSION_TIMEOUT, EngineConf
from engine.common.errors import ConfigError

log = logging.getLogger(__name__)


def build_client(conf: EngineConf, *, purpose: str) -> KazooClient:
    """A kazoo client for ``kyuubi.ha.addresses`` (not started). ``purpose`` names the caller in
    the error raised when no address is configured."""
    addresses = conf.get(HA_ADDRESSES)
    if not addresses:
        raise ConfigError(f"{HA_ADDRESSES.key} is not set; {purpose} needs ZooKeeper")
    return KazooClient(
        hosts=addresses,
        timeout=conf.get(HA_SESSION_TIMEOUT),
        connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.05, backoff=2, max_delay=1.0),
    )


def close_client(client: KazooClient) -> None:
    """Stop and close ``client``; never raises."""
    try:
        client.stop()
        client.close()
    except Exception:
        log.debug("closing the ZooKeeper client failed", exc_info=True)
