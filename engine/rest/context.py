"""What every route needs: the backend, the caller's authentication, the worker pool and the
REST settings, kept on the Starlette app's state (one per server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from engine.backend import BackendService
from engine.rest.auth import Caller, RestAuth
from engine.rest.workers import Workers

#: The engine's readiness: each check's name -> "" when it passes, else what is wrong.
Readiness = Callable[[], dict[str, str]]


@dataclass(frozen=True)
class RestContext:
    backend: BackendService
    auth: RestAuth
    workers: Workers
    readiness: Readiness
    ping_interval: float
    models: tuple[str, ...]  # offered besides the configured model


def context(request: Request) -> RestContext:
    found: RestContext = request.app.state.rest
    return found


async def caller(request: Request) -> tuple[RestContext, Caller]:
    """The route's context and its authenticated caller (401/403 otherwise)."""
    ctx = context(request)
    return ctx, await ctx.auth.caller(request)
