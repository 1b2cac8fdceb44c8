"""The launcher end to end: real engine subprocesses (ECHO provider, SQLite), real ZooKeeper,
real clients (PyHive)."""

from __future__ import annotations

import getpass
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from pyhive import hive

from engine.common.znode import NodeName, engine_space
from tests.launcher.conftest import LauncherRunner, engine_pids, wait_children, wait_until


def sqlite_url(tmp_path: Path, name: str = "data") -> str:
    path = tmp_path / f"{name}.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, amount REAL)")
        conn.execute("INSERT INTO orders (amount) VALUES (10.5), (20.0)")
    return f"jdbc:sqlite:{path}"


def ask(address: str, question: str = "how many orders are there?") -> list[tuple[object, ...]]:
    host, port = address.rsplit(":", 1)
    conn = hive.connect(host, int(port), username="u", auth="NONE")
    try:
        cursor = conn.cursor()
        cursor.execute(question)
        return cursor.fetchall()
    finally:
        conn.close()


def launch_ok(launcher: LauncherRunner, url: str | None, **kwargs: object) -> str:
    proc = launcher.run("launch", url, **kwargs)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[1] == f"jdbc:hive2://{lines[0]}/default"
    assert lines[2].startswith(
        f"jdbc:hive2://{launcher.zookeeper.address}/default;serviceDiscoveryMode=zooKeeper;"
    )
    return lines[0]


def pid_of(launcher: LauncherRunner) -> int:
    pids = engine_pids(launcher.work)
    assert len(pids) == 1, pids
    return pids[0]


@dataclass(frozen=True)
class Launched:
    """The only engine running: the datasource URL it serves, its address, its znode and pid."""

    url: str
    address: str
    node: str
    pid: int

    @property
    def space(self) -> str:
        return self.node.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return self.node.rsplit("/", 1)[1]


def launch_one(launcher: LauncherRunner, tmp_path: Path) -> Launched:
    url = sqlite_url(tmp_path)
    address = launch_ok(launcher, url)
    [node] = launcher.engines()
    return Launched(url, address, node, pid_of(launcher))


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The process frozen (SIGSTOP) for the block, and continued (SIGCONT) after it whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_two_datasources_two_engines_and_reuse(launcher: LauncherRunner, tmp_path: Path) -> None:
    url_a, url_b = sqlite_url(tmp_path, "a"), sqlite_url(tmp_path, "b")
    first = launch_ok(launcher, url_a)
    again = launch_ok(launcher, url_a)
    other = launch_ok(launcher, url_b)
    assert first == again != other
    assert len(launcher.engines()) == 2
    assert len(engine_pids(launcher.work)) == 2
    assert ask(first) and ask(other)


