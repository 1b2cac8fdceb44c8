"""``SHOW RUNS [ALL] [LIMIT n]`` and ``SHOW CONVERSATIONS [LIMIT n]`` (issue 14 §6): typed tables of
the caller's own rows, newest first, through PyHive and beeline; ``ALL`` is for administrators."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyhive.exc import OperationalError

from tests.conftest import RunningEngine
from tests.durable.conftest import Start
from tests.durable.support import AGENT, StoreTarget, connect, rest
from tests.fakes.openai_server import FakeOpenAIServer, text

LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))
needs_lab = pytest.mark.skipif(not (LAB / "bin" / "env.sh").exists(), reason=f"{LAB} not installed")

RUN_COLUMNS = [
    ("run_id", "STRING_TYPE"),
    ("conversation_id", "STRING_TYPE"),
    ("status", "STRING_TYPE"),
    ("question", "STRING_TYPE"),
    ("started", "TIMESTAMP_TYPE"),
    ("ended", "TIMESTAMP_TYPE"),
    ("steps", "INT_TYPE"),
    ("prompt_tokens", "BIGINT_TYPE"),
    ("completion_tokens", "BIGINT_TYPE"),
    ("owner", "STRING_TYPE"),
]
CONVERSATION_COLUMNS = [
    ("conversation_id", "STRING_TYPE"),
    ("title", "STRING_TYPE"),
    ("runs", "BIGINT_TYPE"),
    ("updated", "TIMESTAMP_TYPE"),
]


def query(
    engine: RunningEngine, statement: str, user: str = "alice"
) -> tuple[list[Any], list[tuple[Any, ...]]]:
    with connect(engine.host, engine.port, user=user) as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return [(column[0], column[1]) for column in cursor.description], list(cursor.fetchall())


def ask(engine: RunningEngine, question: str, user: str = "alice", conversation: str | None = None) -> str:
    configuration = {AGENT + "conversation.id": conversation} if conversation else None
    with connect(engine.host, engine.port, user=user, configuration=configuration) as connection:
        cursor = connection.cursor()
        cursor.execute(question)
        return str(rest(cursor)[0]["conversationId"])


@pytest.fixture
def history(durable: Start, llm: FakeOpenAIServer) -> RunningEngine:
    """Three runs of alice in two conversations (password=hunter2 in one question), one of bob."""
    engine = durable(**{"kyuubi.server.administrators": "root"})
    llm.add(*(text(f"Answer {n}.", usage=(100 + n, 10 + n)) for n in range(4)))
    first = ask(engine, "first question")
    ask(engine, "second question, password=hunter2", conversation=first)
    ask(engine, "third question")
    ask(engine, "bob's question", user="bob")
    return engine


def test_show_runs_lists_the_callers_runs_newest_first(history: RunningEngine, store: StoreTarget) -> None:
    columns, runs = query(history, "SHOW RUNS")
    assert columns == RUN_COLUMNS
    questions = [run[3] for run in runs]
    assert questions[0] == "third question" and questions[2] == "first question"
    assert questions[1].startswith("second question, password=") and "hunter2" not in questions[1]
    assert all(run[2] == "success" for run in runs)
    assert runs[1][1] == runs[2][1] != runs[0][1]  # the first two runs share a conversation
    for run in runs:
        assert isinstance(run[4], datetime.datetime) and isinstance(run[5], datetime.datetime)
        assert run[4] <= run[5]
        assert run[6] == 1
    assert [(run[7], run[8]) for run in runs] == [(102, 12), (101, 11), (100, 10)]
    assert [run[0] for run in runs] == [row[0] for row in store.query(
        "SELECT id FROM runs WHERE owner = 'alice' ORDER BY started DESC"
    )]  # fmt: skip
    _, limited = query(history, "SHOW RUNS LIMIT 2")
    assert limited == runs[:2]
    _, bobs = query(history, "show runs", user="bob")
    assert [run[3] for run in bobs] == ["bob's question"]


def test_show_runs_all_is_for_administrators(history: RunningEngine) -> None:
    with pytest.raises(OperationalError, match="administrators"):
        query(history, "SHOW RUNS ALL")
    _, everyone = query(history, "SHOW RUNS ALL LIMIT 10", user="root")
    assert len(everyone) == 4 and everyone[0][3] == "bob's question"


def test_show_conversations(history: RunningEngine) -> None:
    columns, conversations = query(history, "SHOW CONVERSATIONS")
    assert columns == CONVERSATION_COLUMNS
    assert [(row[1], row[2]) for row in conversations] == [("third question", 1), ("first question", 2)]
    assert conversations[0][3] >= conversations[1][3]
    _, limited = query(history, "SHOW CONVERSATIONS LIMIT 1")
    assert limited == conversations[:1]
    _, empty = query(history, "SHOW CONVERSATIONS", user="carol")
    assert empty == []


@pytest.mark.beeline
@needs_lab
@pytest.mark.timeout(120)
def test_beeline_shows_runs_and_conversations(history: RunningEngine) -> None:
    url = f"jdbc:hive2://{history.host}:{history.port}/default"
    script = f'source {LAB}/bin/env.sh; beeline -u "$URL" -n alice -p x --outputformat=tsv2 -e "$Q"'
    env = {**os.environ, "URL": url, "Q": "SHOW RUNS; SHOW CONVERSATIONS;"}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=110, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    runs_header = "\t".join(name for name, _ in RUN_COLUMNS)
    conversations_header = "\t".join(name for name, _ in CONVERSATION_COLUMNS)
    assert runs_header in lines and conversations_header in lines
    runs = lines[lines.index(runs_header) + 1 : lines.index(conversations_header)]
    questions = [line.split("\t")[3] for line in runs]
    assert questions[0] == "third question" and questions[2] == "first question"
    assert questions[1].startswith("second question, password=") and "hunter2" not in questions[1]
    assert all(line.split("\t")[2] == "success" for line in runs)
    conversations = lines[lines.index(conversations_header) + 1 :]
    assert [line.split("\t")[1:3] for line in conversations] == [
        ["third question", "1"],
        ["first question", "2"],
    ]


def test_an_engine_without_the_run_registry_refuses_the_listings_clearly(start_engine: Any) -> None:
    engine = start_engine({AGENT + "store.enabled": "false"})  # ECHO provider
    with connect(engine.host, engine.port) as connection:
        cursor = connection.cursor()
        cursor.execute("hello")
        events = rest(cursor)
        assert events[0]["runId"] and events[-1]["type"] == "agent_finish"
        for statement in ("SHOW RUNS", "SHOW CONVERSATIONS"):
            with pytest.raises(OperationalError, match=r"store\.enabled=false"):
                cursor.execute(statement)
    with pytest.raises(OperationalError, match=r"store\.enabled=false"):
        connect(
            engine.host, engine.port, configuration={AGENT + "conversation.id": events[0]["conversationId"]}
        )
    assert not (Path(engine.app.work_dir) / "store.db").exists()  # type: ignore[arg-type]
