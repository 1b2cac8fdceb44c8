"""``/docs``: the OpenAPI document rendered on the server as one plain page (no CDN, no script)."""

from __future__ import annotations

import html
import json
from functools import cache

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from engine.rest.openapi import document

STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
    "code,pre{background:#f4f4f4;padding:2px 4px}h3{margin-bottom:.2em}"
    ".m{display:inline-block;min-width:4.5em;font-weight:bold}"
)


def _text(value: object) -> str:
    return html.escape(str(value))


def _body_name(operation: dict[str, object]) -> str | None:
    body = operation.get("requestBody")
    if not isinstance(body, dict):
        return None
    ref = str(body["content"]["application/json"]["schema"]["$ref"])
    return ref.rsplit("/", 1)[-1]


@cache
def docs_page() -> str:
    doc = document()
    info: dict[str, object] = doc["info"]  # type: ignore[assignment]
    paths: dict[str, dict[str, dict[str, object]]] = doc["paths"]  # type: ignore[assignment]
    components: dict[str, dict[str, object]] = doc["components"]  # type: ignore[assignment]
    schemas = components["schemas"]
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_text(info['title'])}</title>",
        f"<style>{STYLE}</style></head><body><h1>{_text(info['title'])}</h1>",
        f"<p>{_text(info['description'])}</p>",
        "<p>The machine-readable document: <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, methods in paths.items():
        for method, operation in methods.items():
            parts.append(
                f"<h3><span class='m'>{method.upper()}</span> <code>{_text(path)}</code></h3>"
                f"<p>{_text(operation['summary'])}</p>"
            )
            name = _body_name(operation)
            if name is not None:
                parts.append(
                    f"<details><summary>body: {_text(name)}</summary>"
                    f"<pre>{_text(json.dumps(schemas[name], indent=2))}</pre></details>"
                )
            responses: dict[str, object] = operation["responses"]  # type: ignore[assignment]
            parts.append(f"<p>answers: {_text(', '.join(responses))}</p>")
    parts.append("</body></html>")
    return "".join(parts)


async def docs(request: Request) -> Response:
    return HTMLResponse(docs_page())


ROUTES = [Route("/docs", docs, methods=["GET"])]
