"""The REST API's contract outside the chat: authentication (Basic, login cookie, CSRF, the
challenge), ownership (403), unknown ids (404), bad bodies (400/422), sessions, settings, catalog,
health and the documents. Real uvicorn over loopback, httpx."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer, text
from tests.rest.conftest import Start
from tests.rest.support import Api
from tests.support.passwords import write_password_file

NOBODY = str(uuid.uuid4())

# every authenticated route, with ids that exist for nobody
ROUTES = [
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/logout"),
    ("GET", "/api/v1/settings"),
    ("POST", "/api/v1/sessions"),
    ("GET", f"/api/v1/sessions/{NOBODY}"),
    ("DELETE", f"/api/v1/sessions/{NOBODY}"),
    ("POST", f"/api/v1/data-agent/{NOBODY}/chat"),
    ("POST", f"/api/v1/data-agent/{NOBODY}/approve"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/r1"),
    ("POST", "/api/v1/runs/r1/cancel"),
    ("GET", "/api/v1/runs/r1/events"),
    ("GET", "/api/v1/conversations"),
    ("GET", "/api/v1/conversations/c1"),
    ("PATCH", "/api/v1/conversations/c1"),
    ("DELETE", "/api/v1/conversations/c1"),
    ("GET", "/api/v1/catalog/tables"),
    ("GET", "/api/v1/catalog/tables/main/orders"),
]


def test_every_route_needs_credentials(api: Api) -> None:
    anonymous = api.anonymous()
    for method, path in ROUTES:
        answer = anonymous.request(method, path, json={})
        assert answer.status_code == 401, (method, path)
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")
        assert "authentication required" in answer.json()["error"]
        ui = anonymous.request(method, path, json={}, headers={"X-Requested-With": "data-agent-ui"})
        assert ui.status_code == 401
        assert ui.headers["WWW-Authenticate"].startswith("Session ")  # no password popup in browsers
        garbled = anonymous.request(method, path, json={}, headers={"Authorization": "Basic !!!"})
        assert garbled.status_code == 400
        other = anonymous.request(method, path, json={}, headers={"Authorization": "Bearer abc"})
        assert other.status_code == 401


def test_custom_authentication_refuses_a_wrong_password(rest_engine: Start, tmp_path: Path) -> None:
    path = write_password_file(tmp_path / "passwords", {"alice": "right"})
    _, api = rest_engine(
        **{"kyuubi.authentication": "CUSTOM", "kyuubi.authentication.password.file": str(path)}
    )
    assert api.client(password="right").get("/api/v1/me").json()["user"] == "alice"
    refused = api.client(password="wrong").get("/api/v1/me")
    assert refused.status_code == 401 and "authentication failed" in refused.json()["error"]
    assert "wrong" not in refused.text
    login = api.anonymous().post("/api/v1/login", json={"user": "alice", "password": "wrong"})
    assert login.status_code == 401


def test_login_cookie_and_csrf(api: Api) -> None:
    browser = api.anonymous()
    login = browser.post("/api/v1/login", json={"user": "alice", "password": "pw"})
    assert login.status_code == 200
    token = login.json()["csrfToken"]
    assert login.json()["user"] == "alice" and token
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    me = browser.get("/api/v1/me")
    assert me.json() == {"user": "alice", "csrfToken": token}
    refused = browser.post("/api/v1/sessions", json={"configs": {}})  # no CSRF header
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    wrong = browser.post("/api/v1/sessions", json={"configs": {}}, headers={"X-CSRF-Token": "x" + token})
    assert wrong.status_code == 403
    opened = browser.post("/api/v1/sessions", json={"configs": {}}, headers={"X-CSRF-Token": token})
    assert opened.status_code == 200
    assert browser.get(f"/api/v1/sessions/{opened.json()['identifier']}").status_code == 200  # GET: no token
    assert browser.post("/api/v1/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert browser.get("/api/v1/me").status_code == 401
    assert api.client().get("/api/v1/me").json() == {"user": "alice", "csrfToken": None}  # Basic: no token


def test_bad_bodies_are_400_or_422(api: Api) -> None:
    client = api.client()
    session = api.session(client)
    cases: list[tuple[str, str, bytes | None, object, int]] = [
        ("POST", "/api/v1/sessions", b"{not json", None, 400),
        ("POST", "/api/v1/sessions", b"", None, 400),
        ("POST", "/api/v1/sessions", None, [1, 2], 422),
        ("POST", "/api/v1/sessions", None, {"configs": {"a": 1}}, 422),
        ("POST", "/api/v1/sessions", b"[" * 100_000, None, 400),
        ("POST", f"/api/v1/data-agent/{session}/chat", None, {"text": ""}, 422),
        ("POST", f"/api/v1/data-agent/{session}/chat", None, {"text": 7}, 422),
        ("POST", f"/api/v1/data-agent/{session}/chat", None, {"text": "hi", "model": "a b"}, 422),
        ("POST", f"/api/v1/data-agent/{session}/chat", None, {"text": "hi", "approvalMode": "LAX"}, 422),
        ("POST", f"/api/v1/data-agent/{session}/approve", None, {"requestId": "a b", "approved": True}, 422),
        ("POST", f"/api/v1/data-agent/{session}/approve", None, {"requestId": "x", "approved": "yes"}, 422),
        ("PATCH", "/api/v1/conversations/c1", None, {"title": ""}, 422),
        ("POST", "/api/v1/login", None, {"user": "alice"}, 422),
        ("POST", "/api/v1/sessions", b"x" * (2 << 20), None, 413),
    ]
    for method, path, raw, value, status in cases:
        if raw is not None:
            answer = client.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        else:
            answer = client.request(method, path, json=value)
        assert answer.status_code == status, (path, raw[:20] if raw else value, answer.text)
        assert answer.json()["error"]
    assert client.get("/api/v1/runs", params={"status": "lost"}).status_code == 422
    assert client.get("/api/v1/runs", params={"limit": "many"}).status_code == 422
    assert client.get("/api/v1/runs", params={"limit": "0"}).status_code == 422
    events = client.get("/api/v1/runs/r1/events", headers={"Last-Event-ID": "seven"})
    assert events.status_code == 400
    bad_conf = client.post(
        "/api/v1/sessions", json={"configs": {"kyuubi.engine.data.agent.approval.mode": "LAX"}}
    )
    assert bad_conf.status_code == 400 and "approval.mode" in bad_conf.json()["error"]


def test_unknown_ids_are_404(api: Api) -> None:
    client = api.client()
    for path in (
        f"/api/v1/sessions/{NOBODY}",
        "/api/v1/sessions/not-a-uuid",
        "/api/v1/runs/nope",
        "/api/v1/runs/nope/events",
        "/api/v1/conversations/nope",
        "/api/v1/catalog/tables/main/nope",
        "/api/v1/nothing/here",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]
    assert client.post(f"/api/v1/data-agent/{NOBODY}/chat", json={"text": "hi"}).status_code == 404
    assert client.post("/api/v1/runs/nope/cancel").status_code == 404


def test_sessions_settings_and_catalog(api: Api) -> None:
    client = api.client()
    settings = client.get("/api/v1/settings").json()
    assert settings["model"] == "fake-model" and settings["approvalMode"] == "NORMAL"
    assert settings["approvalModes"] == ["AUTO_APPROVE", "NORMAL", "STRICT"]
    assert settings["models"] == ["fake-model"]
    opened = client.post(
        "/api/v1/sessions", json={"configs": {"kyuubi.engine.data.agent.result.mode": "answer"}}
    )
    identifier = opened.json()["identifier"]
    assert uuid.UUID(identifier)
    shown = client.get(f"/api/v1/sessions/{identifier}").json()
    assert shown["user"] == "alice" and shown["ipAddr"] == "127.0.0.1"
    assert shown["conf"]["kyuubi.engine.data.agent.result.mode"] == "answer"
    assert shown["conversationId"] == opened.json()["conversationId"]
    assert client.delete(f"/api/v1/sessions/{identifier}").json() == {
        "identifier": identifier,
        "closed": True,
    }
    assert client.get(f"/api/v1/sessions/{identifier}").status_code == 404
    tables = client.get("/api/v1/catalog/tables").json()
    assert {"schema": "main", "table": "orders", "type": "TABLE"} in tables
    orders = client.get("/api/v1/catalog/tables/main/orders").json()
    assert [column["name"] for column in orders["columns"]] == ["id", "customer", "amount"]
    assert {"name", "type", "nullable"} <= set(orders["columns"][0])


def test_another_users_resources_are_403(api: Api, llm: FakeOpenAIServer) -> None:
    alice, bob = api.client("alice"), api.client("bob")
    session = api.session(alice)
    llm.add(text("Three orders."))
    events = api.chat(alice, session, "how many orders?")
    start = events[0].json
    run_id, conversation = start["runId"], start["conversationId"]
    for method, path, body in [
        ("GET", f"/api/v1/sessions/{session}", None),
        ("DELETE", f"/api/v1/sessions/{session}", None),
        ("POST", f"/api/v1/data-agent/{session}/chat", {"text": "hi"}),
        ("POST", f"/api/v1/data-agent/{session}/approve", {"requestId": "r", "approved": True}),
        ("GET", f"/api/v1/runs/{run_id}", None),
        ("POST", f"/api/v1/runs/{run_id}/cancel", None),
        ("GET", f"/api/v1/runs/{run_id}/events", None),
        ("GET", f"/api/v1/conversations/{conversation}", None),
        ("PATCH", f"/api/v1/conversations/{conversation}", {"title": "mine"}),
        ("DELETE", f"/api/v1/conversations/{conversation}", None),
    ]:
        answer = bob.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "another user" in answer.json()["error"]
    assert bob.get("/api/v1/runs").json() == []
    assert bob.get("/api/v1/conversations").json() == []
    root = api.client("root")  # an administrator sees and may follow anyone's runs
    assert [run["runId"] for run in root.get("/api/v1/runs").json()] == [run_id]
    assert root.get(f"/api/v1/runs/{run_id}").json()["user"] == "alice"


def test_health_documents_and_the_ui_placeholder(api: Api) -> None:
    anonymous = api.anonymous()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"datasource": "ok", "store": "ok"}}
    document = anonymous.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/data-agent/{sessionHandle}/chat" in document["paths"]
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "/api/v1/runs/{run_id}/events" in docs.text
    assert "http" not in docs.text.replace("http-equiv", "").split("<body>", 1)[0]  # nothing from a CDN
    assert anonymous.get("/").status_code == 200
    assert anonymous.get("/").headers["X-Frame-Options"] == "DENY"


def test_readyz_is_503_while_the_datasource_does_not_answer(rest_engine: Start) -> None:
    _, api = rest_engine(**{"jdbc.url": "jdbc:postgresql://127.0.0.1:1/none", "datasource.check": "warn"})
    ready = api.anonymous().get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False and ready.json()["checks"]["datasource"] != "ok"


def test_rest_can_be_left_out(rest_engine: Start) -> None:
    engine, _ = rest_engine(**{"kyuubi.frontend.protocols": "THRIFT_BINARY"})
    assert engine.app.rest is None and engine.app.rest_port == 0
