"""The system prompt, built from package-data markdown at run time.

It holds the role and safety rules (``prompts/base.md``), the real descriptions of the tools
enabled for this run (from the tool registry), today's date and the datasource's dialect section
(``Datasource.prompt_section()``).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable
from importlib import resources

from engine.tools.base import RiskLevel


@functools.lru_cache(maxsize=8)
def load_prompt(name: str) -> str:
    """The text of ``engine/agent/prompts/<name>.md``."""
    return (
        resources.files("engine.agent").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8").strip()
    )


def render_tool_descriptions(descriptions: Iterable[tuple[str, str, RiskLevel]]) -> str:
    lines = []
    for name, description, risk in descriptions:
        note = " Needs the user's approval." if risk is not RiskLevel.SAFE else ""
        text = " ".join(description.split())
        lines.append(f"- `{name}` ({risk.value}): {text}{note}")
    return "\n".join(lines) if lines else "(no tools are enabled for this conversation)"


def build_system_prompt(
    descriptions: Iterable[tuple[str, str, RiskLevel]],
    dialect_section: str = "",
    today: datetime.date | None = None,
) -> str:
    day = today or datetime.date.today()
    text = load_prompt("base").replace("{{tool_descriptions}}", render_tool_descriptions(descriptions))
    parts = [text, f"Today's date: {day.isoformat()} ({day.strftime('%A')})."]
    if dialect_section and dialect_section.strip():
        parts.append(dialect_section.strip())
    return "\n\n".join(parts)
