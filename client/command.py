"""The REPL's backslash commands, turned into the statements the engine understands."""

from __future__ import annotations

from dataclasses import dataclass

RESULT_MODE_KEY = "kyuubi.engine.data.agent.result.mode"
MODES = ("events", "answer", "table")
QUIT, HELP, RUN, MODE, ERROR, NOTHING = "quit", "help", "run", "mode", "error", "nothing"

HELP_TEXT = """\
Type a question and press Enter; Esc then Enter (or Alt+Enter) adds a new line.
Ctrl-C cancels a running question (or clears the line), Ctrl-D quits.

  \\sql <query>             run your own read-only SQL (no LLM)
  \\tables                  list the tables
  \\describe <table>        the columns of a table
  \\mode events|answer|table how answers come back (default: events)
  \\set [key[=value]]       show or set a session setting
  \\help                    this help
  \\q                       quit

A tool call that needs approval asks `approve? [y/N/reason]`: y approves, Enter denies,
anything else denies with that reason.
"""


@dataclass(frozen=True)
class Command:
    kind: str
    statement: str = ""
    mode: str = ""
    message: str = ""


def quote_table(name: str) -> str:
    """A table name for DESCRIBE: plain dotted identifiers as they are, others in backticks."""
    parts = name.split(".")
    if all(part and (part.replace("_", "").isalnum()) for part in parts):
        return name
    if name.startswith("`") and name.endswith("`"):
        return name
    return "`" + name.replace("`", "``") + "`"


def parse_command(line: str) -> Command:
    text = line.strip()
    if not text:
        return Command(NOTHING)
    if not text.startswith("\\"):
        if text.lower() in ("quit", "exit"):
            return Command(QUIT)
        return Command(RUN, statement=text)
    name, _, rest = text[1:].partition(" ")
    if not name and rest:
        name, _, rest = rest.strip().partition(" ")
    name, rest = name.lower(), rest.strip()
    if name in ("q", "quit", "exit"):
        return Command(QUIT)
    if name in ("help", "?", "h"):
        return Command(HELP, message=HELP_TEXT)
    if name == "sql":
        if not rest:
            return Command(ERROR, message="usage: \\sql <query>")
        return Command(RUN, statement=f"__sql: {rest}")
    if name in ("tables", "dt"):
        return Command(RUN, statement="SHOW TABLES")
    if name in ("describe", "d"):
        if not rest:
            return Command(ERROR, message="usage: \\describe <table>")
        return Command(RUN, statement=f"DESCRIBE {quote_table(rest)}")
    if name == "mode":
        mode = rest.lower()
        if mode not in MODES:
            return Command(ERROR, message=f"usage: \\mode {'|'.join(MODES)}")
        return Command(MODE, statement=f"SET {RESULT_MODE_KEY}={mode}", mode=mode)
    if name == "set":
        return Command(RUN, statement=f"SET {rest}" if rest else "SET")
    return Command(ERROR, message=f"unknown command \\{name}; \\help lists the commands")
