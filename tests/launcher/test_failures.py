"""Bad input: each gets a clear error naming the cause, and leaves no orphan process or stale node."""

from __future__ import annotations

import socket
from pathlib import Path

from kazoo.client import KazooClient

from engine.common.znode import engine_space
from tests.launcher.conftest import LauncherRunner, engine_pids
from tests.launcher.test_launcher import sqlite_url


def assert_clean(launcher: LauncherRunner) -> None:
    assert engine_pids(launcher.work) == []
    assert launcher.engines() == []


def test_zookeeper_unreachable(launcher: LauncherRunner) -> None:
    proc = launcher.run(
        "launch",
        None,
        conf=["kyuubi.ha.addresses=127.0.0.1:1", "kyuubi.ha.zookeeper.connection.timeout=PT1S"],
    )
    assert proc.returncode == 3
    assert "ZooKeeper unreachable at 127.0.0.1:1" in proc.stderr
    assert proc.stdout == ""
    assert_clean(launcher)


def test_lock_timeout(launcher: LauncherRunner, tmp_path: Path, zk: KazooClient) -> None:
    url = sqlite_url(tmp_path)
    lock = zk.Lock(
        engine_space(launcher.namespace, "USER", "dave", url, lock=True), identifier="other-launcher"
    )
    assert lock.acquire(timeout=10)
    try:
        proc = launcher.run(
            "launch",
            url,
            conf=["kyuubi.engine.data.agent.launch.lock.timeout=PT1S"],
            extra=["--user", "dave"],
        )
    finally:
        lock.release()
    assert proc.returncode == 4
    assert "creation lock" in proc.stderr and "kyuubi.engine.data.agent.launch.lock.timeout" in proc.stderr
    assert_clean(launcher)


def test_bad_configuration_key_and_values(launcher: LauncherRunner) -> None:
    cases = [
        (
            "kyuubi.engine.data.agent.no.such.key=1",
            "unknown configuration key: kyuubi.engine.data.agent.no.such.key",
        ),
        ("kyuubi.engine.share.level=PARTY", "kyuubi.engine.share.level"),
        ("kyuubi.session.engine.initialize.timeout=soon", "kyuubi.session.engine.initialize.timeout"),
        ("not-a-pair", "malformed --conf"),
    ]
    for pair, message in cases:
        proc = launcher.run("launch", None, conf=[pair])
        assert proc.returncode == 2, (pair, proc.stderr)
        assert message in proc.stderr, (pair, proc.stderr)
    bad_user = launcher.run("launch", None, extra=["--user", "a/b"])
    assert bad_user.returncode == 2 and "invalid user" in bad_user.stderr
    assert_clean(launcher)


def test_engine_with_a_bad_jdbc_url_fails_fast_with_its_log(launcher: LauncherRunner) -> None:
    proc = launcher.run("launch", "jdbc:nosuchdb://host/db")
    assert proc.returncode == 5, proc.stderr[-2000:]
    assert "the engine exited with code" in proc.stderr and "last lines" in proc.stderr
    assert "nosuchdb" in proc.stderr.split("last lines", 1)[1]  # the engine's own reason is shown
    assert_clean(launcher)


def test_engine_port_in_use_fails_fast(launcher: LauncherRunner, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = launcher.run(
            "launch", sqlite_url(tmp_path), conf=[f"kyuubi.frontend.thrift.binary.bind.port={port}"]
        )
    assert proc.returncode == 5, proc.stderr[-2000:]
    tail = proc.stderr.split("last lines", 1)[1]
    assert str(port) in tail or "in use" in tail.lower()
    assert_clean(launcher)
