"""The launcher's ZooKeeper client: capped reconnect back-off and bounded requests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.states import WatchedEvent

from engine.common.config import HA_ADDRESSES, HA_CONNECTION_TIMEOUT, EngineConf
from engine.zookeeper import build_client, close_client
from launcher.errors import ZooKeeperUnavailableError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0  # one ZooKeeper request
Watcher = Callable[[WatchedEvent], object]


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


def children(client: KazooClient, path: str, *, watch: Watcher | None = None) -> list[str]:
    """The children of ``path`` (NoNodeError when it does not exist)."""
    found: list[str] = _await(client.get_children_async(path, watch=watch), f"children of {path}")
    return found


def exists(client: KazooClient, path: str, *, watch: Watcher | None = None) -> bool:
    return _await(client.exists_async(path, watch=watch), f"exists {path}") is not None


def data(client: KazooClient, path: str) -> bytes:
    """The data of ``path`` (NoNodeError when it does not exist)."""
    value, _stat = _await(client.get_async(path), f"data of {path}")
    return bytes(value or b"")


def delete(client: KazooClient, path: str) -> None:
    """Delete ``path`` (NoNodeError when it does not exist)."""
    _await(client.delete_async(path), f"delete {path}")


def _await(async_result: IAsyncResult, what: str, timeout: float = REQUEST_TIMEOUT) -> Any:
    """Wait for a kazoo async result with a timeout; map failures to ZooKeeperUnavailableError."""
    try:
        return async_result.get(timeout=timeout)
    except KazooTimeoutError:
        raise ZooKeeperUnavailableError(f"ZooKeeper did not answer {what} within {timeout:g} s") from None
