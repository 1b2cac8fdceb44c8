"""The LLM client: OpenAI-compatible chat completions, streamed. The only importer of ``openai``.

:meth:`LlmClient.stream` yields :class:`TextDelta` items as the model writes, ``None`` ticks shortly
after text when the stream goes quiet (so the caller can flush coalesced text), and finally one
:class:`LlmTurn` with the assembled content, tool calls and usage.

- The request and the stream are read in a named reader thread; the caller's thread waits on a
  queue that the cancel token also wakes (a callback), so cancellation, the run's deadline included,
  is noticed at once even while the model stalls, and cancelling closes the stream. The waits are
  bounded by ``llm.request.timeout`` (httpx's timeouts, with a backstop here); nothing polls.
- Tool calls are assembled by their ``index``. A call whose id never arrives keeps a generated
  id (Kyuubi drops such calls).
- 429, 5xx, connection errors and timeouts are retried with exponential backoff (honouring
  ``Retry-After``) as long as nothing was received; a failure after the first token raises
  :class:`LlmError` with ``mid_stream`` set.
- The API key never appears in errors or logs: every message is passed through redaction.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion

from engine.common.cancel import CancelToken
from engine.common.errors import AgentError, OperationCanceledError, OperationTimeoutError
from engine.common.metrics import Metrics, NoMetrics
from engine.common.redaction import redact_text

log = logging.getLogger(__name__)

_reader_ids = itertools.count(1)
_MAX_BACKOFF = 30.0
_TICK_SLACK = 0.002  # a tick this long after text is due: the caller stamped it a moment later


class LlmError(AgentError):
    """The LLM call failed. ``mid_stream``: after some output was already received."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        mid_stream: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.mid_stream = mid_stream
        self.retry_after = retry_after  # seconds the endpoint asked us to wait (Retry-After)


@dataclass(frozen=True)
class TextDelta:
    kind: str  # "content" | "reasoning"
    text: str