def test_five_concurrent_launchers_make_one_engine(launcher: LauncherRunner, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    procs = [
        subprocess.Popen(
            launcher.argv("launch"),
            env=launcher.env(url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    results = [proc.communicate(timeout=90) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 5, [err[-1000:] for _, err in results]
    assert len({out.splitlines()[0] for out, _ in results}) == 1
    assert len(launcher.engines()) == 1
    assert len(engine_pids(launcher.work)) == 1


def test_kill_9_removes_the_node_and_the_next_launch_starts_a_new_engine(
    launcher: LauncherRunner, tmp_path: Path, zk: KazooClient
) -> None:
    first = launch_one(launcher, tmp_path)
    os.kill(first.pid, signal.SIGKILL)
    wait_children(zk, first.space, lambda children: children == [], 30)  # the session expires (4 s)
    second = launch_ok(launcher, first.url)
    [new_node] = launcher.engines()
    assert (
        new_node != first.node
        and NodeName.parse(new_node.rsplit("/", 1)[1]).ref_id != NodeName.parse(first.name).ref_id
    )
    assert ask(second)


def test_frozen_engine_reregisters_when_nobody_replaced_it(
    launcher: LauncherRunner, tmp_path: Path, zk: KazooClient
) -> None:
    engine = launch_one(launcher, tmp_path)
    with stopped(engine.pid):
        wait_children(zk, engine.space, lambda children: children == [], 30)
    children = wait_children(zk, engine.space, lambda children: len(children) == 1, 30)
    assert NodeName.parse(children[0]).ref_id == NodeName.parse(engine.name).ref_id
    assert children[0] != engine.name  # a new sequence under a new session
    assert ask(engine.address)
    assert len(zk.get_children(engine.space)) == 1


def test_frozen_engine_replaced_meanwhile_stops_instead_of_a_second_owner(
    launcher: LauncherRunner, tmp_path: Path, zk: KazooClient
) -> None:
    old = launch_one(launcher, tmp_path)
    with stopped(old.pid):
        wait_children(zk, old.space, lambda children: children == [], 30)
        replacement = launch_ok(launcher, old.url)
    wait_until(lambda: old.pid not in engine_pids(launcher.work), 40, "the frozen engine to stop")
    [only] = zk.get_children(old.space)
    assert NodeName.parse(only).address == replacement
    assert ask(replacement)


def test_hive_jdbc_style_discovery_and_pyhive(
    launcher: LauncherRunner, tmp_path: Path, zk: KazooClient
) -> None:
    url = sqlite_url(tmp_path)
    launch_ok(launcher, url, extra=["--user", "carol"])
    # serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=<engine space without the leading slash>
    zoo_namespace = engine_space(launcher.namespace, "USER", "carol", url).lstrip("/")
    children = zk.get_children("/" + zoo_namespace)
    server_uris = [
        part.split("=", 1)[1]
        for child in children
        for part in child.split(";")
        if part.startswith("serverUri=")
    ]
    assert len(server_uris) == 1
    data, _ = zk.get(f"/{zoo_namespace}/{children[0]}")
    assert data.decode() == server_uris[0] and "=" not in data.decode()
    rows = ask(server_uris[0])
    assert rows and any("orders" in str(row) or "how many" in str(row) for row in rows)


def test_stop_and_idle_exit_remove_the_node(
    launcher: LauncherRunner, tmp_path: Path, zk: KazooClient
) -> None:
    url = sqlite_url(tmp_path)
    launch_ok(launcher, url)
    pid = pid_of(launcher)
    stopped = launcher.run("stop", url)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert stopped.stdout.startswith("stopped ")
    assert launcher.engines() == []
    wait_until(lambda: pid not in engine_pids(launcher.work), 30, "the stopped engine to exit")
    assert launcher.run("stop", url).returncode == 7  # nothing left to stop

    idle_url = sqlite_url(tmp_path, "idle")
    launch_ok(launcher, idle_url, conf=["kyuubi.session.engine.idle.timeout=PT1S"])
    [node] = launcher.engines()
    wait_children(zk, node.rsplit("/", 1)[0], lambda children: children == [], 30)
    wait_until(lambda: not engine_pids(launcher.work), 30, "the idle engine to exit")


def test_stop_by_user_needs_no_datasource_url(launcher: LauncherRunner, tmp_path: Path) -> None:
    first = launch_ok(launcher, sqlite_url(tmp_path, "one"), extra=["--user", "carol"])
    second = launch_ok(launcher, sqlite_url(tmp_path, "two"), extra=["--user", "carol"])
    launch_ok(launcher, sqlite_url(tmp_path, "one"), extra=["--user", "dan"])
    assert len(launcher.engines()) == 3
    # two engines of carol's and no URL to tell them apart: an error that lists both
    ambiguous = launcher.run("stop", None, extra=["--user", "carol"])
    assert ambiguous.returncode == 2, ambiguous.stderr[-2000:]
    assert "carol has 2 USER engines" in ambiguous.stderr
    ids = [NodeName.parse(path.rsplit("/", 1)[1]) for path in launcher.engines()]
    by_address = {node.address: node.engine_id for node in ids}
    assert f"--engine-id {by_address[first]}" in ambiguous.stderr
    assert f"--engine-id {by_address[second]}" in ambiguous.stderr
    assert len(launcher.engines()) == 3  # nothing stopped
    chosen = launcher.run("stop", None, extra=["--user", "carol", "--engine-id", str(by_address[second])])
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert chosen.stdout == f"stopped {second} {by_address[second]}\n"
    only = launcher.run("stop", None, extra=["--user", "carol"])  # one left: no id needed
    assert only.returncode == 0 and only.stdout.startswith(f"stopped {first} "), only.stderr[-2000:]
    assert launcher.run("stop", None, extra=["--user", "carol"]).returncode == 7
    assert [NodeName.parse(p.rsplit("/", 1)[1]).address for p in launcher.engines()] != []  # dan's stays


def test_share_levels(launcher: LauncherRunner, tmp_path: Path, zk: KazooClient) -> None:
    url = sqlite_url(tmp_path)
    server_a = launch_ok(launcher, url, conf=["kyuubi.engine.share.level=SERVER"], extra=["--user", "alice"])
    server_b = launch_ok(launcher, url, conf=["kyuubi.engine.share.level=SERVER"], extra=["--user", "bob"])
    assert server_a == server_b  # SERVER: one engine for everybody, under the launcher's OS user
    assert zk.get_children(engine_space(launcher.namespace, "SERVER", getpass.getuser(), url))
    conn_a = launch_ok(launcher, url, conf=["kyuubi.engine.share.level=CONNECTION"])
    conn_b = launch_ok(launcher, url, conf=["kyuubi.engine.share.level=CONNECTION"])
    assert conn_a != conn_b  # CONNECTION: an engine per launch
    assert len(launcher.engines()) == 3
    ask(conn_a)  # its only session closes: the engine deregisters and exits
    wait_until(
        lambda: conn_a not in [NodeName.parse(p.rsplit("/", 1)[1]).address for p in launcher.engines()],
        30,
        "the CONNECTION engine to deregister",
    )
    assert len(launcher.engines()) == 2


LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))


@pytest.mark.beeline
@pytest.mark.skipif(not (LAB / "bin" / "env.sh").exists(), reason=f"{LAB} not installed (CI installs it)")
def test_real_hive_jdbc_zookeeper_discovery_with_beeline(launcher: LauncherRunner, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    launched = launcher.run("launch", url, extra=["--user", "frank"])
    assert launched.returncode == 0, launched.stderr[-3000:]
    jdbc = launched.stdout.splitlines()[2]  # the discovery URL launch prints, used as printed
    zoo_namespace = engine_space(launcher.namespace, "USER", "frank", url).lstrip("/")
    assert jdbc == (
        f"jdbc:hive2://{launcher.zookeeper.address}/default;serviceDiscoveryMode=zooKeeper;"
        f"zooKeeperNamespace={zoo_namespace}"
    )
    script = f'source {LAB}/bin/env.sh; beeline -u "$URL" -n frank -p x --silent=false -e "how many orders?"'
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=110, env={**os.environ, "URL": jdbc}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"type":"agent_finish"' in proc.stdout
    # the driver found this very engine through ZooKeeper alone
    [log_file] = list(launcher.work.rglob("engine-*.log"))
    assert "login of frank" in log_file.read_text()
