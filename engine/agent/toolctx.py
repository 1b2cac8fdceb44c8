"""Builds the ``engine.tools.ToolContext`` handed to every tool call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.common.cancel import CancelToken
from engine.common.config import EngineConf


@dataclass(frozen=True)
class _ToolContext:
    """Same fields as engine.tools.ToolContext; used only while that class is unavailable."""

    session_id: str
    workdir: Path
    cancel: CancelToken
    conf: EngineConf


def make_tool_context(session_id: str, workdir: Path, cancel: CancelToken, conf: EngineConf) -> Any:
    try:
        from engine.tools import ToolContext
    except ImportError:
        return _ToolContext(session_id, workdir, cancel, conf)
    return ToolContext(session_id=session_id, workdir=workdir, cancel=cancel, conf=conf)
