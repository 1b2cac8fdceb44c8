"""The OpenAPI document of the REST API (``/openapi.json``; :mod:`engine.rest.docs` renders it
as ``/docs``). Request bodies come from the pydantic models the
routes validate with, so the two cannot drift; the answers are described here."""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.common.config import APPROVAL_MODES
from engine.common.record import RunStatus
from engine.common.version import VERSION
from engine.rest.bodies import ApproveBody, Body, ChatBody, LoginBody, RenameBody, SessionBody

JsonSchema = dict[str, object]

STRING: JsonSchema = {"type": "string"}
NULLABLE_STRING: JsonSchema = {"type": ["string", "null"]}
INTEGER: JsonSchema = {"type": "integer"}


def _obj(required: dict[str, JsonSchema], optional: dict[str, JsonSchema] | None = None) -> JsonSchema:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


RUN = _obj(
    {
        "runId": STRING,
        "conversationId": NULLABLE_STRING,
        "user": STRING,
        "question": STRING,
        "status": {"type": "string", "enum": [status.value for status in RunStatus]},
        "started": {"type": "string", "format": "date-time"},
        "ended": {"type": ["string", "null"], "format": "date-time"},
        "error": NULLABLE_STRING,
        "steps": INTEGER,
        "promptTokens": INTEGER,
        "completionTokens": INTEGER,
        "model": NULLABLE_STRING,
        "incomplete": {"type": "boolean"},
        "lastSeq": {"type": "integer", "description": "sequence number of the run's last event"},
    }
)
CONVERSATION = _obj(
    {
        "conversationId": STRING,
        "user": STRING,
        "title": STRING,
        "created": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
        "runCount": INTEGER,
    }
)
SCHEMAS: dict[str, JsonSchema] = {
    "Error": _obj({"error": STRING}),
    "Me": _obj({"user": STRING, "csrfToken": NULLABLE_STRING}),
    "LoggedOut": _obj({"user": STRING, "loggedOut": {"type": "boolean"}}),
    "Settings": _obj(
        {
            "model": NULLABLE_STRING,
            "approvalMode": {"type": "string", "enum": list(APPROVAL_MODES)},
            "approvalModes": {"type": "array", "items": {"type": "string", "enum": list(APPROVAL_MODES)}},
            "models": {"type": "array", "items": STRING},
        }
    ),
    "SessionHandle": _obj({"identifier": STRING}, {"conversationId": NULLABLE_STRING}),
    "Session": _obj(
        {
            "identifier": STRING,
            "user": STRING,
            "ipAddr": STRING,
            "createTime": {"type": "integer", "description": "epoch milliseconds"},
            "conversationId": STRING,
            "conf": {"type": "object", "additionalProperties": STRING},
        }
    ),
    "SessionClosed": _obj({"identifier": STRING, "closed": {"type": "boolean"}}),
    "ApprovalReply": _obj(
        {"status": {"type": "string", "enum": ["ok", "not_found", "error"]}, "requestId": STRING},
        {"action": {"type": "string", "enum": ["approved", "denied"]}, "message": STRING},
    ),
    "Run": RUN,
    "Runs": {"type": "array", "items": _ref("Run")},
    "RunCancelled": _obj(
        {"runId": STRING, "cancelled": {"type": "boolean"}, "status": RUN["properties"]["status"]}  # type: ignore[index]
    ),
    "Conversation": CONVERSATION,
    "Conversations": {"type": "array", "items": _ref("Conversation")},
    "ConversationDetail": {
        "allOf": [_ref("Conversation"), _obj({"runs": {"type": "array", "items": _ref("Run")}})]
    },
    "ConversationDeleted": _obj({"conversationId": STRING, "deleted": {"type": "boolean"}}),
    "Tables": {
        "type": "array",
        "items": _obj({"schema": STRING, "table": STRING, "type": STRING}),
    },
    "Table": _obj(
        {
            "schema": STRING,
            "table": STRING,
            "columns": {
                "type": "array",
                "items": _obj(
                    {"name": STRING, "type": STRING, "nullable": {"type": "boolean"}},
                    {"hiveType": STRING, "comment": STRING},
                ),
            },
        },
        {"type": STRING},
    ),
    "Health": _obj({"status": STRING}),
    "Ready": _obj(
        {"ready": {"type": "boolean"}, "checks": {"type": "object", "additionalProperties": STRING}}
    ),
}
BODIES: tuple[type[Body], ...] = (LoginBody, SessionBody, ChatBody, ApproveBody, RenameBody)

