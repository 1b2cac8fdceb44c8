"""Builds the ``engine.tools.ToolContext`` handed to every tool call."""

from __future__ import annotations

from pathlib import Path

from engine.common.cancel import CancelToken
from engine.common.config import EngineConf
from engine.tools.base import ToolContext


def make_tool_context(session_id: str, workdir: Path, cancel: CancelToken, conf: EngineConf) -> ToolContext:
    return ToolContext(session_id=session_id, workdir=workdir, cancel=cancel, conf=conf)
