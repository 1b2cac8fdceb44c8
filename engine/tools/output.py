"""Offloaded tool output: a result above the line or byte limit is saved in the session's own
directory and the model gets a head-and-tail preview; ``read_tool_output`` and
``grep_tool_output`` page through those files and reach nothing else.

Files live in ``<session workdir>/tool-output/``. A name given by the model is resolved inside
that directory only: absolute paths, ``..``, separators and symlinks are refused, so another
session's files (another workdir) are out of reach. The session removes its workdir on close.
"""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from pathlib import Path

import re2
from pydantic import Field

from engine.common.config import OUTPUT_OFFLOAD_BYTES, OUTPUT_OFFLOAD_LINES
from engine.common.errors import InvalidStatementError
from engine.tools.base import RiskLevel, Tool, ToolArgs, ToolContext, ToolResult

log = logging.getLogger(__name__)

SUBDIR = "tool-output"
HEAD_LINES = 40
TAIL_LINES = 20
PREVIEW_LINE_CHARS = 400
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")
_sequence = itertools.count(1)


def limits(ctx: ToolContext) -> tuple[int, int]:
    return ctx.conf.get(OUTPUT_OFFLOAD_LINES), ctx.conf.get(OUTPUT_OFFLOAD_BYTES)


def needs_offload(text: str, ctx: ToolContext) -> bool:
    max_lines, max_bytes = limits(ctx)
    return text.count("\n") + 1 > max_lines or len(text.encode("utf-8")) > max_bytes


def offload(text: str, tool: str, ctx: ToolContext) -> str:
    """Save ``text`` in the session's directory; return the preview the model sees."""
    folder = ctx.workdir / SUBDIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{tool}-{next(_sequence)}-{uuid.uuid4().hex[:8]}.txt"
    (folder / name).write_text(text, encoding="utf-8")
    lines = text.split("\n")
    size = len(text.encode("utf-8"))
    _max_lines, max_bytes = limits(ctx)
    budget = max(1024, max_bytes // 2)
    head = [_short(line) for line in lines[:HEAD_LINES]]
    tail = [_short(line) for line in lines[max(HEAD_LINES, len(lines) - TAIL_LINES) :]]
    while len("\n".join(head + tail).encode("utf-8")) > budget and (len(head) > 1 or len(tail) > 1):
        if len(head) >= len(tail) and len(head) > 1:
            head.pop()
        else:
            tail.pop(0)
    omitted = len(lines) - len(head) - len(tail)
    log.debug("offloaded %d lines (%d bytes) of %s to %s", len(lines), size, tool, name)
    parts = [
        f"The output is large ({len(lines)} lines, {size} bytes) and was saved as file '{name}'. "
        f"Preview (first {len(head)} and last {len(tail)} lines):",
        "\n".join(head),
    ]
    if tail:
        parts.append(f"... [{omitted} lines omitted] ...")
        parts.append("\n".join(tail))
    parts.append(
        f"Use read_tool_output(file='{name}', offset=<line>, limit=<lines>) to read a window, or "
        f"grep_tool_output(file='{name}', pattern=<regex>) to search it."
    )
    return "\n".join(parts)


def _short(line: str) -> str:
    return line if len(line) <= PREVIEW_LINE_CHARS else line[:PREVIEW_LINE_CHARS] + "..."


def resolve(ctx: ToolContext, name: str) -> Path:
    """The offloaded file ``name`` of this session; InvalidStatementError for anything else."""
    if not _NAME_RE.fullmatch(name or "") or ".." in name:
        raise InvalidStatementError(
            f"'{name}' is not an offloaded output file name; use the name given in the tool output"
        )
    folder = (ctx.workdir / SUBDIR).resolve()
    path = folder / name
    if path.is_symlink() or not path.is_file() or path.resolve().parent != folder:
        raise InvalidStatementError(f"no offloaded output named '{name}' in this session")
    return path


def _capped(lines: list[str], ctx: ToolContext, what: str) -> str:
    _max_lines, max_bytes = limits(ctx)
    out: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode("utf-8")) + 1
        if size > max_bytes:
            out.append(f"[{what} stopped at {max_bytes} bytes; ask for a smaller window]")
            break
        out.append(line)
    return "\n".join(out)


# --- read_tool_output ---------------------------------------------------------------------------
class ReadToolOutputArgs(ToolArgs):
    file: str = Field(description="The file name given in an offloaded tool output.")
    offset: int = Field(1, ge=1, description="First line to show (1-based).")
    limit: int = Field(200, ge=1, le=2000, description="How many lines to show.")


def read_tool_output(args: ReadToolOutputArgs, ctx: ToolContext) -> ToolResult:
    path = resolve(ctx, args.file)
    lines = path.read_text(encoding="utf-8").split("\n")
    total = len(lines)
    if args.offset > total:
        return ToolResult.error(f"'{args.file}' has only {total} lines; offset {args.offset} is past its end")
    window = lines[args.offset - 1 : args.offset - 1 + args.limit]
    last = args.offset + len(window) - 1
    body = _capped(window, ctx, "the window")
    return ToolResult(f"Lines {args.offset}-{last} of {total} of '{args.file}':\n{body}")


# --- grep_tool_output ---------------------------------------------------------------------------
class GrepToolOutputArgs(ToolArgs):
    file: str = Field(description="The file name given in an offloaded tool output.")
    pattern: str = Field(
        min_length=1,
        max_length=500,
        description="A regular expression (RE2 syntax: like Python's, without backreferences or lookaround).",
    )
    ignore_case: bool = Field(False, description="Match without regard to case.")
    max_matches: int = Field(50, ge=1, le=1000, description="Stop after this many matching lines.")


def grep_tool_output(args: GrepToolOutputArgs, ctx: ToolContext) -> ToolResult:
    path = resolve(ctx, args.file)
    # RE2 matches in linear time: a pattern from the model over data from the database can never
    # backtrack for hours while holding the interpreter lock.
    options = re2.Options()
    options.case_sensitive = not args.ignore_case
    options.log_errors = False
    try:
        regex = re2.compile(args.pattern, options)
    except re2.error as exc:
        detail = (
            exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        )
        return ToolResult.error(f"invalid regular expression: {detail}")
    found: list[str] = []
    total = 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if number % 1000 == 0:
                ctx.cancel.raise_if_cancelled()
            if regex.search(line):
                total += 1
                if len(found) < args.max_matches:
                    found.append(f"{number}: {_short(line.rstrip(chr(10)))}")
    if not found:
        return ToolResult(f"No line of '{args.file}' matches {args.pattern!r}.")
    more = f" (showing the first {len(found)})" if total > len(found) else ""
    body = _capped(found, ctx, "the matches")
    return ToolResult(f"{total} matching lines in '{args.file}'{more}:\n{body}")


TOOLS = (
    Tool(
        "read_tool_output",
        "Read a window of lines of a large tool output that was saved to a file (offloaded).",
        RiskLevel.SAFE,
        ReadToolOutputArgs,
        read_tool_output,
        offload=False,
    ),
    Tool(
        "grep_tool_output",
        "Search a large tool output that was saved to a file (offloaded) with a regular expression; "
        "returns matching lines with their line numbers.",
        RiskLevel.SAFE,
        GrepToolOutputArgs,
        grep_tool_output,
        offload=False,
    ),
)
