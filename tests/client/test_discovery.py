"""``data-agent`` finds its engine through a real throwaway ZooKeeper, as the Hive JDBC driver
does: the children of ``zooKeeperNamespace``, their data read as ``host:port`` or as
``hive.server2.thrift.*`` settings."""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.client import KazooClient

from engine.common.znode import engine_space
from tests.client.conftest import data_agent
from tests.fakes.openai_server import text

pytestmark = [pytest.mark.zookeeper, pytest.mark.timeout(120)]


def wait_for_children(zk: KazooClient, path: str, timeout: float = 30.0) -> list[str]:
    changed = threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        changed.clear()
        if zk.exists(path, watch=lambda _event: changed.set()):
            children = zk.get_children(path, watch=lambda _event: changed.set())
            if children:
                return children
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"nothing registered under {path}")
        changed.wait(min(remaining, 1.0))


def discovery_url(zookeeper, namespace_path: str) -> str:
    return (
        f"jdbc:hive2://{zookeeper.address}/default;serviceDiscoveryMode=zooKeeper;"
        f"zooKeeperNamespace={namespace_path.lstrip('/')}"
    )


def test_an_engine_registered_in_zookeeper_is_found(engine_process, llm, shop, zookeeper, zk, namespace):
    engine = engine_process(
        {
            "kyuubi.ha.addresses": zookeeper.address,
            "kyuubi.ha.namespace": namespace,
            "kyuubi.session.user": "alice",
        }
    )
    space = engine_space(namespace, "USER", "alice", f"jdbc:sqlite:{shop}")
    wait_for_children(zk, space)
    llm.add(text("Found through ZooKeeper."))
    result = data_agent(discovery_url(zookeeper, space), "-n", "alice", "-e", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Found through ZooKeeper.\n"
    assert engine.port  # the engine it found is the one registered


def test_server_settings_data_and_empty_namespaces(shared, zookeeper, zk, namespace):
    engine = shared.engine
    path = f"/{namespace}_hs2"
    zk.create(
        f"{path}/serverUri=elsewhere:1;version=x;sequence=0000000001",
        (
            f"hive.server2.thrift.bind.host={engine.host};hive.server2.thrift.port={engine.port};"
            "hive.server2.transport.mode=binary"
        ).encode(),
        makepath=True,
    )
    shared.llm.add(text("Found by its settings."))
    result = data_agent(discovery_url(zookeeper, path), "-n", "alice", "-e", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Found by its settings.\n"
    empty = data_agent(discovery_url(zookeeper, f"/{namespace}_nothing"), "-e", "hi")
    assert empty.returncode == 3 and "no server is registered under" in empty.stderr


def test_an_unreachable_zookeeper_fails_fast():
    url = "jdbc:hive2://127.0.0.1:1/;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=x"
    started = time.monotonic()
    result = data_agent(url, "-e", "hi", "--connect-timeout", "2")
    assert result.returncode == 3 and "ZooKeeper unreachable at 127.0.0.1:1" in result.stderr
    assert time.monotonic() - started < 20
