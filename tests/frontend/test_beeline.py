"""Real beeline (hive-jdbc 2.3.10) with its default options on real questions: a scripted LLM whose
runs take seconds, the operation log on stderr while the run goes on, a failed statement's error,
and a parked call approved from a second beeline process while the first waits."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.agent.e2e import AGENT, engine_conf
from tests.fakes.openai_server import FakeOpenAIServer, Reply, error, text, tool
from tests.support.hs2clients import StreamingBeeline, beeline, event_rows, jdbc_url, needs_lab

pytestmark = [pytest.mark.beeline, needs_lab, pytest.mark.timeout(150)]

API_KEY = "sk-e2e-0123456789abcdefghij"  # engine_conf's key: it must never reach a client


@pytest.fixture
def agent_url(start_engine: Any, shop: Path, llm: FakeOpenAIServer) -> Any:
    def factory(extra: dict[str, str] | None = None) -> str:
        engine = start_engine(engine_conf(llm, f"jdbc:sqlite:{shop}", extra))
        return jdbc_url(engine.host, engine.port)

    return factory


def _log_lines(stderr: str) -> list[str]:
    """beeline's stderr lines that are operation-log lines (``HH:MM:SS LEVEL text``)."""
    return [line for line in stderr.splitlines() if line[:2].isdigit() and line[2:3] == ":"]


def _index(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


def test_a_run_of_seconds_with_default_options_prints_rows_and_live_progress(
    agent_url: Any, llm: Any
) -> None:
    """Today's failure: any run longer than ~2 s ended in MissingFormatArgumentException."""
    sql = "SELECT customer, amount FROM orders ORDER BY id"
    llm.add(
        tool("run_select_query", {"sql": sql}, first_delay=1.5),
        Reply(text=("Ada ", "and ", "Bob ", "ordered."), delay=1.0),
    )
    result = beeline(agent_url(), "who ordered what?")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Exception" not in result.stderr
    rows = event_rows(result.stdout)
    assert rows[0]["type"] == "agent_start" and rows[-1]["type"] == "agent_finish"
    assert "".join(row.get("text", "") for row in rows) == "Ada and Bob ordered."
    lines = _log_lines(result.stderr)
    order = [
        "state PENDING -> RUNNING",
        "INFO step 1",
        f"INFO calling run_select_query: {sql}",
        "INFO run_select_query returned 3 rows in ",
        "INFO step 2",
        "INFO agent finished after 2 step(s)",
        "state RUNNING -> FINISHED",
    ]
    positions = [_index(lines, needle) for needle in order]
    assert positions == sorted(positions), lines
    assert API_KEY not in result.stderr + result.stdout


def test_a_failed_run_shows_the_engines_error(agent_url: Any, llm: Any) -> None:
    llm.add(*(error(500, "the model is down") for _ in range(6)))
    result = beeline(agent_url({AGENT + "llm.max.retries": "1"}), "who ordered what?")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "the model is down" in errors[0] and "state=" in errors[0], result.stderr
    assert any("ERROR" in line and "the model is down" in line for line in _log_lines(result.stderr))


def test_a_timed_out_run_says_why_in_the_log(agent_url: Any, llm: Any) -> None:
    llm.add(Reply(text=("never",), first_delay=30))
    result = beeline(agent_url({AGENT + "run.timeout": "PT2S"}), "who ordered what?")
    assert result.returncode != 0
    assert "Error: " in result.stderr
    assert any("timed out after 2 s (run.timeout)" in line for line in _log_lines(result.stderr)), (
        result.stderr
    )


def test_a_parked_call_is_approved_from_a_second_beeline(agent_url: Any, llm: Any, shop: Path) -> None:
    insert = "INSERT INTO orders (customer, amount) VALUES ('zoe', 99.0)"
    llm.add(tool("run_mutation_query", {"sql": insert}), text("Added zoe."))
    url = agent_url()
    first = StreamingBeeline(url, "add an order for zoe", user="alice")
    try:
        request = first.wait_for_line("approval needed: run_mutation_query (DESTRUCTIVE)", 60)
        assert insert in request
        approve = (
            first.wait_for_line("__approve:", 10).split("to approve, run in another session: ")[1].strip()
        )
        deny = first.wait_for_line("__deny:", 10)
        request_id = approve.removeprefix("__approve:")
        assert f"request {request_id}:" in request and f"__deny:{request_id} <reason>" in deny
        assert first.process.poll() is None  # the first beeline still waits for its statement

        second = beeline(url, approve, user="alice")
        assert second.returncode == 0, second.stderr[-3000:]
        assert event_rows(second.stdout) == [{"status": "ok", "action": "approved", "requestId": request_id}]

        code, stdout, stderr = first.finish(60)
    finally:
        first.close()
    assert code == 0, stderr[-3000:]
    rows = event_rows(stdout)
    kinds = [row["type"] for row in rows]
    assert kinds.index("approval_request") < kinds.index("tool_call") < kinds.index("tool_result")
    result = next(row for row in rows if row["type"] == "tool_result")
    assert not result["isError"] and "1 row affected" in result["output"]
    assert kinds[-1] == "agent_finish"
    assert "run_mutation_query done: The statement ran and was committed: 1 row affected" in stderr
    with sqlite3.connect(shop) as connection:
        assert connection.execute("SELECT COUNT(*) FROM orders WHERE customer = 'zoe'").fetchone() == (1,)
