"""Launcher fixtures: a kazoo client on the session's real ZooKeeper (``tests/support/zookeeper.py``),
a fresh namespace per test, and helpers that run the launcher and engines as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.support.zookeeper import ZooKeeper

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> object:
    """Wait for a condition that has no event to wait on (a process exit, a port closing)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.05)


def wait_children(
    zk: KazooClient, path: str, predicate: Callable[[list[str]], bool], timeout: float
) -> list[str]:
    """Wait, with a children watch, until ``predicate(children)`` holds."""
    changed = threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        changed.clear()
        children = zk.get_children(path, watch=lambda _e: changed.set()) if zk.exists(path) else []
        if predicate(children):
            return children
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting on children of {path}: {children}")
        changed.wait(min(remaining, 0.5))


@dataclass
class Launch:
    proc: subprocess.CompletedProcess[str]

    @property
    def address(self) -> str:
        return self.proc.stdout.splitlines()[0]


class LauncherRunner:
    """Runs ``python -m launcher`` and remembers every engine it may have started."""

    def __init__(self, zookeeper: ZooKeeper, namespace: str, work: Path, zk: KazooClient) -> None:
        self.zookeeper = zookeeper
        self.namespace = namespace
        self.work = work
        self.zk = zk

    def base(self) -> list[str]:
        return [
            f"kyuubi.ha.addresses={self.zookeeper.address}",
            f"kyuubi.ha.namespace={self.namespace}",
            f"kyuubi.engine.data.agent.work.dir={self.work}",
            "kyuubi.ha.zookeeper.session.timeout=PT4S",
            "kyuubi.session.engine.initialize.timeout=PT60S",
        ]

    def argv(self, command: str, conf: list[str] = (), extra: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        argv = [sys.executable, "-m", "launcher", command]
        for pair in [*self.base(), *conf]:
            argv += ["--conf", pair]
        return argv + list(extra)

    def env(self, url: str | None = None, secrets: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KYUUBI_", "OPENAI_"))}
        env["PYTHONPATH"] = str(ROOT)
        if url is not None:
            env["KYUUBI_ENGINE_DATA_AGENT_JDBC_URL"] = url
        env.update(secrets or {})
        return env

    def run(
        self,
        command: str,
        url: str | None = None,
        conf: list[str] = (),
        extra: list[str] = (),  # type: ignore[assignment]
        secrets: dict[str, str] | None = None,
        timeout: float = 90,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command, conf, extra),
            env=self.env(url, secrets),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(ROOT),
        )

    def engines(self) -> list[str]:
        """Paths of every engine node under this test's namespace."""
        found = []
        for root in self.zk.get_children("/"):
            if not root.startswith(self.namespace + "_") or root.endswith("_lock"):
                continue
            for user in self.zk.get_children(f"/{root}"):
                for leaf in self.zk.get_children(f"/{root}/{user}"):
                    found += [
                        f"/{root}/{user}/{leaf}/{c}" for c in self.zk.get_children(f"/{root}/{user}/{leaf}")
                    ]
        return found


def engine_pids(work: Path) -> list[int]:
    """Pids of live engine processes whose command line names this test's work dir."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"engine" in cmd and any(str(work).encode() in part for part in cmd):
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def launcher(
    zookeeper: ZooKeeper, namespace: str, tmp_path: Path, zk: KazooClient
) -> Iterator[LauncherRunner]:
    work = tmp_path / "work"
    runner = LauncherRunner(zookeeper, namespace, work, zk)
    yield runner
    for pid in engine_pids(work):  # every engine this test started; never anything else
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


class StopRecorder:
    """An engine registration's ``request_stop``: records each reason and signals the first."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.called = threading.Event()

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.called.set()
