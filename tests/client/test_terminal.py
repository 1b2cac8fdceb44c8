"""``data-agent`` in a real terminal (tmux): keys in, screen out, against a real engine process
answering through the scripted LLM."""

from __future__ import annotations

import pytest

from tests.client.conftest import rows_for
from tests.fakes.openai_server import Reply, text, tool

pytestmark = pytest.mark.timeout(120)

INSERT_ZOE = {
    "sql": "INSERT INTO orders (customer, amount) VALUES ('zoe', 99.0)"
}  # only this module's tests add zoe


def test_a_question_gets_its_answer_with_tool_panels(shared, terminal):
    engine, llm = shared.engine, shared.llm
    llm.add(
        tool(
            "run_select_query",
            {
                "sql": "SELECT customer, SUM(amount) AS total FROM orders WHERE customer IN ('ada', 'bob') GROUP BY customer"
            },
        ),
        Reply(
            text=("**Bob** spent ", "the most: 30.0.\n\n", "Ada spent 19.75."),
            reasoning=("Let me sum it up.",),
        ),
    )
    term = terminal(engine.address, "-n", "alice")
    term.wait_for("data-agent>")
    term.type("who spent the most?")
    term.send("Enter")
    screen = term.wait_for(lambda s: "done in" in s and "Ada spent 19.75." in s)
    assert "run_select_query" in screen and "GROUP BY customer" in screen  # the tool panel, SQL shown
    assert "total" in screen and "19.75" in screen and "(2 rows)" in screen  # its result as a table
    assert "Bob spent the most: 30.0." in screen  # Markdown rendered: no ** left
    assert "**Bob**" not in screen
    assert "Let me sum it up." in screen
    assert "2 steps" in screen and "200 prompt + 40 completion tokens" in screen
    # the prompt is back; Ctrl-D quits with status 0
    term.wait_for(lambda s: s.rstrip().endswith("data-agent>"))
    term.send("C-d")
    term.wait_for("[exited 0]")


def test_an_approval_answered_y_gives_the_result(shared, terminal):
    engine, llm, shop = shared.engine, shared.llm, shared.shop
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("Added zoe."))
    term = terminal(engine.address, "-n", "alice")
    term.wait_for("data-agent>")
    term.type("add an order for zoe")
    term.send("Enter")
    screen = term.wait_for("approve? [y/N/reason]")
    assert "approval needed" in screen and "DESTRUCTIVE" in screen and "INSERT INTO orders" in screen
    assert rows_for(shop, "zoe") == 0
    term.type("y")
    term.send("Enter")
    screen = term.wait_for(lambda s: "Added zoe." in s and "done in" in s)
    assert "approved" in screen and rows_for(shop, "zoe") == 1
    # a second parked call denied with a reason: the reason reaches the model
    llm.add(tool("run_mutation_query", INSERT_ZOE), text("Understood, not added."))
    term.type("add another one")
    term.send("Enter")
    term.wait_for(lambda s: s.count("approve? [y/N/reason]") == 2)
    term.type("not on a friday")
    term.send("Enter")
    term.wait_for("Understood, not added.")
    assert rows_for(shop, "zoe") == 1
    assert "not on a friday" in llm.requests[-1]["messages"][-1]["content"]


def test_ctrl_c_cancels_a_long_run_and_the_prompt_comes_back(shared, terminal):
    engine, llm = shared.engine, shared.llm
    llm.add(Reply(text=("Thinking about it", *[" and more"] * 200), delay=0.3))  # a minute long
    term = terminal(engine.address, "-n", "alice")
    term.wait_for("data-agent>")
    term.type("a slow question")
    term.send("Enter")
    term.wait_for("Thinking about it")
    term.send("C-c")
    term.wait_for(lambda s: "cancelled after" in s and s.rstrip().endswith("data-agent>"), timeout=15)
    # the session still works: Ctrl-C at the prompt clears the line, then a question is answered
    llm.add(text("Still here."))
    term.type("some text to throw away")
    term.send("C-c")
    term.type("are you there?")
    term.send("Enter")
    term.wait_for("Still here.")
    assert llm.requests[-1]["messages"][-1]["content"] == "are you there?"


def test_commands_multiline_input_and_history(shared, terminal, tmp_path):
    engine, llm = shared.engine, shared.llm
    history = tmp_path / "history"
    term = terminal(engine.address, "-n", "alice", "--history-file", str(history))
    term.wait_for("data-agent>")
    term.type("\\tables")
    term.send("Enter")
    term.wait_for("orders")
    term.type("\\sql SELECT customer, amount FROM orders WHERE customer <> 'zoe' ORDER BY id")
    term.send("Enter")
    screen = term.wait_for("(3 rows)")
    assert "12.5" in screen and "customer" in screen
    term.type("\\describe orders")
    term.send("Enter")
    term.wait_for("data_type")
    term.type("\\mode answer")
    term.send("Enter")
    term.wait_for("answers now come back as answer")
    llm.add(text("Three ", "orders."))
    term.type("how many")
    term.send("Escape", "Enter")  # a new line, not sent
    term.type("orders?")
    term.send("Enter")
    term.wait_for("Three orders.")
    assert llm.requests[-1]["messages"][-1]["content"] == "how many\norders?"
    term.type("\\nope")
    term.send("Enter")
    term.wait_for("unknown command")
    term.type("\\q")
    term.send("Enter")
    term.wait_for("[exited 0]")
    assert "how many\norders?" in history.read_text() or "+orders?" in history.read_text()
