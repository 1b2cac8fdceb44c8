"""Sentinel secrets never leak; a ZooKeeper outage does not stop a serving engine."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from engine.common.config import EngineConf
from engine.registration import EngineRegistration
from tests.launcher.conftest import LauncherRunner, engine_pids, wait_until
from tests.launcher.test_launcher import ask, launch_ok, pid_of
from tests.support.zookeeper import ZooKeeper, start_zookeeper

URL_SENTINEL = "SNTLURL7f3a9"
KEY_SENTINEL = "sk-SNTLKEY" + "9c1e" * 8


def all_znodes(zk: KazooClient, namespace: str) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []

    def walk(path: str) -> None:
        data, _ = zk.get(path)
        found.append((path, data or b""))
        for child in zk.get_children(path):
            walk(f"{path.rstrip('/')}/{child}")

    for root in zk.get_children("/"):
        if root.startswith(namespace + "_"):
            walk("/" + root)
    return found


def test_sentinel_secrets_never_leak(launcher: LauncherRunner, tmp_path: Path, zk: KazooClient) -> None:
    directory = tmp_path / URL_SENTINEL
    directory.mkdir()
    with sqlite3.connect(directory / "db.sqlite") as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    url = f"jdbc:sqlite:{directory / 'db.sqlite'}"
    secrets = {"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": KEY_SENTINEL}
    conf = ["kyuubi.engine.data.agent.provider=ECHO"]
    launched = launcher.run("launch", url, conf=conf, secrets=secrets)
    assert launched.returncode == 0, launched.stderr[-3000:]
    reused = launcher.run("launch", url, conf=conf, secrets=secrets)
    listed = launcher.run("list", url, secrets=secrets)
    address = launched.stdout.splitlines()[0]
    assert ask(address)  # the engine really runs with these secrets
    pid = pid_of(launcher)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    assert URL_SENTINEL in environ and KEY_SENTINEL in environ  # the channel they travel by
    logs = [path.read_text(errors="replace") for path in launcher.work.rglob("*.log")]
    assert logs, "the engine log file exists"
    stopped = launcher.run("stop", url, secrets=secrets)
    assert stopped.returncode == 0
    places = {
        "engine cmdline": cmdline,
        "launcher output": launched.stdout + launched.stderr + reused.stdout + reused.stderr,
        "list output": listed.stdout + listed.stderr,
        "stop output": stopped.stdout + stopped.stderr,
        "engine logs": "\n".join(logs),
        "znodes": "\n".join(f"{path} {data!r}" for path, data in all_znodes(zk, launcher.namespace)),
    }
    assert "DATA_AGENT" in places["znodes"]
    for where, text in places.items():
        for sentinel in (URL_SENTINEL, KEY_SENTINEL, KEY_SENTINEL[3:]):
            assert sentinel not in text, f"{sentinel} leaked into the {where}"


@pytest.fixture
def own_zookeeper(tmp_path: Path) -> Iterator[ZooKeeper]:
    directory = tmp_path / "zk"
    directory.mkdir()
    server = start_zookeeper(str(directory))
    yield server
    server.stop()


def test_zookeeper_outage_engine_keeps_serving_and_resumes(own_zookeeper: ZooKeeper, tmp_path: Path) -> None:
    client = KazooClient(hosts=own_zookeeper.address, timeout=30)
    client.start(timeout=15)
    runner = LauncherRunner(own_zookeeper, "outage", tmp_path / "work", client)
    try:
        db = tmp_path / "d.db"
        sqlite3.connect(db).close()
        address = launch_ok(runner, f"jdbc:sqlite:{db}", conf=["kyuubi.ha.zookeeper.session.timeout=PT30S"])
        [node] = runner.engines()
        owner = client.exists(node).ephemeralOwner
        client.stop()
        own_zookeeper.stop()
        outage = threading.Event()
        outage.wait(3)
        assert ask(address), "the engine serves while its ZooKeeper connection is SUSPENDED"
        outage.wait(7)  # about 10 s of outage in all
        own_zookeeper.start()
        back = time.time()
        [log_file] = list(runner.work.rglob("engine-*.log"))
        line = wait_until(
            lambda: next(
                (x for x in log_file.read_text().splitlines() if "resumed with the same session" in x), None
            ),
            20,
            "the engine to resume",
        )
        client.start(timeout=15)
        assert client.exists(node).ephemeralOwner == owner  # same session, same node
        assert ask(address)
        stamp = time.mktime(time.strptime(str(line)[:19], "%Y-%m-%d %H:%M:%S")) + int(str(line)[20:23]) / 1000
        print(f"engine resumed {stamp - back:.3f} s after the server returned")
    finally:
        for pid in engine_pids(runner.work):
            os.kill(pid, 9)
        client.stop()
        client.close()


def test_zookeeper_gone_for_longer_than_session_timeout_plus_grace_stops(own_zookeeper: ZooKeeper) -> None:
    conf = EngineConf(
        {
            "kyuubi.ha.addresses": own_zookeeper.address,
            "kyuubi.ha.zookeeper.session.timeout": "PT4S",
            "kyuubi.engine.data.agent.ha.lost.grace": "PT1S",
            "kyuubi.session.user": "gina",
        }
    )
    reasons: list[str] = []
    stopped = threading.Event()

    def request_stop(reason: str) -> None:
        reasons.append(reason)
        stopped.set()

    registration = EngineRegistration(conf, "127.0.0.1", 10888, request_stop=request_stop)
    registration.start()
    try:
        own_zookeeper.stop()
        assert stopped.wait(30)
        assert "ZooKeeper unreachable for more than 5 s" in reasons[0]
    finally:
        registration.stop()
