"""Runs that outlast the page and the engine, seen in a real browser: reload mid-run and the run
goes on on screen; a dropped stream reconnects and resumes after its last event; a conversation
reopened after an engine restart shows its history, and a new question continues it."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import StartWeb
from tests.browser.ui import ask, login
from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.support.tcp_proxy import TcpProxy

PARTS = [f"Part {n} of the answer. " for n in range(1, 17)]


def test_reload_mid_run_and_see_it_continue(page: Page, web_engine: StartWeb, llm: FakeOpenAIServer) -> None:
    engine = web_engine()
    login(page, engine.url)
    llm.add(text(*PARTS, delay=0.6))
    ask(page, "Tell me slowly")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("Part 2 of the answer.")
    assert "Part 16" not in page.get_by_test_id("assistant-message").inner_text()

    page.reload()
    message = page.get_by_test_id("assistant-message")
    expect(page.get_by_test_id("user-message")).to_have_text("Tell me slowly")
    expect(message).to_contain_text("Part 1 of the answer.")  # replayed from the store
    expect(page.get_by_test_id("stop")).to_be_visible()  # and still going on
    expect(message).to_contain_text("Part 16 of the answer.")
    expect(page.get_by_test_id("usage-footer")).to_be_visible()
    expect(page.get_by_test_id("stop")).to_be_hidden()
    text_now = message.inner_text()
    for part in PARTS:  # every part once: no gap, no duplicate across the reload
        assert text_now.count(part.strip()) == 1, text_now


def test_a_dropped_stream_reconnects_and_resumes(
    page: Page, web_engine: StartWeb, llm: FakeOpenAIServer
) -> None:
    engine = web_engine()
    host_port = re.sub(r"^http://", "", engine.url)
    host, port = host_port.split(":")
    with TcpProxy(host, int(port)) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        login(page, url)
        llm.add(text(*PARTS, delay=0.6))
        ask(page, "Tell me over a bad network")
        message = page.get_by_test_id("assistant-message")
        expect(message).to_contain_text("Part 2 of the answer.")
        proxy.cut()  # every connection reset, the engine unreachable for a moment
        expect(page.locator("#stream-state")).to_contain_text("reconnecting")
        proxy.restore()
        expect(message).to_contain_text("Part 16 of the answer.")
        expect(page.get_by_test_id("usage-footer")).to_be_visible()
        text_now = message.inner_text()
        for part in PARTS:
            assert text_now.count(part.strip()) == 1, text_now


def test_reopen_a_conversation_after_an_engine_restart(
    page: Page, web_engine: StartWeb, llm: FakeOpenAIServer
) -> None:
    first = web_engine()
    login(page, first.url)
    llm.add(text("The answer is **42**."))
    ask(page, "What is the answer?")
    expect(page.get_by_test_id("usage-footer")).to_be_visible()
    first.stop()
    ask(page, "Anyone there?")  # the page still shows the stopped engine's conversation
    expect(page.get_by_test_id("error-banner")).to_contain_text("cannot be reached")

    second = web_engine()  # same store file, new ports
    page.goto(second.url)
    login(page, second.url)  # the old sign-in died with the old engine
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("assistant-message")).to_have_count(0)
    item = page.get_by_test_id("conversation-item")
    expect(item).to_have_count(1)
    item.click()
    expect(page.get_by_test_id("user-message")).to_have_text("What is the answer?")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("The answer is 42.")

    llm.add(text("Still 42."))
    ask(page, "Are you sure?")
    expect(page.get_by_test_id("assistant-message")).to_have_count(2)
    expect(page.get_by_test_id("assistant-message").nth(1)).to_contain_text("Still 42.")
    # the new question continued the old conversation: the model saw its history
    assert "The answer is **42**." in json.dumps(llm.requests[-1]["messages"])
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)


def test_rename_and_delete_a_conversation(page: Page, web_engine: StartWeb, llm: FakeOpenAIServer) -> None:
    engine = web_engine()
    login(page, engine.url)
    llm.add(text("Hello."))
    ask(page, "Say hello")
    expect(page.get_by_test_id("usage-footer")).to_be_visible()
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)

    page.get_by_test_id("rename-conversation").click()
    page.get_by_test_id("rename-input").fill("Greetings")
    page.get_by_test_id("rename-input").press("Enter")
    expect(page.get_by_test_id("conversation-item")).to_have_text("Greetings")
    page.reload()
    expect(page.get_by_test_id("conversation-item")).to_have_text("Greetings")

    page.get_by_test_id("delete-conversation").click()
    page.get_by_test_id("delete-conversation").click()  # the second click confirms
    expect(page.get_by_test_id("conversation-item")).to_have_count(0)
    expect(page.get_by_test_id("assistant-message")).to_have_count(0)
