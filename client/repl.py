"""The interactive loop: prompt_toolkit for input (history file, multi-line, Ctrl-C clears the
line, Ctrl-D quits), rich for output, backslash commands, approvals asked inline."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

from client.approval import AskApprover
from client.command import ERROR, HELP, MODE, NOTHING, QUIT, RUN, parse_command
from client.connection import ConnectError, ConnectionLostError, ServerError
from client.render import RichSink
from client.run import StatementRunner


def default_history_path() -> Path:
    configured = os.environ.get("DATA_AGENT_HISTORY")
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "data-agent" / "history"


def run_repl(runner: StatementRunner, console: Console, history: Path, banner: str) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("enter")
    def _send(event: object) -> None:
        event.current_buffer.validate_and_handle()  # type: ignore[attr-defined]

    @bindings.add("escape", "enter")
    def _newline(event: object) -> None:
        event.current_buffer.insert_text("\n")  # type: ignore[attr-defined]

    try:
        history.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        store: FileHistory | InMemoryHistory = FileHistory(str(history))
    except OSError as exc:
        console.print(Text(f"history is not kept: {exc}", style="yellow"))
        store = InMemoryHistory()
    session: PromptSession[str] = PromptSession(
        history=store,
        multiline=True,
        key_bindings=bindings,
        prompt_continuation=lambda width, _line, _soft: "." * (width - 1) + " ",
    )
    approvals: PromptSession[str] = PromptSession()
    approver = AskApprover(lambda text: approvals.prompt(text))
    console.print(Text(banner, style="dim"))
    mode = "events"
    while True:
        try:
            line = session.prompt(f"data-agent{'' if mode == 'events' else f' [{mode}]'}> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line
        except EOFError:
            return 0
        command = parse_command(line)
        if command.kind == NOTHING:
            continue
        if command.kind == QUIT:
            return 0
        if command.kind == HELP:
            console.print(Text(command.message))
            continue
        if command.kind == ERROR:
            console.print(Text(command.message, style="red"))
            continue
        try:
            if command.kind == MODE:
                runner.main.query(command.statement)
                mode = command.mode
                console.print(Text(f"answers now come back as {mode}", style="dim"))
            elif command.kind == RUN:
                runner.run(command.statement, RichSink(console), approver)
        except KeyboardInterrupt:
            console.print(Text("interrupted", style="yellow"))
        except ServerError as exc:
            console.print(Text(f"error: {exc}", style="bold red"))
        except (ConnectionLostError, ConnectError) as exc:
            console.print(Text(f"error: {exc}", style="bold red"))
            return 3
