"""EngineRegistration in-process against a real ZooKeeper: node format, watch, steal, recovery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from engine.common.config import EngineConf
from engine.common.znode import KYUUBI_VERSION, NodeName, engine_space
from engine.registration import EngineRegistration, RegistrationError
from tests.launcher.conftest import StopRecorder, ZooKeeper, wait_children, wait_until

URL = "jdbc:sqlite:/tmp/registration-test.db"


def expire_session(zookeeper: ZooKeeper, registration: EngineRegistration) -> None:
    """End the engine's ZooKeeper session from outside (a client that takes over its session id
    and closes it): its ephemeral node goes with it, as when the server expires it."""
    session_id, password = registration.client_id
    thief = KazooClient(hosts=zookeeper.address, client_id=(session_id, password), timeout=4)
    thief.start(timeout=10)
    thief.stop()
    thief.close()


def conf(zookeeper: ZooKeeper, namespace: str, **extra: str) -> EngineConf:
    raw = {
        "kyuubi.ha.addresses": zookeeper.address,
        "kyuubi.ha.namespace": namespace,
        "kyuubi.ha.zookeeper.session.timeout": "PT4S",
        "kyuubi.engine.data.agent.ha.lost.grace": "PT10S",
        "kyuubi.session.user": "alice",
        "kyuubi.engine.data.agent.jdbc.url": URL,
        "kyuubi.engine.engineRef.id": str(uuid.uuid4()),
        "kyuubi.engine.id": "data-agent-test",
    }
    raw.update(extra)
    return EngineConf(raw)


@pytest.fixture
def registrations() -> Iterator[list[EngineRegistration]]:
    made: list[EngineRegistration] = []
    yield made
    for registration in made:
        registration.stop()


def register(
    made: list[EngineRegistration], engine_conf: EngineConf, port: int = 10009
) -> tuple[EngineRegistration, StopRecorder]:
    stopper = StopRecorder()
    registration = EngineRegistration(
        engine_conf, "127.0.0.1", port, request_stop=stopper, session_count=lambda: 0
    )
    made.append(registration)
    registration.start()
    return registration, stopper


def test_node_format_data_and_ephemeral(
    zookeeper: ZooKeeper, namespace: str, zk: KazooClient, registrations: list[EngineRegistration]
) -> None:
    engine_conf = conf(zookeeper, namespace)
    registration, _ = register(registrations, engine_conf, 10123)
    space = engine_space(namespace, "USER", "alice", URL)
    assert registration.space == space
    [child] = zk.get_children(space)
    ref = engine_conf.get("kyuubi.engine.engineRef.id")
    assert child.startswith(
        f"serverUri=127.0.0.1:10123;version={KYUUBI_VERSION};kyuubi.engine.id=data-agent-test;refId={ref};sequence="
    )
    assert len(child.rsplit("=", 1)[1]) == 10
    data, stat = zk.get(f"{space}/{child}")
    assert data == b"127.0.0.1:10123"
    assert stat.ephemeralOwner == registration.client_id[0]
    assert zk.exists(space).ephemeralOwner == 0  # the namespace is persistent
    registration.stop()
    assert zk.get_children(space) == []


def test_deleting_the_node_requests_a_stop(
    zookeeper: ZooKeeper, namespace: str, zk: KazooClient, registrations: list[EngineRegistration]
) -> None:
    registration, stopper = register(registrations, conf(zookeeper, namespace))
    zk.delete(registration.node_path)
    assert stopper.called.wait(10)
    assert "deleted" in stopper.reasons[0]


def test_session_steal_reregisters_exactly_once(
    zookeeper: ZooKeeper, namespace: str, zk: KazooClient, registrations: list[EngineRegistration]
) -> None:
    registration, stopper = register(registrations, conf(zookeeper, namespace))
    first = registration.node_path
    session_id = registration.client_id[0]
    expire_session(zookeeper, registration)
    space = registration.space
    children = wait_children(zk, space, lambda c: len(c) == 1 and f"{space}/{c[0]}" != first, 20)
    wait_until(lambda: registration.node_path == f"{space}/{children[0]}", 10, "the new node path")
    assert zk.exists(registration.node_path).ephemeralOwner == registration.client_id[0] != session_id
    assert not stopper.called.is_set()
    assert len(zk.get_children(space)) == 1


def test_replacement_registered_while_lost_makes_the_old_engine_stop(
    zookeeper: ZooKeeper, namespace: str, zk: KazooClient, registrations: list[EngineRegistration]
) -> None:
    engine_conf = conf(zookeeper, namespace)
    old, old_stopper = register(registrations, engine_conf, 10001)
    space = old.space
    # A launcher holds the creation lock while it starts a replacement...
    lock = zk.Lock(engine_space(namespace, "USER", "alice", URL, lock=True), identifier="test-launcher")
    assert lock.acquire(timeout=10)
    try:
        expire_session(zookeeper, old)
        wait_children(zk, space, lambda c: c == [], 20)
        replacement_conf = conf(zookeeper, namespace)
        _new, new_stopper = register(registrations, replacement_conf, 10002)
    finally:
        lock.release()
    # ...and the old engine, back with a new session, finds it under the lock and stops.
    assert old_stopper.called.wait(20)
    assert "another engine" in old_stopper.reasons[0]
    children = zk.get_children(space)
    assert [NodeName.parse(c).port for c in children] == [10002]
    assert not new_stopper.called.is_set()


def test_lost_without_recovery_in_grace_stops(
    zookeeper: ZooKeeper, namespace: str, zk: KazooClient, registrations: list[EngineRegistration]
) -> None:
    registration, stopper = register(
        registrations, conf(zookeeper, namespace, **{"kyuubi.engine.data.agent.ha.lost.grace": "PT2S"})
    )
    lock = zk.Lock(engine_space(namespace, "USER", "alice", URL, lock=True), identifier="blocker")
    assert lock.acquire(timeout=10)
    try:
        expire_session(zookeeper, registration)
        assert stopper.called.wait(20)
    finally:
        lock.release()
    assert "not regained" in stopper.reasons[0]
    assert zk.get_children(registration.space) == []


def test_unreachable_zookeeper_is_a_clear_error() -> None:
    bad = EngineConf(
        {
            "kyuubi.ha.addresses": "127.0.0.1:1",
            "kyuubi.ha.zookeeper.connection.timeout": "PT1S",
        }
    )
    registration = EngineRegistration(bad, "127.0.0.1", 1, request_stop=lambda _r: None)
    with pytest.raises(RegistrationError, match=r"cannot reach ZooKeeper at 127\.0\.0\.1:1"):
        registration.start()
