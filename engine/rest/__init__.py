"""The REST/SSE API and the web UI, in the engine process, over the same backend as the Thrift
frontend (one set of sessions, runs, approvals and conversations). The only importer of Starlette
and uvicorn.

- :mod:`engine.rest.server`: uvicorn in the thread ``rest-server``, bound before it serves;
- :mod:`engine.rest.app`: the routes, ``/openapi.json``, ``/docs`` and the UI's static files;
- :mod:`engine.rest.auth`: HTTP Basic, the UI's login cookie and its CSRF token;
- :mod:`engine.rest.sessions`, :mod:`engine.rest.chat`: Kyuubi's sessions and data-agent resource;
- :mod:`engine.rest.runs`: runs (with their SSE event stream) and conversations;
- :mod:`engine.rest.catalog`, :mod:`engine.rest.account`: the schema browser, login and health;
- :mod:`engine.rest.sse`, :mod:`engine.rest.errors`, :mod:`engine.rest.bodies`: the plumbing.
"""

from __future__ import annotations

from engine.rest.server import RestServer

__all__ = ["RestServer"]
