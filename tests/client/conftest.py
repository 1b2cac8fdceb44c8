"""Client fixtures: a real engine in its own process answering through the scripted LLM (which
runs in the test process), ``data-agent`` run as a subprocess, and a real terminal under tmux."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.databases import sqlite_shop

ROOT = Path(__file__).resolve().parents[2]
AGENT = "kyuubi.engine.data.agent."
API_KEY = "sk-client-0123456789abcdefghij"


def rows_for(shop: Path, customer: str) -> int:
    with sqlite3.connect(shop) as connection:
        return connection.execute("SELECT COUNT(*) FROM orders WHERE customer = ?", (customer,)).fetchone()[0]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KYUUBI_", "OPENAI_", "DATA_AGENT_", "PYTEST_", "TMUX"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


@dataclass
class EngineProcess:
    """``python -m engine`` with its stderr read line by line (readiness: "engine serving on")."""

    proc: subprocess.Popen[str]
    host: str = ""
    port: int = 0
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if not self.ready.is_set() and "engine serving on " in line:
                address = line.split("engine serving on ", 1)[1].split()[0]
                host, _, port = address.rpartition(":")
                self.host, self.port = host, int(port)
                self.ready.set()
        self.ready.set()  # exited: let the waiter see it

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_engine_process(
    work: Path, shop: Path, llm: FakeOpenAIServer, conf: dict[str, str] | None = None
) -> EngineProcess:
    """An engine on 127.0.0.1 port 0 over the ``shop`` database, answering through ``llm``."""
    values = {
        "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
        "kyuubi.frontend.thrift.binary.bind.port": "0",
        AGENT + "work.dir": str(work),
        AGENT + "provider": "OPENAI_COMPATIBLE",
        AGENT + "openai.endpoint": llm.url,
        AGENT + "model": "fake-model",
        AGENT + "llm.retry.backoff": "PT0.01S",
        # fetch.wait stays the engine's default: the client must not take an empty fetch for the end
    }
    values.update(conf or {})
    argv = [sys.executable, "-m", "engine"]
    for key, value in values.items():
        argv += ["--conf", f"{key}={value}"]
    env = child_env(
        {
            "KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": API_KEY,
            "KYUUBI_ENGINE_DATA_AGENT_JDBC_URL": f"jdbc:sqlite:{shop}",
        }
    )
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = EngineProcess(proc)
    threading.Thread(target=engine._read, name="engine-stderr", daemon=True).start()
    if not engine.ready.wait(60) or not engine.port:
        engine.stop()
        raise AssertionError("the engine did not start:\n" + "".join(engine.lines[-30:]))
    return engine


@pytest.fixture
def engine_process(
    tmp_path: Path, shop: Path, llm: FakeOpenAIServer
) -> Iterator[Callable[..., EngineProcess]]:
    """Factory ``engine_process(conf=None) -> EngineProcess`` over this test's ``shop`` and
    ``llm``; every engine is stopped at teardown."""
    started: list[EngineProcess] = []

    def factory(conf: dict[str, str] | None = None) -> EngineProcess:
        engine = start_engine_process(tmp_path / f"engine-{len(started)}", shop, llm, conf)
        started.append(engine)
        return engine

    yield factory
    for engine in reversed(started):
        engine.stop()


@dataclass
class SharedEngine:
    engine: EngineProcess
    llm: FakeOpenAIServer
    shop: Path


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedEngine]:
    """One default engine for a test module (engines take seconds to start)."""
    base = tmp_path_factory.mktemp("shared-engine")
    with FakeOpenAIServer() as llm:
        shop = sqlite_shop(base / "shop.sqlite")
        engine = start_engine_process(base / "work", shop, llm)
        try:
            yield SharedEngine(engine, llm, shop)
        finally:
            engine.stop()


@pytest.fixture
def shared(shared_stack: SharedEngine) -> SharedEngine:
    """The module's engine, with an empty LLM script for this test."""
    shared_stack.llm.clear()
    return shared_stack


def data_agent(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``data-agent`` (``bin/data-agent``) without a terminal."""
    return subprocess.run(
        [str(ROOT / "bin" / "data-agent"), *args],
        env=child_env(env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


class Terminal:
    """A real terminal: one tmux server on its own socket, one window running a command."""

    def __init__(self, command: list[str], env: dict[str, str], width: int = 140, height: int = 50) -> None:
        self.socket = f"data-agent-test-{uuid.uuid4().hex[:10]}"
        self.env = env
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items() if k in TERMINAL_ENV)
        shell = f"cd {_quote(str(ROOT))} && env {exports} " + " ".join(_quote(part) for part in command)
        shell += "; echo '[exited '$?']'; sleep 600"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), shell)

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=15,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {result.stderr}")
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-300", "-t", "t")

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def wait_for(self, predicate: Callable[[str], bool] | str, timeout: float = 30.0) -> str:
        """Poll the screen (there is no event for "the terminal shows X") until it holds."""
        check = (lambda screen: predicate in screen) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {predicate!r}; screen:\n{screen}"
                )
            pause.wait(0.05)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=15)


TERMINAL_ENV = ("PYTHONPATH", "HOME", "DATA_AGENT_PASSWORD", "DATA_AGENT_HISTORY", "PATH", "LANG")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """Factory ``terminal(*data_agent_args, env=None) -> Terminal`` running ``bin/data-agent``."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: bin/setup and .ci/run install it")
    opened: list[Terminal] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> Terminal:
        values = child_env({"HOME": str(tmp_path / "home"), "LANG": "C.UTF-8", **(env or {})})
        (tmp_path / "home").mkdir(exist_ok=True)
        term = Terminal([str(ROOT / "bin" / "data-agent"), *args], values)
        opened.append(term)
        return term

    yield factory
    for term in opened:
        term.close()
