"""Login, logout, who am I, the engine's agent settings; liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.common.errors import AuthenticationError
from engine.rest.auth import COOKIE, challenge
from engine.rest.bodies import LoginBody, read_body
from engine.rest.context import caller, context
from engine.rest.errors import ApiError


async def login(request: Request) -> Response:
    ctx = context(request)
    body = await read_body(request, LoginBody)
    try:
        user = await ctx.auth.check_password(body.user, body.password)
    except AuthenticationError as exc:
        raise ApiError(401, f"authentication failed: {exc.message}", challenge(request)) from None
    cookie, csrf = ctx.auth.logins.start(user)
    response = JSONResponse({"user": user, "csrfToken": csrf})
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(ctx.auth.logins.idle_timeout),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    ctx, who = await caller(request)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        ctx.auth.logins.end(cookie)
    response = JSONResponse({"user": who.user, "loggedOut": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def me(request: Request) -> Response:
    _, who = await caller(request)
    return JSONResponse({"user": who.user, "csrfToken": who.csrf_token})


async def settings(request: Request) -> Response:
    ctx, _ = await caller(request)
    defaults = ctx.backend.agent_defaults()
    models = [defaults.model] if defaults.model else []
    models += [name for name in ctx.models if name not in models]
    return JSONResponse(
        {
            "model": defaults.model,
            "approvalMode": defaults.approval_mode,
            "approvalModes": list(defaults.approval_modes),
            "models": models,
        }
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx = context(request)
    checks = await ctx.workers.run(ctx.readiness)
    ready = all(not problem for problem in checks.values())
    body = {"ready": ready, "checks": {name: problem or "ok" for name, problem in checks.items()}}
    return JSONResponse(body, status_code=200 if ready else 503)


ROUTES = [
    Route("/api/v1/login", login, methods=["POST"]),
    Route("/api/v1/logout", logout, methods=["POST"]),
    Route("/api/v1/me", me, methods=["GET"]),
    Route("/api/v1/settings", settings, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
