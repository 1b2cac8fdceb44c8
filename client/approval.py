"""Who decides a parked tool call: the person at the terminal, or a fixed policy for scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from client.run import Decision

NON_INTERACTIVE = "non-interactive"
YES = frozenset({"y", "yes"})


class FixedApprover:
    """``--approve=all`` approves everything; without a terminal everything is denied."""

    def __init__(self, approved: bool, reason: str = "") -> None:
        self._decision = Decision(approved, reason)

    def decide(self, request: dict[str, Any]) -> Decision:
        return self._decision


class AskApprover:
    """Asks ``approve? [y/N/reason]``: y/yes approves, empty denies, anything else is the reason
    of a deny. ``ask`` reads one line (prompt_toolkit in the terminal client)."""

    PROMPT = "approve? [y/N/reason] "

    def __init__(self, ask: Callable[[str], str]) -> None:
        self._ask = ask

    def decide(self, request: dict[str, Any]) -> Decision:
        return parse_answer(self._ask(self.PROMPT))


def parse_answer(answer: str) -> Decision:
    text = answer.strip()
    if text.lower() in YES:
        return Decision(True)
    if not text or text.lower() in ("n", "no"):
        return Decision(False)
    return Decision(False, text)
