"""What a person does in the web UI, as the browser tests say it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

USER, PASSWORD = "alice", "wonderland-7"

expect.set_options(timeout=15_000)


def login(page: Page, url: str, user: str = USER, password: str = PASSWORD) -> None:
    """Opens the UI at ``url`` and signs in through its login screen."""
    page.goto(url)
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("question")).to_be_visible()


def ask(page: Page, question: str) -> None:
    page.get_by_test_id("question").fill(question)
    page.get_by_test_id("question").press("Enter")
