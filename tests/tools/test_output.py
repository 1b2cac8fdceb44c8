"""Offloaded output: preview shape, read/grep windows, confinement to the session's own files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.common.cancel import CancelToken
from engine.tools import ToolContext
from engine.tools.output import needs_offload, offload
from tests.tools.conftest import Target, make_conf


def ctx_for(root: Path, session: str) -> ToolContext:
    workdir = root / session
    workdir.mkdir(parents=True, exist_ok=True)
    return ToolContext(session, workdir, CancelToken(), make_conf())


def test_limits_are_lines_and_bytes(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, "a")
    assert not needs_offload("x\n" * 499, ctx)
    assert needs_offload("x\n" * 500, ctx)
    assert needs_offload("y" * (50 * 1024 + 1), ctx)
    assert not needs_offload("y" * (50 * 1024), ctx)


def test_single_huge_line_gets_a_bounded_preview(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, "a")
    preview = offload("z" * 200_000, "run_select_query", ctx)
    assert len(preview) < 2_000 and "200000 bytes" in preview


def read(target: Target, session: str, **args: object) -> object:
    return target.registry.call("read_tool_output", args, target.ctx(session=session))


def test_read_and_grep_an_offloaded_result(sqlite_target: Target) -> None:
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 800) SELECT x, 'v' || x AS label FROM c"
    result = sqlite_target.call("run_select_query", {"sql": sql})
    assert not result.is_error and "saved as file" in result.output
    assert len(result.table.rows) == 800  # the structured result is complete
    name = result.output.split("saved as file '")[1].split("'")[0]
    window = sqlite_target.call("read_tool_output", {"file": name, "offset": 3, "limit": 2})
    assert not window.is_error
    assert window.output.splitlines()[1:] == ["| 1 | v1 |", "| 2 | v2 |"]
    found = sqlite_target.call(
        "grep_tool_output", {"file": name, "pattern": r"\| v7\d\d \|", "max_matches": 3}
    )
    assert not found.is_error and "100 matching lines" in found.output
    assert "| 700 | v700 |" in found.output and "showing the first 3" in found.output
    none = sqlite_target.call("grep_tool_output", {"file": name, "pattern": "nothing-here"})
    assert not none.is_error and "No line" in none.output
    bad = sqlite_target.call("grep_tool_output", {"file": name, "pattern": "("})
    assert bad.is_error and "invalid regular expression" in bad.output
    past = sqlite_target.call("read_tool_output", {"file": name, "offset": 100000})
    assert past.is_error and "past its end" in past.output


@pytest.mark.parametrize(
    "name",
    ["../s1/tool-output/x.txt", "/etc/passwd", "..", "tool-output/../../x", "a/b.txt", "", "~/x", "x\x00y"],
)
def test_paths_outside_the_session_are_refused(sqlite_target: Target, name: str) -> None:
    for tool in ("read_tool_output", "grep_tool_output"):
        args = {"file": name} if tool == "read_tool_output" else {"file": name, "pattern": "."}
        result = sqlite_target.call(tool, args)
        assert result.is_error


def test_another_sessions_file_is_unreachable(sqlite_target: Target) -> None:
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 700) SELECT x FROM c"
    mine = sqlite_target.registry.call("run_select_query", {"sql": sql}, sqlite_target.ctx(session="alice"))
    name = mine.output.split("saved as file '")[1].split("'")[0]
    own = sqlite_target.registry.call(
        "read_tool_output", {"file": name, "limit": 1}, sqlite_target.ctx(session="alice")
    )
    assert not own.is_error
    other = sqlite_target.registry.call("read_tool_output", {"file": name}, sqlite_target.ctx(session="bob"))
    assert other.is_error and "no offloaded output" in other.output
    sneaky = sqlite_target.registry.call(
        "read_tool_output", {"file": f"../../alice/tool-output/{name}"}, sqlite_target.ctx(session="bob")
    )
    assert sneaky.is_error


def test_symlink_in_the_output_dir_is_refused(sqlite_target: Target, tmp_path: Path) -> None:
    ctx = sqlite_target.ctx(session="carol")
    folder = ctx.workdir / "tool-output"
    folder.mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (folder / "link.txt").symlink_to(secret)
    result = sqlite_target.registry.call("read_tool_output", {"file": "link.txt"}, ctx)
    assert result.is_error and "top secret" not in result.output


def test_grep_runs_in_linear_time_on_a_catastrophic_pattern(tmp_path: Path) -> None:
    """A pattern from the model over data from the database must never backtrack: ``(a+)+$``
    against a long run of 'a' followed by 'b' takes exponential time in a backtracking engine."""
    from engine.tools.output import GrepToolOutputArgs, grep_tool_output

    ctx = ctx_for(tmp_path, "a")
    preview = offload(("a" * 50_000 + "b\n") * 20, "run_select_query", ctx)
    name = preview.split("saved as file '")[1].split("'")[0]
    started = time.thread_time()
    result = grep_tool_output(GrepToolOutputArgs(file=name, pattern="(a+)+$"), ctx)
    elapsed = time.thread_time() - started
    assert not result.is_error and "No line" in result.output
    assert elapsed < 2.0, f"grep took {elapsed:.2f} s"
    lookaround = grep_tool_output(GrepToolOutputArgs(file=name, pattern="(?<=a)b"), ctx)
    assert lookaround.is_error and "invalid regular expression" in lookaround.output
