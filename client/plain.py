"""Output for scripts and pipes: the answer as plain text, or every row as one JSON line.

Notes and errors go to stderr, so stdout holds only the answer (or the rows)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from client.connection import Column
from client.run import ANSWER, EVENTS, TABLE, Outcome


class PlainSink:
    """The answer text as it streams; a table as tab-separated lines with a header."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self._kind = ""
        self._columns: list[Column] = []
        self._ends_with_newline = True

    def begin(self, kind: str, columns: list[Column]) -> None:
        self._kind, self._columns = kind, columns
        if kind == TABLE:
            self._write("\t".join(column.name for column in columns) + "\n")

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self._ends_with_newline = text.endswith("\n")

    def event(self, event: dict[str, Any], raw: str) -> None:
        kind = event.get("type")
        if kind == "content_delta":
            self._write(str(event.get("text", "")))
        elif kind == "error":
            self.err.write(f"error: {event.get('message', '')}\n")
            self.err.flush()

    def row(self, values: tuple[Any, ...]) -> None:
        if self._kind == ANSWER:
            self._write(str(values[0] if values else "") + "\n")
        else:
            self._write("\t".join("NULL" if value is None else str(value) for value in values) + "\n")

    def flush(self) -> None:
        self.out.flush()

    def pause(self) -> None:
        self.flush()

    def resume(self) -> None:
        pass

    def note(self, text: str, style: str = "") -> None:
        self.flush()
        self.err.write(text + "\n")
        self.err.flush()

    def end(self, outcome: Outcome) -> None:
        if not self._ends_with_newline:
            self._write("\n")
        self.flush()
        if outcome.cancelled:
            self.err.write("cancelled\n")
        elif outcome.error:
            self.err.write(f"error: {outcome.error}\n")
        self.err.flush()


class JsonlSink(PlainSink):
    """Every row as one JSON line: event rows as the engine sent them, other rows as objects."""

    def begin(self, kind: str, columns: list[Column]) -> None:
        self._kind, self._columns = kind, columns

    def event(self, event: dict[str, Any], raw: str) -> None:
        self._write(raw + "\n")
        self.flush()

    def row(self, values: tuple[Any, ...]) -> None:
        names = [column.name for column in self._columns]
        record = dict(zip(names, values, strict=False))
        self._write(json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n")
        if self._kind != EVENTS:
            self.flush()