ERRORS = {
    "400": "malformed JSON, Basic credentials or Last-Event-ID",
    "401": "no or wrong credentials (WWW-Authenticate: Basic, or Session for the web UI's requests)",
    "403": "another user's resource, or a cookie request without X-CSRF-Token",
    "404": "unknown id",
    "409": "busy or in the wrong state (a session that already runs a statement)",
    "413": "request body too large",
    "422": "a body or parameter of the wrong shape",
    "429": "rate limited (Retry-After)",
    "501": "not available in this engine (the run registry is disabled)",
    "502": "the datasource or the LLM failed",
    "503": "busy, or the run registry is unreachable",
    "504": "timed out",
}
SSE_DOC = (
    "text/event-stream: each event has `id: <run sequence>`, `event: <row type>` and `data: <the reply "
    "row's compact JSON>`; `event: ping` after silence; ends with `event: done`."
)


def _json(schema: JsonSchema) -> dict[str, object]:
    return {"application/json": {"schema": schema}}


def _param(name: str, where: str, schema: JsonSchema, description: str = "") -> dict[str, object]:
    found: dict[str, object] = {"name": name, "in": where, "required": where == "path", "schema": schema}
    if description:
        found["description"] = description
    return found


def _op(
    summary: str,
    answer: str,
    *,
    tag: str,
    body: type[Body] | None = None,
    params: tuple[dict[str, object], ...] = (),
    public: bool = False,
    stream: bool = False,
    errors: tuple[str, ...] = tuple(ERRORS),
) -> dict[str, object]:
    ok: dict[str, object] = {"description": SSE_DOC if stream else "OK"}
    ok["content"] = {"text/event-stream": {"schema": STRING}} if stream else _json(_ref(answer))
    responses: dict[str, object] = {"200": ok}
    for code in errors:
        responses[code] = {"description": ERRORS[code], "content": _json(_ref("Error"))}
    operation: dict[str, object] = {"summary": summary, "tags": [tag], "responses": responses}
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body.__name__))}
    if public:
        operation["security"] = []
    return operation


SESSION_ID = _param("identifier", "path", STRING, "the session's id (a UUID)")
SESSION_HANDLE = _param("sessionHandle", "path", STRING, "the session's id (a UUID)")
RUN_ID = _param("run_id", "path", STRING)
CONVERSATION_ID = _param("conversation_id", "path", STRING)
LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 10000})


