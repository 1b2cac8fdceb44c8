// The REST API client: every request says it comes from the UI (so a 401 never carries a Basic
// challenge and the browser shows no password dialog), changing requests carry the CSRF token,
// and errors become ApiError with the server's {"error": "..."} message.

const CHANGING = new Set(["POST", "PATCH", "PUT", "DELETE"]);
const AGENT = "kyuubi.engine.data.agent.";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }

  /** A network failure (status 0) or a server-side hiccup worth retrying. */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** A list in a response body, whether the server sends a bare array or wraps it in `key`. */
export function listOf(body, key) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body[key])) return body[key];
  return [];
}

const enc = encodeURIComponent;

export class Api {
  /** @param {{onUnauthorized: () => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.csrfToken = null;
  }

  headers(method, extra = {}) {
    const headers = { "X-Requested-With": "data-agent-ui", ...extra };
    if (CHANGING.has(method) && this.csrfToken) headers["X-CSRF-Token"] = this.csrfToken;
    return headers;
  }

  /** The raw Response of a request that succeeded; ApiError otherwise. */
  async send(method, path, { body, signal, accept = "application/json", quiet401 = false } = {}) {
    const extra = { Accept: accept };
    if (body !== undefined) extra["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: this.headers(method, extra),
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
        signal,
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "The engine cannot be reached. Is it running?");
    }
    if (response.ok) return response;
    const message = await errorMessage(response);
    if (response.status === 401 && !quiet401) this.hooks.onUnauthorized();
    throw new ApiError(response.status, message);
  }

  async json(method, path, options = {}) {
    const response = await this.send(method, path, options);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // --- who is signed in
  me() {
    return this.json("GET", "/api/v1/me", { quiet401: true });
  }
  async login(user, password) {
    const body = await this.json("POST", "/api/v1/login", { body: { user, password }, quiet401: true });
    this.csrfToken = body.csrfToken;
    return body;
  }
  async logout() {
    try {
      await this.json("POST", "/api/v1/logout", { quiet401: true });
    } finally {
      this.csrfToken = null;
    }
  }
  settings() {
    return this.json("GET", "/api/v1/settings");
  }

  // --- sessions (Kyuubi's)
  async openSession(conversationId) {
    const configs = conversationId ? { [AGENT + "conversation.id"]: conversationId } : {};
    const body = await this.json("POST", "/api/v1/sessions", { body: { configs } });
    return body.identifier;
  }
  closeSession(sessionId) {
    return this.json("DELETE", `/api/v1/sessions/${enc(sessionId)}`);
  }

  // --- the agent
  chat(sessionId, request, signal) {
    return this.send("POST", `/api/v1/data-agent/${enc(sessionId)}/chat`, {
      body: request,
      signal,
      accept: "text/event-stream",
    });
  }
  approve(sessionId, requestId, approved, reason) {
    const body = { requestId, approved };
    if (reason) body.reason = reason;
    return this.json("POST", `/api/v1/data-agent/${enc(sessionId)}/approve`, { body });
  }

  // --- runs
  getRun(runId) {
    return this.json("GET", `/api/v1/runs/${enc(runId)}`);
  }
  cancelRun(runId) {
    return this.json("POST", `/api/v1/runs/${enc(runId)}/cancel`);
  }
  runEvents(runId, after, signal) {
    return this.send("GET", `/api/v1/runs/${enc(runId)}/events?after=${after}`, {
      signal,
      accept: "text/event-stream",
    });
  }

  // --- conversations
  async conversations() {
    return listOf(await this.json("GET", "/api/v1/conversations"), "conversations");
  }
  conversation(id) {
    return this.json("GET", `/api/v1/conversations/${enc(id)}`);
  }
  renameConversation(id, title) {
    return this.json("PATCH", `/api/v1/conversations/${enc(id)}`, { body: { title } });
  }
  deleteConversation(id) {
    return this.json("DELETE", `/api/v1/conversations/${enc(id)}`);
  }

  // --- the catalog (schema browser)
  async tables() {
    return listOf(await this.json("GET", "/api/v1/catalog/tables"), "tables");
  }
  table(schema, table) {
    return this.json("GET", `/api/v1/catalog/tables/${enc(schema || "")}/${enc(table)}`);
  }
}

async function errorMessage(response) {
  let text = "";
  try {
    text = await response.text();
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body.error;
    if (body && typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON: fall through to the status line
  }
  return text && text.length < 300 ? text : `${response.status} ${response.statusText}`;
}
