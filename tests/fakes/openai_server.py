"""A scripted OpenAI-compatible chat completions server for tests and benchmarks.

A real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, port 0) that the real ``openai``
client talks to. Each POST /v1/chat/completions takes the next :class:`Reply` of the script (or
asks a ``responder`` callable) and answers it the way OpenAI does:

- ``stream=true``: ``text/event-stream`` with ``data: {chunk}\\n\\n`` lines and ``data: [DONE]``,
  sent with chunked transfer encoding (so keep-alive works and a dropped connection is visible);
- ``stream=false``: one ``chat.completion`` JSON object.

A reply can split its text into several deltas, stream ``reasoning_content`` (before the text, or
interleaved with it), split tool calls' id, name and argument fragments across chunks (or never
send the id), add a usage chunk, answer 429/500, stall before or between chunks, wait on an event,
or drop the connection mid-stream.
Every request body is recorded in :attr:`FakeOpenAIServer.requests`.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ToolCallSpec:
    name: str
    arguments: str  # the JSON text the model "writes"
    id: str | None = None  # None: generated; "" : the id never arrives
    pieces: int = 3  # the arguments are split into this many fragments


@dataclass
class Reply:
    text: Sequence[str] = ()
    reasoning: Sequence[str] = ()
    tool_calls: Sequence[ToolCallSpec] = ()
    usage: tuple[int, int] | None = (100, 20)  # (prompt_tokens, completion_tokens)
    status: int = 200
    error_message: str = ""
    retry_after: str | None = None
    headers_delay: float = 0.0  # stall before the response headers
    first_delay: float = 0.0  # stall after the headers, before the first chunk
    delay: float = 0.0  # stall between chunks
    drop_after: int | None = None  # close the connection after this many chunks
    wait_for: threading.Event | None = None  # hold the stream (after the first chunk) until set
    model: str = "fake-model"
    interleave: bool = False  # alternate reasoning and text chunks (each kind change is a new event)


def text(*parts: str, **kwargs: Any) -> Reply:
    return Reply(text=parts, **kwargs)


def tool(
    name: str, args: dict[str, Any] | str, *, id: str | None = None, pieces: int = 3, **kwargs: Any
) -> Reply:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return Reply(tool_calls=(ToolCallSpec(name, arguments, id, pieces),), **kwargs)


def error(status: int, message: str = "", **kwargs: Any) -> Reply:
    return Reply(status=status, error_message=message or f"scripted error {status}", **kwargs)


_counter = itertools.count(1)


def _split(value: str, pieces: int) -> list[str]:
    if pieces <= 1 or len(value) < 2:
        return [value]
    size = max(1, -(-len(value) // pieces))
    return [value[i : i + size] for i in range(0, len(value), size)]


def _chunks(reply: Reply, completion_id: str) -> list[dict[str, Any]]:
    """The stream's chunk objects for ``reply`` (without [DONE])."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": reply.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.interleave:
        for thought, part in itertools.zip_longest(reply.reasoning, reply.text):
            if thought is not None:
                out.append(chunk({"reasoning_content": thought}))
            if part is not None:
                out.append(chunk({"content": part}))
    else:
        out.extend(chunk({"reasoning_content": part}) for part in reply.reasoning)
        out.extend(chunk({"content": part}) for part in reply.text)
    for index, call in enumerate(reply.tool_calls):
        call_id = f"call_{completion_id[-6:]}_{index}" if call.id is None else call.id
        head: dict[str, Any] = {"index": index, "type": "function", "function": {"arguments": ""}}
        if call_id:
            head["id"] = call_id
        out.append(chunk({"tool_calls": [head]}))
        out.append(chunk({"tool_calls": [{"index": index, "function": {"name": call.name}}]}))
        for piece in _split(call.arguments, call.pieces):
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if reply.usage is not None:
        prompt, completion = reply.usage
        usage_chunk = chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        out.append(usage_chunk)
    return out


def _completion(reply: Reply, completion_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.text) or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                "logprobs": None,
            }
        ],
    }
    if reply.usage is not None:
        body["usage"] = {
            "prompt_tokens": reply.usage[0],
            "completion_tokens": reply.usage[1],
            "total_tokens": sum(reply.usage),
        }
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "malformed JSON", "type": "invalid_request_error"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        fake = self.server.fake
        reply = fake._next_reply(body, dict(self.headers))
        if reply.headers_delay:
            time.sleep(reply.headers_delay)
        if reply.status != 200:
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            self._send_json(
                reply.status, {"error": {"message": reply.error_message, "type": "server_error"}}, headers
            )
            return
        completion_id = f"chatcmpl-{next(_counter):06d}"
        if not body.get("stream"):
            self._send_json(200, _completion(reply, completion_id))
            return
        self._stream(reply, completion_id, bool((body.get("stream_options") or {}).get("include_usage")))

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, reply: Reply, completion_id: str, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()
        chunks = _chunks(reply, completion_id)
        if not include_usage:
            chunks = [chunk for chunk in chunks if "usage" not in chunk]
        try:
            if reply.first_delay:
                time.sleep(reply.first_delay)
            for number, chunk in enumerate(chunks):
                if reply.drop_after is not None and number >= reply.drop_after:
                    self._drop()
                    return
                if number and reply.delay:
                    time.sleep(reply.delay)
                self._write_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.server.fake._sent(chunk)
                if number == 0 and reply.wait_for is not None:
                    reply.wait_for.wait(30)
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    fake: FakeOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients that hang up (cancelled streams) are expected here

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-llm-conn-{next(self.fake._conn_ids)}",
            daemon=True,
        )
        thread.start()


class FakeOpenAIServer:
    """Plays scripted replies; use as a context manager. ``url`` is the base URL (…/v1)."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        record: bool = True,
    ) -> None:
        self._script: list[Reply] = list(script)
        self._responder = responder
        self._record = record
        self._cond = threading.Condition()
        self.requests: list[dict[str, Any]] = []
        # (time.monotonic() just after it was written, its content text) of every streamed text
        # chunk, for benchmarks that time the way from the model to a screen
        self.sent_text: list[tuple[float, str]] = []
        self.headers: list[dict[str, str]] = []
        self.request_count = 0
        self._conn_ids = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def add(self, *replies: Reply) -> None:
        with self._cond:
            self._script.extend(replies)

    def _sent(self, chunk: dict[str, Any]) -> None:
        choices = chunk.get("choices") or [{}]
        content = (choices[0].get("delta") or {}).get("content")
        if content and self._record:
            with self._cond:
                self.sent_text.append((time.monotonic(), content))

    def clear(self) -> None:
        """Drop the replies not played yet (a test that shares the server starts afresh)."""
        with self._cond:
            self._script.clear()

    def _next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._cond:
            self.request_count += 1
            if self._record:
                self.requests.append(body)
                self.headers.append(headers)
            self._cond.notify_all()
            if self._responder is not None:
                return self._responder(body)
            if not self._script:
                return error(500, "the fake LLM script is exhausted")
            return self._script.pop(0)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.request_count >= count, timeout)

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
