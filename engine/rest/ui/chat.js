// One turn of the chat: the user's question and the assistant's message, built from the run's
// event rows (DESIGN.md "Event rows"): streaming Markdown, collapsible reasoning, tool blocks
// (highlighted SQL, running/done/error, the result as a table or chart), approval blocks with
// Approve and Deny-with-reason, errors, and a usage footer.

import { codeBlock, renderMarkdown } from "./markdown.js";
import { resultView } from "./result.js";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "testid") node.dataset.testid = value;
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function argsView(name, args) {
  if (args && typeof args.sql === "string") return codeBlock(args.sql, "sql");
  return codeBlock(JSON.stringify(args ?? {}, null, 2), "json");
}

function formatTokens(n) {
  return n >= 10000 ? `${(n / 1000).toFixed(1)}k` : String(n ?? 0);
}

function formatSeconds(ms) {
  return ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export class TurnView {
  /**
   * @param {HTMLElement} log where the turn is appended
   * @param {string} question the user's text (empty when unknown)
   * @param {{decide: (requestId: string, approved: boolean, reason: string) => Promise<void>}} hooks
   */
  constructor(log, question, hooks) {
    this.hooks = hooks;
    this.started = performance.now();
    this.runId = null;
    this.tools = new Map(); // tool call id -> {block, status}
    this.approvals = new Map(); // tool call id -> approval block parts
    this.text = null; // the Markdown part being streamed: {element, source}
    this.reasoning = null;
    this.dirty = new Set(); // Markdown parts to render at the next frame
    this.user = el("div", { class: "message user", testid: "user-message" }, el("p", { text: question }));
    this.body = el("div", { class: "message-body" });
    this.message = el(
      "article",
      { class: "message assistant streaming", testid: "assistant-message", "aria-busy": "true" },
      this.body,
    );
    if (!question) this.user.hidden = true;
    log.append(this.user, this.message);
  }

  /** Applies one event row. */
  handle(type, data) {
    switch (type) {
      case "agent_start":
        this.runId = data.runId ?? null;
        if (this.runId) this.message.dataset.runId = this.runId;
        break;
      case "content_delta":
        this.appendText(data.text ?? "");
        break;
      case "reasoning_delta":
        this.appendReasoning(data.text ?? "");
        break;
      case "approval_request":
        this.addApproval(data);
        break;
      case "tool_call":
        this.addTool(data);
        break;
      case "tool_result":
        this.addResult(data);
        break;
      case "compaction":
        this.addNote(`Earlier turns were summarized (${data.summarized} messages summarized, ${data.kept} kept).`);
        break;
      case "error":
        this.addError(data.message ?? "The run failed.");
        break;
      case "agent_finish":
        this.addUsage(data);
        break;
      default:
        break; // step_start, step_end and fields added later need nothing on screen
    }
    if (type !== "content_delta") this.text = null;
    if (type !== "reasoning_delta") this.closeReasoning();
  }

  appendText(delta) {
    if (!this.text) {
      const element = el("div", { class: "markdown" });
      this.body.append(element);
      this.text = { element, source: "" };
    }
    this.text.source += delta;
    if (this.dirty.size === 0) requestAnimationFrame(() => this.render());
    this.dirty.add(this.text);
  }

  /** Renders the Markdown that changed since the last frame (once per frame, however many deltas). */
  render() {
    for (const part of this.dirty) renderMarkdown(part.element, part.source);
    this.dirty.clear();
  }

  appendReasoning(delta) {
    if (!this.reasoning) {
      const content = el("div", { class: "reasoning-text" });
      const summary = el("summary", { text: "Thinking…" });
      const details = el("details", { class: "reasoning", testid: "reasoning", open: "" }, summary, content);
      this.body.append(details);
      this.reasoning = { details, summary, content };
    }
    this.reasoning.content.textContent += delta;
  }

  closeReasoning() {
    if (!this.reasoning) return;
    this.reasoning.summary.textContent = "Reasoning";
    this.reasoning.details.open = false;
    this.reasoning = null;
  }

  toolBlock(data, testid) {
    const status = el("span", { class: "status", role: "status" });
    const header = el("summary", {}, el("span", { class: "tool-name", text: data.name }), status);
    const block = el("details", { class: "block", testid, open: "" }, header, argsView(data.name, data.args));
    this.body.append(block);
    return { block, status };
  }

  setStatus(parts, state, label) {
    parts.block.dataset.status = state;
    parts.status.textContent = label;
    parts.status.className = `status ${state}`;
  }

  addApproval(data) {
    const parts = this.toolBlock(data, "approval-block");
    parts.block.classList.add("approval");
    parts.block.dataset.requestId = data.requestId;
    const risk = el("span", { class: `risk ${String(data.riskLevel).toLowerCase()}`, text: data.riskLevel });
    parts.block.querySelector("summary").insertBefore(risk, parts.status);
    const reason = el("input", {
      type: "text",
      class: "deny-reason",
      testid: "deny-reason",
      placeholder: "Reason (optional)",
      "aria-label": "Reason for denying",
    });
    const approve = el("button", { type: "button", class: "primary", testid: "approve", text: "Approve" });
    const deny = el("button", { type: "button", class: "danger", testid: "deny", text: "Deny" });
    const actions = el("div", { class: "approval-actions" }, approve, deny, reason);
    parts.block.append(actions);
    const decide = async (approved) => {
      approve.disabled = deny.disabled = reason.disabled = true;
      this.setStatus(parts, "running", approved ? "Approving…" : "Denying…");
      try {
        await this.hooks.decide(data.requestId, approved, reason.value.trim());
      } catch (err) {
        if (this.approvals.get(data.id) !== parts) return; // settled by the run meanwhile
        approve.disabled = deny.disabled = reason.disabled = false;
        this.setStatus(parts, "pending", "Waiting for approval");
        return;
      }
      // the run's next event (tool_call, or the denial's tool_result) may have settled it already
      if (this.approvals.get(data.id) === parts) {
        this.setStatus(parts, approved ? "running" : "error", approved ? "Approved, running…" : "Denied");
      }
    };
    approve.addEventListener("click", () => decide(true));
    deny.addEventListener("click", () => decide(false));
    reason.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        deny.click();
      }
    });
    Object.assign(parts, { actions });
    this.approvals.set(data.id, parts);
    this.setStatus(parts, "pending", "Waiting for approval");
  }

  settleApproval(id, state, label) {
    const parts = this.approvals.get(id);
    if (!parts) return;
    parts.actions.remove();
    this.setStatus(parts, state, label);
    parts.block.open = false;
    this.approvals.delete(id);
  }

  addTool(data) {
    this.settleApproval(data.id, "done", "Approved");
    const parts = this.toolBlock(data, "tool-block");
    this.setStatus(parts, "running", "Running…");
    this.tools.set(data.id, parts);
  }

  addResult(data) {
    let parts = this.tools.get(data.id);
    if (!parts) {
      // no tool_call came: a denied, timed-out or refused call; its result says why
      const denied = this.approvals.has(data.id);
      this.settleApproval(data.id, "error", /not approved in time/.test(data.output) ? "Timed out" : "Denied");
      if (denied) {
        this.addNote(data.output);
        return;
      }
      parts = this.toolBlock(data, "tool-block");
    }
    this.setStatus(parts, data.isError ? "error" : "done", data.isError ? "Error" : "Done");
    parts.block.append(resultView(data.output ?? "", Boolean(data.isError)));
    this.tools.delete(data.id);
  }

  addNote(text) {
    this.body.append(el("p", { class: "muted note", text }));
  }

  addError(message) {
    this.body.append(el("div", { class: "run-error", role: "alert", testid: "run-error", text: message }));
  }

  addUsage(data) {
    this.usage = data;
  }

  /** The run is over: final status from the run record when known ({status, started, ended}). */
  finish(run) {
    this.render();
    this.message.classList.remove("streaming");
    this.message.removeAttribute("aria-busy");
    for (const id of [...this.approvals.keys()]) this.settleApproval(id, "error", "Expired");
    for (const parts of this.tools.values()) this.setStatus(parts, "error", "Interrupted");
    this.tools.clear();
    const status = run?.status;
    if (status === "stopped") this.addNote("Stopped.");
    if (status === "interrupted") this.addNote("Interrupted (the engine stopped during this run).");
    const items = [];
    const usage = this.usage;
    if (usage) {
      items.push(`↑ ${formatTokens(usage.accumulatedPromptTokens)} tokens in`);
      items.push(`↓ ${formatTokens(usage.accumulatedCompletionTokens)} out`);
      items.push(`${usage.steps} step${usage.steps === 1 ? "" : "s"}`);
    }
    const started = run?.started ? Date.parse(run.started) : NaN;
    const ended = run?.ended ? Date.parse(run.ended) : NaN;
    const elapsed = Number.isFinite(started) && Number.isFinite(ended) ? ended - started : performance.now() - this.started;
    items.push(formatSeconds(Math.max(0, elapsed)));
    if (run?.model) items.push(run.model);
    this.message.append(el("footer", { class: "usage", testid: "usage-footer", text: items.join(" · ") }));
  }

  /** Shown when following the run failed for good. */
  fail(message) {
    this.render();
    this.message.classList.remove("streaming");
    this.message.removeAttribute("aria-busy");
    this.addError(message);
  }
}
