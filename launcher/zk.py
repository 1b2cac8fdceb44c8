"""The launcher's ZooKeeper client: capped reconnect back-off and bounded requests."""

from __future__ import annotations

import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.interfaces import IAsyncResult

from engine.common.config import HA_ADDRESSES, HA_CONNECTION_TIMEOUT, EngineConf
from engine.zookeeper import build_client, close_client
from launcher.errors import ZooKeeperUnavailableError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0  # one ZooKeeper request


def open_client(conf: EngineConf) -> KazooClient:
    """Connect to ``kyuubi.ha.addresses``; raises ZooKeeperUnavailableError naming the address."""
    client = build_client(conf, purpose="the launcher (it finds engines in ZooKeeper)")
    addresses = conf.get(HA_ADDRESSES)
    timeout = conf.get(HA_CONNECTION_TIMEOUT)
    try:
        client.start(timeout=timeout)
    except (KazooTimeoutError, KazooException, OSError, ValueError) as exc:
        close_client(client)
        raise ZooKeeperUnavailableError(
            f"ZooKeeper unreachable at {addresses} within {timeout:g} s ({type(exc).__name__}); "
            f"check {HA_ADDRESSES.key} and {HA_CONNECTION_TIMEOUT.key}"
        ) from None
    return client


def result(async_result: IAsyncResult, what: str, timeout: float = REQUEST_TIMEOUT) -> Any:
    """Wait for a kazoo async result with a timeout; map failures to ZooKeeperUnavailableError."""
    try:
        return async_result.get(timeout=timeout)
    except KazooTimeoutError:
        raise ZooKeeperUnavailableError(f"ZooKeeper did not answer {what} within {timeout:g} s") from None
