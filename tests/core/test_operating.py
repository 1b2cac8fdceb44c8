"""Operating the engine: a Kyuubi data-agent configuration file used unchanged, the session
override lists, the operator's redaction regex, the run's log lines (text and JSON), what ``SET``
shows, and the start-up datasource check."""

from __future__ import annotations

import io
import json
import logging
import queue
import re
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import re2
from pyhive import hive

from engine.agent.events import AgentEvent, AgentStartEvent
from engine.agent.provider import RunRequest
from engine.common.config import EngineConf
from engine.common.errors import ConfigError
from engine.common.logging_context import ContextFilter, JsonFormatter, configure_logging, log_context
from engine.common.redaction import MASK, RedactingFilter
from tests.agent.e2e import engine_conf
from tests.fakes.openai_server import FakeOpenAIServer, error, text, tool
from tests.frontend.providers import _Stateless
from tests.support.engine_cli import engine_exit

ROOT = Path(__file__).resolve().parents[2]
AGENT = "kyuubi.engine.data.agent."
API_KEY = "sk-kyuubi-conf-0123456789abcdef"
CORP_TOKEN = "corp-abcdef123456"
SERVING = re.compile(r"engine serving on ([\d.]+):(\d+)")


def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        connection.executemany("INSERT INTO orders (total) VALUES (?)", [(9.5,), (20.0,)])
    return path


