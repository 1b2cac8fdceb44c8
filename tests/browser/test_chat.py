"""The web UI in a real browser (Debian's chromium, headless) against the engine in its own process
and the scripted LLM: sign in, ask and watch the answer stream, approve and deny parked calls,
switch a result to a chart, stop a run."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import StartWeb
from tests.browser.ui import ask, login
from tests.fakes.openai_server import FakeOpenAIServer, text, tool


def test_login_ask_and_see_the_answer_stream(page: Page, web_engine: StartWeb, llm: FakeOpenAIServer) -> None:
    engine = web_engine()
    page.goto(engine.url)
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    page.get_by_test_id("login-user").fill("alice")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    expect(page.locator("#login-error")).to_contain_text("Wrong user or password")

    login(page, engine.url)
    llm.add(
        text(
            "There are **three** orders. ",
            "Alice spent the most. ",
            '<img src="x" onerror="window.hacked = 1"> ',
            "That is all.",
            delay=0.6,
        )
    )
    ask(page, "How many orders are there?")
    message = page.get_by_test_id("assistant-message")
    expect(message).to_contain_text("There are three orders.")
    expect(message.locator("strong")).to_have_text("three")
    # the first words are on screen while the rest is still coming
    assert "That is all." not in message.inner_text()
    expect(message).to_have_class("message assistant streaming")
    expect(page.get_by_test_id("stop")).to_be_visible()

    expect(message).to_contain_text("That is all.")
    expect(page.get_by_test_id("usage-footer")).to_contain_text("1 step")
    expect(page.get_by_test_id("stop")).to_be_hidden()
    # sanitized: the model's markup cannot run script
    assert page.evaluate("window.hacked") is None
    assert message.locator("img[onerror]").count() == 0
    # the question started a conversation, listed and selected
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)
    expect(page.get_by_test_id("user-message")).to_have_text("How many orders are there?")


def test_approve_a_parked_call_and_see_its_result_as_a_table_and_a_chart(
    page: Page, web_engine: StartWeb, llm: FakeOpenAIServer
) -> None:
    engine = web_engine()
    login(page, engine.url)
    page.get_by_test_id("approval-mode").select_option("STRICT")
    llm.add(
        tool("run_select_query", {"sql": "SELECT customer, amount FROM orders ORDER BY id"}),
        text("Bob spent the most."),
    )
    ask(page, "Who spent what?")
    block = page.get_by_test_id("approval-block")
    expect(block).to_contain_text("run_select_query")
    expect(block).to_contain_text("SELECT customer, amount FROM orders")
    expect(block.locator("code .hljs-keyword").first).to_have_text("SELECT")
    block.get_by_test_id("approve").click()

    tool_block = page.get_by_test_id("tool-block")
    expect(tool_block).to_have_attribute("data-status", "done")
    table = tool_block.locator("table.result-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("thead")).to_contain_text("customer")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("Bob spent the most.")
    expect(block).to_have_attribute("data-status", "done")

    tool_block.get_by_test_id("view-bar").click()
    chart = tool_block.get_by_test_id("chart")
    expect(chart.locator("canvas")).to_be_visible()
    expect(table).to_be_hidden()
    tool_block.get_by_test_id("view-table").click()
    expect(table).to_be_visible()


def test_deny_with_a_reason(page: Page, web_engine: StartWeb, llm: FakeOpenAIServer) -> None:
    engine = web_engine()
    login(page, engine.url)
    page.get_by_test_id("approval-mode").select_option("STRICT")
    llm.add(tool("run_select_query", {"sql": "SELECT * FROM orders"}), text("Understood, I will not look."))
    ask(page, "Show me every order")
    block = page.get_by_test_id("approval-block")
    block.get_by_test_id("deny-reason").fill("customer data is off limits")
    block.get_by_test_id("deny").click()

    expect(block).to_have_attribute("data-status", "error")
    expect(block).to_contain_text("Denied")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("Understood, I will not look.")
    expect(page.get_by_test_id("tool-block")).to_have_count(0)
    assert llm.wait_for_requests(2)
    assert "customer data is off limits" in json.dumps(llm.requests[1]["messages"])


def test_stop_a_long_run(page: Page, web_engine: StartWeb, llm: FakeOpenAIServer) -> None:
    engine = web_engine()
    login(page, engine.url)
    llm.add(text(*[f"Step {n} of a very long answer. " for n in range(1, 40)], delay=0.5))
    ask(page, "Write me a long essay")
    message = page.get_by_test_id("assistant-message")
    expect(message).to_contain_text("Step 1 of a very long answer.")
    page.get_by_test_id("stop").click()

    expect(page.get_by_test_id("stop")).to_be_hidden()
    expect(message).to_contain_text("Stopped.")
    expect(message).not_to_have_class("message assistant streaming")
    assert "Step 39" not in message.inner_text()
    expect(page.get_by_test_id("send")).to_be_enabled()


def test_schema_browser_theme_and_sign_out(page: Page, web_engine: StartWeb) -> None:
    engine = web_engine()
    login(page, engine.url)
    page.locator("#schema summary").click()
    table = page.get_by_test_id("schema-table").filter(has_text="orders")
    expect(table).to_be_visible()
    table.click()
    expect(page.get_by_test_id("schema-column").filter(has_text="customer")).to_be_visible()
    page.get_by_role("button", name="Ask about").click()
    expect(page.get_by_test_id("question")).to_have_value(re.compile("orders"))

    theme = page.evaluate("document.documentElement.dataset.theme")
    page.get_by_role("button", name="Switch between dark and light").click()
    assert page.evaluate("document.documentElement.dataset.theme") != theme
    page.reload()  # the choice is remembered
    assert page.evaluate("document.documentElement.dataset.theme") != theme

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    page.reload()  # the cookie is gone: still signed out, and no browser password dialog
    expect(page.get_by_test_id("login-submit")).to_be_visible()
