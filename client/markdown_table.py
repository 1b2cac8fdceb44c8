"""Reading the Markdown tables that query tools return (``| a | b |`` lines, ``\\|`` escaped)
back into rows, so that a terminal can show them as real tables. Plain text; no regex."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParsedTable:
    header: list[str]
    rows: list[list[str]]
    before: str  # text before the table
    after: str  # text after it, e.g. "(3 rows)" or a truncation note


def split_row(line: str) -> list[str]:
    """The cells of one ``| a | b |`` line; ``\\|`` is a literal bar."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells: list[str] = []
    current: list[str] = []
    escaped = False
    for char in body:
        if escaped:
            current.append(char if char == "|" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    cells.append("".join(current).strip())
    return cells


def _is_rule(line: str) -> bool:
    cells = split_row(line)
    return bool(cells) and all(cell and set(cell) <= set("-: ") and "-" in cell for cell in cells)


def parse_table(text: str) -> ParsedTable | None:
    """The first Markdown table in ``text`` (a header line, a rule line, then rows), or None."""
    lines = text.splitlines()
    for index in range(len(lines) - 1):
        if lines[index].lstrip().startswith("|") and _is_rule(lines[index + 1]):
            header = split_row(lines[index])
            end = index + 2
            rows = []
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                rows.append(split_row(lines[end]))
                end += 1
            return ParsedTable(
                header,
                rows,
                "\n".join(lines[:index]).strip(),
                "\n".join(lines[end:]).strip(),
            )
    return None
