"""The launcher's ZooKeeper client: capped reconnect back-off and bounded requests."""

from __future__ import annotations

import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from engine.common.config import HA_ADDRESSES, HA_CONNECTION_TIMEOUT, HA_SESSION_TIMEOUT, EngineConf
from engine.common.errors import ConfigError
from launcher.errors import ZooKeeperUnavailableError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0  # one ZooKeeper request


def open_client(conf: EngineConf) -> KazooClient:
    """Connect to ``kyuubi.ha.addresses``; raises ZooKeeperUnavailableError naming the address."""
    addresses = conf.get(HA_ADDRESSES)
    if not addresses:
        raise ConfigError(f"{HA_ADDRESSES.key} is not set; the launcher finds engines in ZooKeeper")
    timeout = float(conf.get(HA_CONNECTION_TIMEOUT))
    client = KazooClient(
        hosts=addresses,
        timeout=float(conf.get(HA_SESSION_TIMEOUT)),
        # kazoo's default back-off can outlast a short outage; cap it at one second.
        connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.05, backoff=2, max_delay=1.0),
    )
    try:
        client.start(timeout=timeout)
    except (KazooTimeoutError, KazooException, OSError, ValueError) as exc:
        close_client(client)
        raise ZooKeeperUnavailableError(
            f"ZooKeeper unreachable at {addresses} within {timeout:g} s ({type(exc).__name__}); "
            f"check {HA_ADDRESSES.key} and {HA_CONNECTION_TIMEOUT.key}"
        ) from None
    return client


def close_client(client: KazooClient) -> None:
    try:
        client.stop()
        client.close()
    except Exception:
        log.debug("closing the ZooKeeper client failed", exc_info=True)


def result(async_result: Any, what: str, timeout: float = REQUEST_TIMEOUT) -> Any:
    """Wait for a kazoo async result with a timeout; map failures to ZooKeeperUnavailableError."""
    try:
        return async_result.get(timeout=timeout)
    except KazooTimeoutError:
        raise ZooKeeperUnavailableError(f"ZooKeeper did not answer {what} within {timeout:g} s") from None