class EngineRun:
    """``bin/data-agent-engine`` in its own process; its stderr lines are collected."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [str(ROOT / "bin" / "data-agent-engine"), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._pump = threading.Thread(target=self._read, name="engine-stderr", daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put("")

    def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        while True:
            line = self._queue.get(timeout=60)
            assert line, "the engine exited:\n" + "".join(self.lines)
            match = pattern.search(line)
            if match:
                return match

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._pump.join(timeout=10)
        return code


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def query(cursor: Any, statement: str) -> list[tuple[Any, ...]]:
    cursor.execute(statement)
    return list(cursor.fetchall())


@pytest.mark.timeout(120)
def test_a_kyuubi_data_agent_configuration_file_works_unchanged(
    tmp_path: Path, llm: FakeOpenAIServer
) -> None:
    database = shop(tmp_path)
    conf_file = tmp_path / "kyuubi-defaults.conf"
    conf_file.write_text(
        "\n".join(
            [
                "# every kyuubi.engine.data.agent.* key of Kyuubi 1.12, as a Kyuubi operator writes them",
                f"{AGENT}memory=2g",
                f"{AGENT}java.options=-XX:+UseG1GC -Dfile.encoding=UTF-8",
                f"{AGENT}extra.classpath=/opt/kyuubi/jars/*",
                f"{AGENT}provider=openai-compatible",
                f"{AGENT}model=fake-model",
                f"{AGENT}openai.api.key={API_KEY}",
                f"{AGENT}openai.endpoint={llm.url}",
                f"{AGENT}max.iterations=7",
                f"{AGENT}compaction.trigger.tokens=9223372036854775807",
                f"{AGENT}query.timeout=PT30S",
                f"{AGENT}tool.call.timeout=PT1M",
                f"{AGENT}jdbc.url=jdbc:sqlite:{database}",
                f"{AGENT}approval.mode=AUTO_APPROVE",
                "kyuubi.session.conf.restrict.list=kyuubi.engine.data.agent.max.iterations,kyuubi.engine.data.agent.approval.*",
                "kyuubi.session.conf.ignore.list=kyuubi.engine.data.agent.temperature",
                "kyuubi.server.redaction.regex=corp-[a-z0-9]{12}",
                f"{AGENT}log.format json",
                "kyuubi.frontend.thrift.binary.bind.host=127.0.0.1",
                "kyuubi.frontend.thrift.binary.bind.port=0",
            ]
        )
        + "\n"
    )
    llm.add(
        tool("run_select_query", {"sql": "SELECT COUNT(*) AS n FROM orders"}), text("There are 2 orders.")
    )
    engine = EngineRun(["--conf-file", str(conf_file)])
    try:
        host, port = engine.wait_for(SERVING).groups()
        with hive.connect(host, int(port), username="alice") as conn:
            cursor = conn.cursor()
            assert query(cursor, f"SET {AGENT}model") == [(f"{AGENT}model=fake-model",)]
            listed = dict(row[0].split("=", 1) for row in query(cursor, "SET"))
            assert listed[f"{AGENT}max.iterations"] == "7"
            assert listed[f"{AGENT}provider"] == "openai-compatible"
            assert listed[f"{AGENT}openai.api.key"] == MASK and listed[f"{AGENT}jdbc.url"] == MASK
            with pytest.raises(Exception, match=r"approval\.mode is a restrict key"):
                cursor.execute(f"SET {AGENT}approval.mode=STRICT")
            cursor.execute(f"SET {AGENT}temperature=1.5")  # ignored: accepted without effect
            assert query(cursor, f"SET {AGENT}temperature") == [(f"{AGENT}temperature is undefined",)]
            rows = [json.loads(row[0]) for row in query(cursor, f"how many orders? my token is {CORP_TOKEN}")]
            assert rows[-1]["type"] == "agent_finish" and any(row["type"] == "tool_call" for row in rows)
        with pytest.raises(Exception, match=r"max\.iterations is a restrict key"):
            hive.connect(host, int(port), username="bob", configuration={f"{AGENT}max.iterations": "3"})
    finally:
        assert engine.stop() == 0
    output = "".join(engine.lines)
    assert API_KEY not in output and CORP_TOKEN not in output
    records = [json.loads(line) for line in engine.lines if line.strip()]
    for record in records:
        assert {"time", "level", "logger", "thread", "session", "operation", "message"} <= record.keys()
    messages = [record["message"] for record in records]
    for key in ("memory", "java.options", "extra.classpath"):
        assert sum(f"{AGENT}{key} is a setting of Kyuubi's JVM engine" in m for m in messages) == 1
    [started] = [r for r in records if r["message"].startswith("run started")]
    assert "user alice asks 'how many orders? my token is " in started["message"]
    assert MASK in started["message"] and started["level"] == "INFO"
    assert started["session"] != "-" and started["operation"] != "-"
    assert any(m == "run tool call run_select_query: SELECT COUNT(*) AS n FROM orders" for m in messages)
    [ended] = [r for r in records if r["message"].startswith("run ended")]
    assert ended["message"].startswith("run ended: success after 2 steps, 200+40 tokens, ")
    assert ended["operation"] == started["operation"]


# --- run log levels ------------------------------------------------------------------------------
def run_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "engine.operation.run_log"]


def test_a_failed_run_is_a_warning(
    start_engine: Any, llm: FakeOpenAIServer, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    llm.add(error(500, "the model is down"))
    conf = engine_conf(llm, f"jdbc:sqlite:{shop(tmp_path)}", {AGENT + "llm.max.retries": "0"})
    engine = start_engine(conf)
    with hive.connect(engine.host, engine.port, username="alice") as conn:
        with pytest.raises(Exception, match="HTTP 500"):
            query(conn.cursor(), "x" * 500)
    started, ended = run_records(caplog)
    assert started.levelno == logging.INFO and started.getMessage().endswith("… (500 characters)'")
    assert ended.levelno == logging.WARNING and ended.getMessage().startswith("run ended: error")


class FaultyProvider(_Stateless):
    """A provider with a bug: it raises an exception nobody raises on purpose."""

    name = "FAULTY"

    def run(self, request: RunRequest) -> Iterator[AgentEvent]:
        yield AgentStartEvent()
        raise KeyError("a bug")


def test_an_engine_fault_is_an_error(start_engine: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    engine = start_engine(provider=FaultyProvider())
    with hive.connect(engine.host, engine.port, username="alice") as conn:
        with pytest.raises(Exception, match="internal error"):
            query(conn.cursor(), "why?")
    ended = run_records(caplog)[-1]
    assert ended.levelno == logging.ERROR and "run ended: fault" in ended.getMessage()


# --- session overrides -----------------------------------------------------------------------------
def test_restrict_and_ignore_lists_cover_every_override(start_engine: Any) -> None:
    engine = start_engine(
        {
            "kyuubi.session.conf.restrict.list": f"{AGENT}approval.mode, {AGENT}tools.*",
            "kyuubi.session.conf.ignore.list": f"{AGENT}result.mode,hive.*",
        }
    )
    backend = engine.backend
    with pytest.raises(ConfigError, match=r"approval\.mode is a restrict key"):
        backend.open_session(5, "alice", None, "127.0.0.1", {f"set:hiveconf:{AGENT}approval.mode": "STRICT"})
    session, _, _ = backend.open_session(
        5,
        "alice",
        None,
        "127.0.0.1",
        {f"{AGENT}result.mode": "table", "hive.exec.x": "1", "use:database": "default"},
    )
    op = backend.execute_statement(session, "alice", f"SET {AGENT}result.mode", {}, run_async=False)
    assert backend.fetch_results(op, "alice", _next(), 10).columns == [[f"{AGENT}result.mode=events"]]
    with pytest.raises(ConfigError, match=r"tools\.disabled is a restrict key"):
        backend.execute_statement(
            session, "alice", f"SET {AGENT}tools.disabled=list_tables", {}, run_async=False
        )
    with pytest.raises(ConfigError, match=r"approval\.mode is a restrict key .*confOverlay"):
        backend.execute_statement(
            session, "alice", "hello", {f"{AGENT}approval.mode": "STRICT"}, run_async=False
        )
    # an ignored key in a confOverlay is dropped: the statement runs in the default events mode
    op = backend.execute_statement(
        session, "alice", "hello", {f"{AGENT}result.mode": "answer"}, run_async=False
    )
    first = backend.fetch_results(op, "alice", _next(), 1).columns[0][0]
    assert json.loads(first)["type"] == "agent_start"


def _next() -> Any:
    from engine.operation.fetch_buffer import FetchOrientation

    return FetchOrientation.FETCH_NEXT


def test_set_shows_the_effective_value_of_any_registered_key(start_engine: Any) -> None:
    engine = start_engine({AGENT + "model": "engine-model", "kyuubi.session.idle.timeout": "PT2H"})
    with hive.connect(engine.host, engine.port, username="alice") as conn:
        cursor = conn.cursor()
        assert query(cursor, f"SET {AGENT}model") == [(f"{AGENT}model=engine-model",)]
        cursor.execute(f"SET {AGENT}model=session-model")
        assert query(cursor, f"SET {AGENT}model") == [(f"{AGENT}model=session-model",)]
        assert query(cursor, "SET kyuubi.session.idle.timeout") == [("kyuubi.session.idle.timeout=PT2H",)]
        assert query(cursor, f"SET {AGENT}max.iterations") == [(f"{AGENT}max.iterations=100",)]
        assert query(cursor, "SET no.such.key") == [("no.such.key is undefined",)]
        cursor.execute("SET my.password=hunter2hunter2")  # a Hive client's own key, shown masked
        listed = [row[0] for row in query(cursor, "SET")]
    assert f"{AGENT}model=session-model" in listed and f"{AGENT}approval.mode=NORMAL" in listed
    assert f"my.password={MASK}" in listed and not any("hunter2" in line for line in listed)
    keys = [line.split("=", 1)[0] for line in listed]
    assert keys == sorted(keys)


# --- redaction and JSON lines --------------------------------------------------------------------
def test_the_operators_regex_masks_log_lines_and_json_lines_carry_the_context() -> None:
    stream = io.StringIO()
    configure_logging(
        "INFO", stream=stream, log_format="json", extra_redaction=re2.compile(r"corp-[a-z0-9]{12}")
    )
    try:
        with log_context("s-1", "o-2"):
            logging.getLogger("engine.test").info("token %s and api_key=abc12345", CORP_TOKEN)
    finally:
        logging.getLogger().handlers.clear()
    record = json.loads(stream.getvalue())
    assert record["session"] == "s-1" and record["operation"] == "o-2" and record["level"] == "INFO"
    assert record["message"] == f"token {MASK} and api_key={MASK}"
    assert record["time"].endswith("Z") and record["logger"] == "engine.test"


def test_the_operators_regex_stays_linear_on_hostile_text() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(extra=re2.compile(r"(a+)+b")))  # exponential in a backtracking engine
    handler.setFormatter(JsonFormatter())
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "a" * 30000 + "c", None, None)
    assert handler.filter(record)  # returns at once with RE2; Python's re would not return
    assert record.msg.startswith("aaaa")


def test_an_operator_regex_re2_cannot_compile_stops_the_engine(tmp_path: Path) -> None:
    result = engine_exit(r"kyuubi.server.redaction.regex=(a)\1")
    assert result.returncode == 2 and "kyuubi.server.redaction.regex" in result.stderr


def test_provider_spellings_of_kyuubi() -> None:
    for spelling in (
        "openai-compatible",
        "openai_compatible",
        "org.apache.kyuubi.engine.dataagent.provider.chatcompletion.ChatCompletionProvider",
    ):
        assert EngineConf.load([f"{AGENT}provider={spelling}"], environ={}).get(AGENT + "provider") == (
            "OPENAI_COMPATIBLE"
        )
    with pytest.raises(ConfigError, match="accepted values"):
        EngineConf.load([f"{AGENT}provider=com.example.MyProvider"], environ={})


# --- the start-up datasource check -----------------------------------------------------------------
def test_an_unreachable_datasource_is_an_error_and_the_engine_is_ready_once_it_answers(
    start_engine: Any, tmp_path: Path, caplog: Any
) -> None:
    path = tmp_path / "later.db"
    engine = start_engine(
        {AGENT + "jdbc.url": f"jdbc:sqlite:{path}", AGENT + "datasource.check.interval": "PT0.05S"}
    )
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "does not answer" in r.getMessage()]
    assert errors and not engine.app.ready
    with hive.connect(engine.host, engine.port, username="alice") as conn:  # it serves meanwhile
        assert query(conn.cursor(), "SELECT 1") == [(1,)]
    shop(tmp_path).rename(path)
    assert engine.app.health.wait_ready(30) and engine.app.ready


def test_datasource_check_fail_exits_1(tmp_path: Path) -> None:
    result = engine_exit(
        f"{AGENT}datasource.check=fail", f"{AGENT}jdbc.url=jdbc:sqlite:{tmp_path / 'missing.db'}"
    )
    assert result.returncode == 1, result.stderr
    assert "does not answer" in result.stderr and "datasource.check=fail" in result.stderr
