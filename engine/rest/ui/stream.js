// Reading a run's events: a text/event-stream parser over fetch (EventSource can neither POST
// nor send our headers), and RunStream, which follows one run to its `done` event. When the
// stream drops it reconnects by itself with backoff and resumes after the last event id it saw
// (GET /api/v1/runs/{id}/events?after=<seq>), skipping anything it already has.

import { ApiError } from "./api.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

/** The events of an SSE response body: {id, event, data} (data parsed as JSON when it is). */
export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (event.data.length || event.event !== "message") yield finish(event);
          event = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // a comment (": ping")
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "id") event.id = value;
        else if (field === "event") event.event = value;
        else if (field === "data") event.data.push(value);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function finish(event) {
  const text = event.data.join("\n");
  let data = text;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    // not JSON: keep the text
  }
  return { id: event.id === null ? null : Number(event.id), event: event.event, data };
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Follows one run. Hooks:
 * - onEvent(type, data, seq): every event but ping/done, each sequence once and in order;
 * - onState(state): "live", "reconnecting" (with the attempt number) or "ended";
 * - onRun(runId): once the run's id is known (agent_start of a chat).
 * `done` resolves when the run ended (true) or the stream was given up/closed (false).
 */
export class RunStream {
  constructor(api, hooks) {
    this.api = api;
    this.hooks = hooks;
    this.runId = null;
    this.lastSeq = 0;
    this.controller = new AbortController();
    this.ended = false;
  }

  /** Asks a question in a session and follows the run it starts. */
  chat(sessionId, request) {
    return this.follow(() => this.api.chat(sessionId, request, this.controller.signal));
  }

  /** Replays a run from the start (or after `after`) and follows it live. */
  attach(runId, after = 0) {
    this.runId = runId;
    this.lastSeq = after;
    return this.follow(() => this.api.runEvents(runId, this.lastSeq, this.controller.signal));
  }

  /** Stops reading (the run itself goes on: the server detaches it). */
  close() {
    this.controller.abort();
  }

  get closed() {
    return this.controller.signal.aborted;
  }

  async follow(open) {
    let attempt = 0;
    for (;;) {
      try {
        const response = await open();
        this.hooks.onState?.("live");
        for await (const item of readEvents(response)) {
          attempt = 0;
          if (this.take(item)) {
            this.ended = true;
            this.hooks.onState?.("ended");
            return true;
          }
        }
      } catch (err) {
        if (this.closed) return false;
        if (err instanceof ApiError && (!err.transient || !this.runId)) throw err;
        if (!this.runId) throw new ApiError(0, `The stream failed before the run started: ${err.message}`);
      }
      if (this.closed) return false;
      if (!this.runId) throw new ApiError(0, "The connection dropped before the run started.");
      // dropped: come back after the last event we have
      this.hooks.onState?.("reconnecting", attempt + 1);
      await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)], this.controller.signal);
      attempt += 1;
      if (this.closed) return false;
      open = () => this.api.runEvents(this.runId, this.lastSeq, this.controller.signal);
    }
  }

  /** Handles one event; true when the run is over. */
  take(item) {
    if (item.event === "done") return true;
    if (item.event === "ping" || item.event === "message") return false;
    if (item.id !== null && !Number.isNaN(item.id)) {
      if (item.id <= this.lastSeq) return false; // already shown
      this.lastSeq = item.id;
    }
    if (item.event === "agent_start" && item.data && item.data.runId && !this.runId) {
      this.runId = item.data.runId;
      this.hooks.onRun?.(this.runId, item.data.conversationId);
    }
    this.hooks.onEvent(item.event, item.data, item.id);
    return false;
  }
}
