"""Showing a run in a terminal with rich: the answer as Markdown while it streams (in a
``rich.live.Live`` region under a status line), reasoning dimmed, each tool call as a panel with
its SQL highlighted, each result as a table (first rows, then the row count), parked calls as
yellow panels, errors in red."""

from __future__ import annotations

import json
import time
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from client.connection import Column
from client.markdown_table import parse_table
from client.run import ANSWER, EVENTS, NONE, TABLE, Outcome

TOOL_ROWS = 10  # rows of a tool result shown
TABLE_ROWS = 200  # rows of a table result shown
TOOL_TEXT_LINES = 15


def sql_of(args: object) -> str | None:
    if isinstance(args, dict) and isinstance(args.get("sql"), str):
        return args["sql"]
    return None


def args_view(args: object) -> RenderableType:
    """A tool's arguments: its SQL highlighted, other arguments as ``key=value``."""
    sql = sql_of(args)
    others = {k: v for k, v in args.items() if k != "sql"} if isinstance(args, dict) else {"args": args}
    parts: list[RenderableType] = []
    if sql is not None:
        parts.append(
            Syntax(sql.strip(), "sql", theme="ansi_dark", background_color="default", word_wrap=True)
        )
    if others:
        text = "  ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for k, v in others.items()
        )
        parts.append(Text(text, style="cyan"))
    return Group(*parts) if parts else Text("(no arguments)", style="dim")


def result_view(output: str) -> RenderableType:
    """A tool's output: a table when it holds one (first rows, then the count), else text."""
    table = parse_table(output)
    if table is None:
        lines = output.splitlines()
        shown = "\n".join(lines[:TOOL_TEXT_LINES])
        if len(lines) > TOOL_TEXT_LINES:
            shown += f"\n… {len(lines) - TOOL_TEXT_LINES} more lines"
        return Text(shown)
    view = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in table.header:
        view.add_column(name, overflow="fold")
    for row in table.rows[:TOOL_ROWS]:
        view.add_row(*row[: len(table.header)])
    count = len(table.rows)
    footer = table.after or f"({count} row{'s' if count != 1 else ''})"
    if count > TOOL_ROWS:
        footer = f"first {TOOL_ROWS} of {count} rows shown · " + footer
    return Group(view, Text(footer, style="dim"))


def rows_table(columns: list[Column], rows: list[tuple[Any, ...]]) -> Table:
    view = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in columns:
        view.add_column(column.name, overflow="fold")
    for row in rows:
        view.add_row(*("NULL" if value is None else str(value) for value in row))
    return view


def split_markdown(text: str) -> tuple[str, str]:
    """(complete blocks, the rest): cut at the last blank line outside a code fence, so that
    finished paragraphs leave the live region and only the last one is re-rendered."""
    cut = text.rfind("\n\n")
    while cut > 0:
        head = text[:cut]
        if head.count("```") % 2 == 0:
            return head, text[cut + 2 :]
        cut = text.rfind("\n\n", 0, cut)
    return "", text


