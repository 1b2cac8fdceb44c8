"""``data-agent -e`` for scripts (no terminal): the answer, JSON lines, approvals, exit codes,
password sources and connection URLs, against a real engine process and the scripted LLM."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.client.conftest import ROOT, child_env, data_agent, rows_for
from tests.fakes.openai_server import Reply, error, text, tool
from tests.support.passwords import write_password_file

pytestmark = pytest.mark.timeout(120)


def insert(customer: str) -> dict[str, str]:
    return {"sql": f"INSERT INTO orders (customer, amount) VALUES ('{customer}', 99.0)"}


def test_e_prints_the_answer_as_plain_text(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(
        tool("run_select_query", {"sql": "SELECT SUM(amount) FROM orders"}),
        Reply(text=("In total ", "**49.75**."), reasoning=("thinking",)),
    )
    result = data_agent(engine.address, "-n", "alice", "-e", "how much in total?")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "In total **49.75**.\n"  # plain text: no terminal, no rendering
    assert result.stderr == ""
    assert llm.requests[0]["messages"][-1]["content"] == "how much in total?"


def test_format_jsonl_prints_every_event_row(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(tool("run_select_query", {"sql": "SELECT COUNT(*) AS n FROM orders"}), text("Three."))
    result = data_agent(engine.address, "-n", "alice", "-e", "how many orders?", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [event["type"] for event in events]
    assert kinds[0] == "agent_start" and kinds[-1] == "agent_finish"
    assert "tool_call" in kinds and "tool_result" in kinds
    assert "".join(e["text"] for e in events if e["type"] == "content_delta") == "Three."


def test_without_a_terminal_a_parked_call_is_denied_as_non_interactive(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(tool("run_mutation_query", insert("yan")), text("I could not add it."))
    result = data_agent(engine.address, "-n", "alice", "-e", "add zoe", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    denied = next(e for e in events if e["type"] == "tool_result")
    assert denied["isError"] and "non-interactive" in denied["output"]
    assert "tool_call" not in [e["type"] for e in events]
    assert "denied" in result.stderr and "non-interactive" in result.stderr
    assert rows_for(shared.shop, "yan") == 0


def test_approve_all_runs_the_parked_call(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(tool("run_mutation_query", insert("zed")), text("Added zed."))
    result = data_agent(engine.address, "-n", "alice", "-e", "add zed", "--approve=all")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Added zed.\n"
    assert rows_for(shared.shop, "zed") == 1


def test_a_failed_run_exits_non_zero_with_the_error_on_stderr(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(*[error(500, "the model is down")] * 10)
    result = data_agent(engine.address, "-n", "alice", "-e", "anything")
    assert result.returncode == 1
    assert "error" in result.stderr and result.stdout.strip() == ""


def test_sql_and_table_results(shared):
    engine = shared.engine
    sql = "SELECT customer, amount FROM orders WHERE customer IN ('ada', 'bob') ORDER BY id"
    result = data_agent(engine.address, "-e", f"\\sql {sql}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["customer\tamount", "ada\t12.5", "bob\t30.0", "ada\t7.25"]
    result = data_agent(engine.address, "-e", "\\sql DELETE FROM orders")
    assert result.returncode == 1 and "read-only" in result.stderr
    result = data_agent(engine.address, "-e", "\\tables", "--format", "jsonl")
    assert json.loads(result.stdout.splitlines()[0]) == {"tab_name": "orders"}


def test_questions_from_a_pipe_and_the_answer_mode(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(text("One."), text("Two."))
    result = data_agent(engine.address, "--mode", "answer", stdin="first?\n\nsecond?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "One.\nTwo.\n"


def _password_engine(engine_process, tmp_path, password: str):
    users = write_password_file(tmp_path / "users", {"alice": password})
    return engine_process(
        {"kyuubi.authentication": "CUSTOM", "kyuubi.authentication.password.file": str(users)}
    )


def test_password_sources(engine_process, llm, tmp_path):
    secret = "s3cret-Pa55word"
    engine = _password_engine(engine_process, tmp_path, secret)
    llm.add(text("hello"), text("hello again"))
    password_file = tmp_path / "password"
    password_file.write_text(secret + "\n")
    password_file.chmod(0o600)
    by_file = data_agent(engine.address, "-n", "alice", "--password-file", str(password_file), "-e", "hi")
    assert by_file.returncode == 0 and by_file.stdout == "hello\n", by_file.stderr
    by_env = data_agent(engine.address, "-n", "alice", "-e", "hi", env={"DATA_AGENT_PASSWORD": secret})
    assert by_env.returncode == 0 and by_env.stdout == "hello again\n", by_env.stderr
    wrong = data_agent(engine.address, "-n", "alice", "-e", "hi", env={"DATA_AGENT_PASSWORD": "wrong-one"})
    assert wrong.returncode == 3 and "authentication failed" in wrong.stderr
    assert "wrong-one" not in wrong.stderr + wrong.stdout
    missing = data_agent(engine.address, "-n", "alice", "-e", "hi")
    assert missing.returncode == 3
    on_argv = data_agent(engine.address, "-n", "alice", "-p", secret, "-e", "hi")
    assert on_argv.returncode == 2 and "never taken from the command line" in on_argv.stderr
    assert secret not in on_argv.stderr + on_argv.stdout
    in_url = data_agent(f"jdbc:hive2://{engine.address}/default;user=alice;password={secret}", "-e", "hi")
    assert in_url.returncode == 2 and "does not belong in the URL" in in_url.stderr
    assert secret not in in_url.stderr
    no_prompt = data_agent(engine.address, "-n", "alice", "--password-prompt", "-e", "hi")
    assert no_prompt.returncode == 2 and "needs a terminal" in no_prompt.stderr


def test_password_prompt_in_a_terminal(engine_process, llm, tmp_path, terminal):
    engine = _password_engine(engine_process, tmp_path, "typed-secret")
    llm.add(text("Prompted and answered."))
    term = terminal(engine.address, "-n", "alice", "-W", "-e", "hi")
    term.wait_for("password:")
    term.type("typed-secret")
    term.send("Enter")
    screen = term.wait_for("[exited 0]")
    assert "Prompted and answered." in screen and "typed-secret" not in screen


def test_url_forms(shared):
    engine, llm = shared.engine, shared.llm
    llm.add(text("a"), text("b"), text("c"))
    for target, answer in (
        (engine.address, "a"),
        (f"jdbc:hive2://{engine.address}/default;user=alice", "b"),
        (f"jdbc:hive2://{engine.address}/default?kyuubi.engine.data.agent.result.mode=answer", "c"),
    ):
        result = data_agent(target, "-e", "hi")
        assert result.returncode == 0 and result.stdout == f"{answer}\n", (target, result.stderr)
    no_host = data_agent("jdbc:hive2:///x", "-e", "hi")
    assert no_host.returncode == 2 and "names no host" in no_host.stderr
    bad_port = data_agent("jdbc:hive2://h:port/x", "-e", "hi")
    assert bad_port.returncode == 2 and "not a host:port address" in bad_port.stderr
    refused = data_agent("127.0.0.1:1", "-e", "hi")
    assert refused.returncode == 3 and "cannot connect to 127.0.0.1:1" in refused.stderr


def test_nosasl(engine_process, llm):
    engine = engine_process({"kyuubi.authentication": "NOSASL"})
    llm.add(text("raw one"), text("raw two"))
    url = data_agent(f"jdbc:hive2://{engine.address}/default;auth=noSasl", "-n", "bob", "-e", "hi")
    assert url.returncode == 0 and url.stdout == "raw one\n", url.stderr
    flag = data_agent(engine.address, "--nosasl", "-n", "bob", "-e", "hi")
    assert flag.returncode == 0 and flag.stdout == "raw two\n", flag.stderr
    mismatch = data_agent(engine.address, "-n", "bob", "-e", "hi", "--connect-timeout", "5")
    assert mismatch.returncode == 3  # SASL against a NOSASL server fails fast, never hangs


def test_an_engine_that_dies_mid_run_ends_the_client_with_an_error(engine_process, llm):
    engine = engine_process()
    llm.add(Reply(text=("Working", *[" on it"] * 200), delay=0.3))
    client = subprocess.Popen(
        [str(ROOT / "bin" / "data-agent"), engine.address, "-e", "a long question"],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert llm.wait_for_requests(1, timeout=30)
        engine.proc.kill()
        out, err = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(5)
    assert client.returncode == 1
    assert "the connection to the server broke" in err, out
