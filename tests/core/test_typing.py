"""Typed boundaries: no public function outside ``engine/common`` takes or returns a bare ``Any``.

Layers meet through typed ports (STYLE.md). ``engine/common`` holds the plain types and is checked
by ``mypy --strict`` in CI; everywhere else a public signature names what it really takes. JSON
objects (``dict[str, Any]``) are allowed: their values are JSON, not "anything".
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "launcher", "client")


def _is_bare_any(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Name):
        return node.id == "Any"
    if isinstance(node, ast.Attribute):
        return node.attr == "Any"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "Any" in quotes
        return node.value.strip() == "Any"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # Any | None
        return _is_bare_any(node.left) or _is_bare_any(node.right)
    return False


def _public_functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    found.append((f"{node.name}.{item.name}", item))
    return found


def test_no_bare_any_in_public_signatures() -> None:
    offenders: list[str] = []
    for package in PACKAGES:
        base = ROOT / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith("engine/common/"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for name, function in _public_functions(tree):
                arguments = function.args
                annotated = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
                if arguments.vararg is not None:
                    annotated.append(arguments.vararg)
                if arguments.kwarg is not None:
                    annotated.append(arguments.kwarg)
                bad = [arg.arg for arg in annotated if _is_bare_any(arg.annotation)]
                if _is_bare_any(function.returns):
                    bad.append("return")
                if bad:
                    offenders.append(f"{relative}:{function.lineno} {name}({', '.join(bad)})")
    assert not offenders, "bare Any in public signatures:\n" + "\n".join(offenders)