@dataclass(frozen=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: str  # raw JSON text as the model wrote it


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class LlmTurn:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    attempts: int = 1

    @property
    def empty(self) -> bool:
        return not self.content and not self.tool_calls

    def assistant_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        return message


@dataclass(frozen=True)
class LlmCallOptions:
    model: str
    request_timeout: float = 120.0
    temperature: float | None = None
    max_retries: int = 3
    backoff: float = 0.5
    # after text, the caller gets a tick ``poll`` after the first text since the last tick (when its
    # coalescer is due), then ticks this often until the stream has been quiet 2x
    poll: float = 0.05


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class _Assembler:
    """Folds stream chunks into an :class:`LlmTurn`; tool calls keyed by index."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.received = False

    def feed(self, chunk: object) -> list[TextDelta]:
        """One chunk as the JSON object the endpoint sent (the SDK's typed chunk model costs a third
        of the engine's CPU per token: bench/concurrency.py --profile); any field of the wrong type
        counts as absent."""
        out: list[TextDelta] = []
        data = _mapping(chunk)
        usage = _mapping(data.get("usage"))
        if usage:
            self.usage = Usage(
                *(_count(usage.get(key)) for key in ("prompt_tokens", "completion_tokens", "total_tokens"))
            )
        choices = data.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            choice = _mapping(choice)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                self.finish_reason = finish
            delta = _mapping(choice.get("delta"))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self.received = True
                self.reasoning.append(reasoning)
                out.append(TextDelta("reasoning", reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.received = True
                self.content.append(content)
                out.append(TextDelta("content", content))
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                call = _mapping(call)
                self.received = True
                index = call.get("index")
                slot = self.calls.setdefault(
                    index if isinstance(index, int) else 0, {"id": "", "name": "", "args": []}
                )
                call_id = call.get("id")
                if isinstance(call_id, str) and call_id:
                    slot["id"] = call_id
                function = _mapping(call.get("function"))
                name, arguments = function.get("name"), function.get("arguments")
                if isinstance(name, str) and name and name != slot["name"]:
                    # Providers send the name once; a few send it in fragments.
                    slot["name"] = name if not slot["name"] else slot["name"] + name
                if isinstance(arguments, str) and arguments:
                    slot["args"].append(arguments)
        return out

    def turn(self, attempts: int) -> LlmTurn:
        calls = []
        for index in sorted(self.calls):
            slot = self.calls[index]
            call_id = slot["id"] or f"call_local_{uuid.uuid4().hex[:24]}"
            calls.append(ToolCallRequest(call_id, slot["name"], "".join(slot["args"]) or "{}"))
        return LlmTurn(
            content="".join(self.content),
            reasoning="".join(self.reasoning),
            tool_calls=calls,
            usage=self.usage,
            finish_reason=self.finish_reason,
            attempts=attempts,
        )


def _create(client: openai.OpenAI, kwargs: dict[str, Any]) -> Any:
    """``client.chat.completions.create(**kwargs)`` without the SDK's walk of the request's type
    annotations on every call (its ``maybe_transform``: ~2 ms for the engine's prompt and tool
    specs, a third of the engine's CPU in a one-step statement, measured with bench/overhead.py).
    For a body of plain JSON values, as ours always is, that walk returns the body unchanged, so
    it is posted as is, through the client's documented ``post`` (same retries, headers, errors).
    A stream yields each chunk as the JSON object sent, the SDK's errors and timeouts unchanged."""
    body = {key: value for key, value in kwargs.items() if key != "timeout"}
    return client.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletion,
        options={"timeout": kwargs["timeout"]},
        stream=bool(body.get("stream")),
        stream_cls=openai.Stream[object],  # chunks as sent: plain dicts (see _Assembler.feed)
    )


class _Reader:
    """Runs one streaming request in a named thread and hands chunks over through a queue."""

    _DONE = object()
    _WAKE = object()  # put by wake(): the waiting caller looks at its cancel token

    def __init__(self, client: openai.OpenAI, kwargs: dict[str, Any]) -> None:
        self.items: queue.Queue[Any] = queue.Queue()
        self._client = client
        self._kwargs = kwargs
        self._lock = threading.Lock()
        self._stream: Any = None
        self._closed = False
        self.thread = threading.Thread(target=self._run, name=f"llm-stream-{next(_reader_ids)}", daemon=True)

    def start(self) -> _Reader:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            stream = _create(self._client, self._kwargs)
            with self._lock:
                self._stream = stream
                closed = self._closed
            if closed:
                stream.close()
                return
            for chunk in stream:
                self.items.put(chunk)
            self.items.put(self._DONE)
        except BaseException as exc:  # handed to the caller's thread
            self.items.put(exc)

    def wake(self) -> None:
        """Wake the caller waiting on :attr:`items` (a cancel callback: quick, any thread)."""
        self.items.put(self._WAKE)

    def close(self, *, abort: bool = True) -> None:
        """Close the stream (from the caller's thread); the reader thread then ends. ``abort``
        (cancel, timeout, error) also shuts the socket down, which ends a blocked read at once;
        a stream read to its end keeps its connection for the next call (keep-alive)."""
        with self._lock:
            self._closed = True
            stream = self._stream
        if stream is None:
            return
        if not abort:
            try:
                stream.close()
            except Exception:
                log.debug("closing the LLM stream failed", exc_info=True)
            return
        try:
            network = stream.response.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            if sock is not None:
                import socket

                sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # best effort: the close below still ends the response
            log.debug("cannot shut the LLM socket down", exc_info=True)
        try:
            stream.close()
        except Exception:
            log.debug("closing the LLM stream failed", exc_info=True)


class LlmClient:
    """One OpenAI-compatible endpoint, shared by every session of a provider (thread-safe)."""

    def __init__(
        self,
        endpoint: str | None,
        api_key: str | None,
        *,
        connect_timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._api_key = api_key or ""
        self._metrics: Metrics = metrics or NoMetrics()  # one request per attempt: outcome, seconds
        self._connect_timeout = connect_timeout
        self._client = openai.OpenAI(
            base_url=endpoint or None,
            api_key=api_key or "unused",
            max_retries=0,  # we retry ourselves, only before the first token
        )

    def close(self) -> None:
        self._client.close()

    def _redact(self, text: str) -> str:
        return redact_text(text, [self._api_key] if self._api_key else [])

    def _timeout(self, request_timeout: float) -> httpx2.Timeout:
        return httpx2.Timeout(request_timeout, connect=min(self._connect_timeout, request_timeout))

    # --- streaming -----------------------------------------------------------------------------

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        options: LlmCallOptions,
        cancel: CancelToken,
    ) -> Iterator[TextDelta | LlmTurn | None]:
        kwargs: dict[str, Any] = {
            "model": options.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": self._timeout(options.request_timeout),
        }
        if tools:
            kwargs["tools"] = tools
        if options.temperature is not None:
            kwargs["temperature"] = options.temperature
        attempt = 0
        while True:
            cancel.raise_if_cancelled()
            assembler = _Assembler()
            started = time.monotonic()
            try:
                yield from self._attempt(kwargs, assembler, options, cancel)
            except LlmError as exc:
                self._metrics.llm_request("error", time.monotonic() - started)
                if exc.retryable and not assembler.received and attempt < options.max_retries:
                    delay = self._backoff(options.backoff, attempt, exc.retry_after)
                    attempt += 1
                    log.info(
                        "LLM call failed (%s); retry %d/%d in %.2f s",
                        exc,
                        attempt,
                        options.max_retries,
                        delay,
                    )
                    if cancel.wait(delay):
                        cancel.raise_if_cancelled()
                    continue
                if assembler.received:
                    raise LlmError(f"the LLM stream failed mid-response: {exc}", mid_stream=True) from None
                if exc.retryable and attempt:
                    raise LlmError(f"{exc} (after {attempt + 1} attempts)") from None
                raise
            except BaseException:  # cancelled, timed out, or the caller closed the stream
                self._metrics.llm_request("cancelled", time.monotonic() - started)
                raise
            self._metrics.llm_request("success", time.monotonic() - started)
            yield assembler.turn(attempt + 1)
            return

    def _attempt(
        self, kwargs: dict[str, Any], assembler: _Assembler, options: LlmCallOptions, cancel: CancelToken
    ) -> Iterator[TextDelta | None]:
        reader = _Reader(self._client, kwargs).start()
        quiet_limit = options.request_timeout + self._connect_timeout + 5.0  # a backstop to httpx's timeouts
        unregister = cancel.on_cancel(reader.wake)
        last = last_text = time.monotonic()
        pending_since: float | None = None  # first text since the last tick: the coalescer's clock
        finished = False  # read to its end: the connection goes back to the pool
        try:
            while True:
                if cancel.cancelled:
                    reader.close()
                    cancel.raise_if_cancelled()
                now = time.monotonic()
                wait = last + quiet_limit - now
                if pending_since is not None:  # tick when that text is due, not a poll after the latest
                    wait = min(wait, pending_since + options.poll + _TICK_SLACK - now)
                elif now - last_text < 2 * options.poll:  # text may wait in the caller's coalescer
                    wait = min(wait, options.poll)
                try:
                    item = reader.items.get(timeout=max(0.0, wait))
                except queue.Empty:
                    if time.monotonic() - last >= quiet_limit:
                        raise LlmError(
                            f"the LLM sent nothing for {quiet_limit:g} s", retryable=True
                        ) from None
                    pending_since = None
                    yield None
                    continue
                if item is _Reader._WAKE:
                    continue
                last = time.monotonic()
                if item is _Reader._DONE:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    raise self._translate(item) from None
                deltas = assembler.feed(item)
                if deltas:
                    last_text = last
                    if pending_since is None:
                        pending_since = last
                yield from deltas
        finally:
            unregister()
            reader.close(abort=not finished)

    def _backoff(self, base: float, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(_MAX_BACKOFF, max(0.0, retry_after))
        delay = base * (2**attempt)
        return min(_MAX_BACKOFF, delay * (0.9 + 0.2 * random.random()))

    def _translate(self, exc: BaseException) -> LlmError:
        if isinstance(exc, LlmError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            return LlmError("the LLM request timed out", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
            return LlmError(
                self._redact(f"the connection to the LLM endpoint failed{detail}"), retryable=True
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            message = exc.message
            body = exc.body
            if isinstance(body, dict):
                inner = body.get("error", body)
                if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                    message = inner["message"]
            retryable = status in (408, 409, 429) or status >= 500
            error = LlmError(
                self._redact(f"the LLM endpoint answered HTTP {status}: {message}"), retryable=retryable
            )
            retry_after = exc.response.headers.get("retry-after") if exc.response is not None else None
            if retry_after:
                try:
                    error.retry_after = float(retry_after)
                except ValueError:
                    pass
            return error
        if isinstance(exc, openai.APIError):
            return LlmError(self._redact(f"the LLM endpoint reported an error: {exc.message}"))
        return LlmError(self._redact(f"the LLM call failed: {type(exc).__name__}: {exc}"))

    # --- one-shot (compaction summaries) -------------------------------------------------------

    def complete(self, messages: list[dict[str, Any]], options: LlmCallOptions, cancel: CancelToken) -> str:
        """A non-streaming call returning the text; retried like :meth:`stream`."""
        kwargs: dict[str, Any] = {
            "model": options.model,
            "messages": messages,
            "timeout": self._timeout(options.request_timeout),
            "temperature": 0.0,
        }
        backstop = options.request_timeout + self._connect_timeout + 5.0  # as for streams
        attempt = 0
        while True:
            cancel.raise_if_cancelled()
            started = time.monotonic()
            try:
                response = self._request(kwargs, cancel, backstop)
            except (OperationCanceledError, OperationTimeoutError):
                self._metrics.llm_request("cancelled", time.monotonic() - started)
                raise
            except Exception as exc:
                self._metrics.llm_request("error", time.monotonic() - started)
                error = self._translate(exc)
                if error.retryable and attempt < options.max_retries:
                    delay = self._backoff(options.backoff, attempt, error.retry_after)
                    attempt += 1
                    if cancel.wait(delay):
                        cancel.raise_if_cancelled()
                    continue
                raise error from None
            self._metrics.llm_request("success", time.monotonic() - started)
            if not response.choices or not response.choices[0].message.content:
                raise LlmError("the LLM returned an empty completion")
            return str(response.choices[0].message.content)

    def _request(self, kwargs: dict[str, Any], cancel: CancelToken, backstop: float) -> Any:
        """One non-streaming request on a named thread. The caller waits on a queue that the cancel
        token also wakes; a cancelled request is abandoned (its thread ends with the request, within
        ``llm.request.timeout``)."""
        box: queue.Queue[tuple[Any, BaseException | None] | None] = queue.Queue()

        def run() -> None:
            try:
                box.put((_create(self._client, kwargs), None))
            except BaseException as exc:  # handed to the caller's thread
                box.put((None, exc))

        threading.Thread(target=run, name=f"llm-call-{next(_reader_ids)}", daemon=True).start()
        unregister = cancel.on_cancel(lambda: box.put(None))
        try:
            item = box.get(timeout=backstop)
        except queue.Empty:
            raise LlmError(f"the LLM sent nothing for {backstop:g} s", retryable=True) from None
        finally:
            unregister()
        if item is None:  # woken by the cancel
            raise cancel.error()
        response, error = item
        if error is not None:
            raise error
        return response
