"""Request bodies: pydantic models (strict types) and the one reader that turns a request's JSON
into one of them, answering 400 for malformed JSON and 422 for a body of the wrong shape."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from engine.common.config import APPROVAL_MODES
from engine.rest.errors import ApiError

MAX_BODY = 1 << 20  # bytes; a question is capped by statement.max.length anyway
MODEL_PATTERN = r"^[A-Za-z0-9._/:@-]+$"  # Kyuubi's
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"  # Kyuubi's: it is embedded in __approve:<id>

B = TypeVar("B", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class LoginBody(Body):
    user: str = Field(min_length=1, max_length=256)
    password: str = Field(max_length=4096)


class SessionBody(Body):
    configs: dict[str, str] = Field(default_factory=dict, max_length=1000)


class ChatBody(Body):
    text: str = Field(min_length=1, max_length=MAX_BODY)
    model: str | None = Field(default=None, max_length=128, pattern=MODEL_PATTERN)
    approvalMode: str | None = Field(default=None, max_length=32)

    def approval_mode(self) -> str | None:
        if self.approvalMode is None or not self.approvalMode.strip():
            return None
        mode = self.approvalMode.strip().upper()
        if mode not in APPROVAL_MODES:
            raise ApiError(422, f"invalid approvalMode, must be one of: {', '.join(APPROVAL_MODES)}")
        return mode


class ApproveBody(Body):
    requestId: str = Field(min_length=1, max_length=256, pattern=REQUEST_ID_PATTERN)
    approved: bool
    reason: str | None = Field(default=None, max_length=4096)


class RenameBody(Body):
    title: str = Field(min_length=1, max_length=500)


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"invalid request body: {where}: {first.get('msg', 'invalid')}"


async def read_body(request: Request, model: type[B]) -> B:
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"request body too large (limit {MAX_BODY} bytes)")
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        raise ApiError(400, "a JSON request body is required")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid request body: a JSON object is required")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ApiError(422, _problem(exc)) from None