class RichSink:
    """Renders a run on a terminal console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Live | None = None
        self._kind = NONE
        self._columns: list[Column] = []
        self._rows: list[tuple[Any, ...]] = []
        self._row_count = 0
        self._answer = ""  # the streaming paragraph, not yet committed
        self._reasoning = ""
        self._step = 0
        self._chars = 0
        self._started = time.monotonic()
        self._spinner = Spinner("dots", style="cyan")

    # --- the live region -----------------------------------------------------------------------
    def _status(self) -> Text:
        elapsed = time.monotonic() - self._started
        parts = [f"step {self._step}" if self._step else "starting", f"{elapsed:.1f} s"]
        if self._chars:
            parts.append(f"≈{max(1, self._chars // 4)} tokens out")
        return Text(" · ".join(parts) + "   (Ctrl-C cancels)", style="dim")

    def _view(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self._reasoning:
            parts.append(Text(self._reasoning, style="dim italic"))
        if self._answer:
            parts.append(Markdown(self._answer))
        self._spinner.update(text=self._status())
        parts.append(self._spinner)
        return Group(*parts)

    def _print(self, renderable: RenderableType) -> None:
        self.console.print(renderable)  # above the live region while it runs

    def begin(self, kind: str, columns: list[Column]) -> None:
        self._kind, self._columns = kind, columns
        self._started = time.monotonic()
        self.resume()

    def resume(self) -> None:
        if self._live is None:
            self._live = Live(
                self._view(),
                console=self.console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start(refresh=True)

    def pause(self) -> None:
        self._commit_text()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def flush(self) -> None:
        if self._live is not None:
            self._live.update(self._view(), refresh=True)

    def note(self, text: str, style: str = "") -> None:
        self._commit_text()
        self._print(Text(text, style=style))

    # --- content -------------------------------------------------------------------------------
    def _commit_text(self) -> None:
        if self._reasoning:
            self._print(Text(self._reasoning.rstrip(), style="dim italic"))
            self._reasoning = ""
        if self._answer.strip():
            self._print(Markdown(self._answer))
        self._answer = ""

    def event(self, event: dict[str, Any], raw: str) -> None:
        kind = event.get("type")
        if kind == "content_delta":
            text = str(event.get("text", ""))
            self._chars += len(text)
            if self._reasoning:
                self._print(Text(self._reasoning.rstrip(), style="dim italic"))
                self._reasoning = ""
            done, self._answer = split_markdown(self._answer + text)
            if done.strip():
                self._print(Markdown(done))
            return
        if kind == "reasoning_delta":
            text = str(event.get("text", ""))
            self._chars += len(text)
            self._reasoning += text
            return
        if kind == "step_start":
            self._step = int(event.get("step") or self._step + 1)
            return
        if kind in ("agent_start", "step_end", "agent_finish"):
            return
        self._commit_text()
        if kind == "tool_call":
            title = f"[bold]{event.get('name', 'tool')}[/] · step {self._step}"
            self._print(
                Panel(args_view(event.get("args")), title=title, title_align="left", border_style="blue")
            )
        elif kind == "tool_result":
            output = str(event.get("output", ""))
            if event.get("isError"):
                body: RenderableType = Text(output, style="red")
                self._print(Panel(body, title="tool error", title_align="left", border_style="red"))
            else:
                self._print(
                    Panel(result_view(output), title="result", title_align="left", border_style="dim")
                )
        elif kind == "approval_request":
            title = (
                f"[bold]approval needed[/] · {event.get('name', 'tool')} · "
                f"[bold]{event.get('riskLevel', '?')}[/] · {event.get('requestId', '')}"
            )
            self._print(
                Panel(args_view(event.get("args")), title=title, title_align="left", border_style="yellow")
            )
        elif kind == "error":
            self._print(Text(f"error: {event.get('message', '')}", style="bold red"))
        elif kind == "compaction":
            self._print(
                Text(
                    f"context compacted: {event.get('summarized', '?')} messages summarized, "
                    f"{event.get('kept', '?')} kept",
                    style="dim",
                )
            )
        else:
            self._print(Text(raw, style="dim"))

    def row(self, values: tuple[Any, ...]) -> None:
        self._row_count += 1
        if self._kind == ANSWER:
            self._print(Markdown(str(values[0] if values else "")))
        elif len(self._rows) < TABLE_ROWS:
            self._rows.append(values)

    # --- the end -------------------------------------------------------------------------------
    def end(self, outcome: Outcome) -> None:
        self.pause()
        if self._kind == TABLE and self._columns:
            self._print(rows_table(self._columns, self._rows))
            count = self._row_count
            shown = f"first {len(self._rows)} of " if count > len(self._rows) else ""
            self._print(Text(f"({shown}{count} row{'s' if count != 1 else ''})", style="dim"))
        if outcome.cancelled:
            self._print(Text(f"cancelled after {outcome.elapsed:.1f} s", style="yellow"))
            if outcome.error:
                self._print(Text(outcome.error, style="yellow"))
        elif outcome.error:
            self._print(Text(f"error: {outcome.error}", style="bold red"))
        elif self._kind in (EVENTS, ANSWER):
            self._print(Text(self._summary(outcome), style="dim"))

    def _summary(self, outcome: Outcome) -> str:
        parts = [f"{'done' if outcome.ok else 'ended'} in {outcome.elapsed:.1f} s"]
        finish = outcome.finish or {}
        if finish.get("steps") is not None:
            parts.append(f"{finish['steps']} step{'s' if finish['steps'] != 1 else ''}")
        if finish.get("accumulatedPromptTokens") is not None:
            parts.append(
                f"{finish['accumulatedPromptTokens']:,} prompt + "
                f"{finish.get('accumulatedCompletionTokens', 0):,} completion tokens"
            )
        return " · ".join(parts)
