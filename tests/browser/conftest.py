"""Fixtures of the web UI's browser tests: the engine in its own process (REST on port 0, CUSTOM
authentication with a password file, the scripted LLM, the SQLite shop, a SQLite run store),
Debian's chromium driven by Playwright (headless, launched by ``executable_path``; we never run
``playwright install``), and one screenshot per test under ``tests/browser/artifacts/`` (or
``$TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.browser.ui import PASSWORD, USER
from tests.durable.support import API_KEY, EngineProcess, StoreTarget, agent_conf
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.passwords import write_password_file

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "engine" / "rest" / "ui"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
REST_LISTENING = re.compile(r"REST API listening on (http://[\d.]+:\d+)")


@dataclass
class WebEngine:
    process: EngineProcess
    url: str

    def stop(self) -> None:
        """Stops it the way an operator does (SIGTERM) and waits for its exit."""
        self.process.signal(signal.SIGTERM)
        self.process.wait(60)


def rest_url(process: EngineProcess) -> str:
    """The REST base URL the engine logged (before or after its Thrift line)."""
    for line in process.output:
        match = REST_LISTENING.search(line)
        if match:
            return match.group(1)
    return process.wait_for(REST_LISTENING, 60).group(1)


@pytest.fixture
def store(tmp_path: Path) -> StoreTarget:
    path = tmp_path / "store" / "runs.db"
    path.parent.mkdir()
    return StoreTarget("sqlite", f"sqlite:///{path}", path=path)


StartWeb = Callable[..., WebEngine]


@pytest.fixture
def web_engine(tmp_path: Path, llm: FakeOpenAIServer, shop: Path, store: StoreTarget) -> Iterator[StartWeb]:
    """Factory: ``web_engine(**conf)`` starts ``python -m engine`` with REST on 127.0.0.1 port 0,
    user alice (password file), the scripted LLM, the shop and the test's store; calling it again
    after ``stop()`` is an engine restart on the same store. Killed at teardown if still running."""
    passwords = write_password_file(tmp_path / "passwords", {USER: PASSWORD, "bob": "builder-9"})
    started: list[EngineProcess] = []

    def factory(**extra: str) -> WebEngine:
        conf = {
            "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
            "kyuubi.frontend.thrift.binary.bind.port": "0",
            "kyuubi.frontend.rest.bind.host": "127.0.0.1",
            "kyuubi.frontend.rest.bind.port": "0",
            "kyuubi.authentication": "CUSTOM",
            "kyuubi.authentication.password.file": str(passwords),
            "kyuubi.engine.data.agent.work.dir": str(tmp_path / "engine-work"),
            **agent_conf(llm, f"jdbc:sqlite:{shop}", store),
            **extra,
        }
        process = EngineProcess(conf, env={"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": API_KEY})
        started.append(process)
        process.start()
        return WebEngine(process, rest_url(process))

    yield factory
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: bin/setup installs Debian's chromium (apt-get install chromium)")
    if not (UI / "node_modules" / "marked").is_dir():
        pytest.fail(f"{UI}/node_modules is missing: bin/setup runs npm ci there")
    chromium = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield chromium
    chromium.close()


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS") or ROOT / "tests" / "browser" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context and page; the page's script errors fail the test; a screenshot of
    the page is saved at the end, whatever the outcome."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    script_errors: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(str(error)))
    yield tab
    try:
        tab.screenshot(path=str(artifacts_dir() / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
    assert not script_errors, f"the page raised script errors: {script_errors}"