@cache
def document() -> dict[str, object]:
    bodies = {
        model.__name__: model.model_json_schema(ref_template="#/components/schemas/{model}")
        for model in BODIES
    }
    paths: dict[str, dict[str, object]] = {
        "/api/v1/login": {
            "post": _op(
                "Log in (sets the HttpOnly session cookie)",
                "Me",
                tag="account",
                body=LoginBody,
                public=True,
                errors=tuple(code for code in ERRORS if code != "403"),
            )
        },
        "/api/v1/logout": {"post": _op("Log out", "LoggedOut", tag="account")},
        "/api/v1/me": {"get": _op("Who am I, and my CSRF token (cookie logins)", "Me", tag="account")},
        "/api/v1/settings": {"get": _op("The engine's agent settings", "Settings", tag="account")},
        "/api/v1/sessions": {
            "post": _op("Open a session (Kyuubi)", "SessionHandle", tag="sessions", body=SessionBody)
        },
        "/api/v1/sessions/{identifier}": {
            "get": _op("A session", "Session", tag="sessions", params=(SESSION_ID,)),
            "delete": _op(
                "Close a session (its statements stop)", "SessionClosed", tag="sessions", params=(SESSION_ID,)
            ),
        },
        "/api/v1/data-agent/{sessionHandle}/chat": {
            "post": _op(
                "Ask a question; the run's events stream back (a dropped stream detaches the run)",
                "",
                tag="data-agent",
                body=ChatBody,
                params=(SESSION_HANDLE,),
                stream=True,
            )
        },
        "/api/v1/data-agent/{sessionHandle}/approve": {
            "post": _op(
                "Approve or deny a parked tool call (any session of its owner)",
                "ApprovalReply",
                tag="data-agent",
                body=ApproveBody,
                params=(SESSION_HANDLE,),
            )
        },
        "/api/v1/runs": {
            "get": _op(
                "Runs, newest first: the caller's (an administrator's: everyone's)",
                "Runs",
                tag="runs",
                params=(
                    _param("status", "query", {"type": "string", "enum": [s.value for s in RunStatus]}),
                    _param("conversation", "query", STRING),
                    LIMIT,
                ),
            )
        },
        "/api/v1/runs/{run_id}": {"get": _op("A run", "Run", tag="runs", params=(RUN_ID,))},
        "/api/v1/runs/{run_id}/cancel": {
            "post": _op("Stop a run going on", "RunCancelled", tag="runs", params=(RUN_ID,))
        },
        "/api/v1/runs/{run_id}/events": {
            "get": _op(
                "Follow a run: replayed, then live; resumes after Last-Event-ID or ?after",
                "",
                tag="runs",
                params=(
                    RUN_ID,
                    _param("after", "query", {"type": "integer", "minimum": 0}, "last sequence number seen"),
                    _param("Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]{1,18}$"}),
                ),
                stream=True,
            )
        },
        "/api/v1/conversations": {
            "get": _op(
                "Conversations, most recently updated first",
                "Conversations",
                tag="conversations",
                params=(LIMIT,),
            )
        },
        "/api/v1/conversations/{conversation_id}": {
            "get": _op(
                "A conversation with its runs (oldest first)",
                "ConversationDetail",
                tag="conversations",
                params=(CONVERSATION_ID,),
            ),
            "patch": _op(
                "Rename a conversation",
                "Conversation",
                tag="conversations",
                body=RenameBody,
                params=(CONVERSATION_ID,),
            ),
            "delete": _op(
                "Delete a conversation and its runs",
                "ConversationDeleted",
                tag="conversations",
                params=(CONVERSATION_ID,),
            ),
        },
        "/api/v1/catalog/tables": {"get": _op("The datasource's tables", "Tables", tag="catalog")},
        "/api/v1/catalog/tables/{schema}/{table}": {
            "get": _op(
                "A table's columns",
                "Table",
                tag="catalog",
                params=(_param("schema", "path", STRING), _param("table", "path", STRING)),
            )
        },
        "/healthz": {"get": _op("Alive", "Health", tag="health", public=True, errors=())},
        "/readyz": {
            "get": {
                **_op(
                    "Ready: the datasource answers and the run registry is reachable",
                    "Ready",
                    tag="health",
                    public=True,
                    errors=(),
                ),
                "responses": {
                    "200": {"description": "ready", "content": _json(_ref("Ready"))},
                    "503": {"description": "not ready", "content": _json(_ref("Ready"))},
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Data Agent Engine REST API",
            "version": VERSION,
            "description": "Kyuubi's sessions and data-agent chat/approve, and the engine's runs, "
            "conversations and catalog. Authenticate with HTTP Basic, or log in (cookie) and send "
            "X-CSRF-Token on POST, PATCH and DELETE.",
        },
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **bodies},
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "data_agent_session"},
            },
        },
        "security": [{"basic": []}, {"cookie": []}],
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document())


ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"])]
