// The web UI's controller: sign-in, the pickers, the conversation being shown, sending a
// question, Stop, approvals, and reattaching to a run that was going on when the page reloaded.

import { Api, ApiError, listOf } from "./api.js";
import { TurnView } from "./chat.js";
import { ConversationList } from "./conversations.js";
import { SchemaBrowser } from "./schema.js";
import { AgentSession } from "./session.js";
import { RunStream } from "./stream.js";

const $ = (id) => document.getElementById(id);
const RUN_KEY = "data-agent.run"; // sessionStorage: the run this tab is following
const THEME_KEY = "data-agent.theme";

class Banner {
  constructor(element) {
    this.element = element;
    element.querySelector(".banner-close").addEventListener("click", () => this.hide());
  }
  show(message) {
    this.element.querySelector(".banner-text").textContent = message;
    this.element.hidden = false;
  }
  hide() {
    this.element.hidden = true;
  }
}

function conversationFromHash() {
  return new URLSearchParams(location.hash.slice(1)).get("conversation");
}

function fillSelect(select, values, chosen) {
  const options = [...new Set([chosen, ...(values || [])].filter(Boolean))];
  select.replaceChildren(
    ...options.map((value) => {
      const option = document.createElement("option");
      option.value = option.textContent = value;
      return option;
    }),
  );
  if (chosen) select.value = chosen;
  select.disabled = options.length === 0;
}

class App {
  constructor() {
    this.banner = new Banner($("error-banner"));
    this.api = new Api({ onUnauthorized: () => this.showLogin("Your sign-in ended. Sign in again.") });
    this.log = $("chat-log");
    this.emptyState = $("empty-state");
    this.session = new AgentSession(this.api);
    this.conversationId = null; // the conversation shown (null: a new one)
    this.streams = new Set(); // every RunStream reading for the view shown
    this.live = null; // {stream, turn}: the run going on in the view shown
    this.view = 0; // bumped whenever the view changes, so late answers for an old view are dropped
    this.conversations = new ConversationList($("conversations"), this.api, {
      open: (id) => this.openConversation(id),
      deleted: (id) => id === this.conversationId && this.newConversation(),
      error: (err) => this.error(err),
    });
    this.schema = new SchemaBrowser(
      { panel: $("schema"), list: $("schema-tables"), filter: $("schema-filter") },
      this.api,
      { ask: (text) => this.prefill(text), error: (err) => this.error(err) },
    );
  }

  error(err) {
    if (err instanceof ApiError && err.status === 401) return; // the login screen is shown
    this.banner.show(err.message || String(err));
  }

  bind() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.login();
    });
    $("logout").addEventListener("click", () => this.logout());
    $("new-conversation").addEventListener("click", () => this.newConversation());
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    $("question").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    $("stop").addEventListener("click", () => this.stop());
    $("theme").addEventListener("click", () => this.setTheme(this.theme === "dark" ? "light" : "dark"));
    $("toggle-sidebar").addEventListener("click", () => {
      const open = $("sidebar").classList.toggle("open");
      $("toggle-sidebar").setAttribute("aria-expanded", String(open));
    });
    window.addEventListener("hashchange", () => {
      const id = conversationFromHash();
      if (id && id !== this.conversationId) this.openConversation(id);
    });
  }

  setTheme(theme) {
    this.theme = theme;
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  }

  async boot() {
    this.bind();
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    this.setTheme(localStorage.getItem(THEME_KEY) || (dark ? "dark" : "light"));
    let me;
    try {
      me = await this.api.me();
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) this.error(err);
      this.showLogin();
      return;
    }
    this.api.csrfToken = me.csrfToken;
    await this.enter(me.user);
  }

  showLogin(message) {
    this.detach();
    this.session.reset();
    $("app").hidden = true;
    $("login-screen").hidden = false;
    const error = $("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("login-user").focus();
  }

  async login() {
    const user = $("login-user").value.trim();
    const password = $("login-password").value;
    $("login-submit").disabled = true;
    try {
      const me = await this.api.login(user, password);
      $("login-password").value = "";
      await this.enter(me.user);
    } catch (err) {
      const error = $("login-error");
      error.textContent = err.status === 401 ? "Wrong user or password." : err.message;
      error.hidden = false;
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async logout() {
    this.detach();
    try {
      await this.api.logout();
    } catch {
      // signed out locally either way
    }
    sessionStorage.removeItem(RUN_KEY);
    this.showLogin();
  }

  async enter(user) {
    $("login-screen").hidden = true;
    $("app").hidden = false;
    this.setReady(false);
    this.banner.hide();
    $("who").textContent = user;
    try {
      const settings = await this.api.settings();
      fillSelect($("model"), settings.models, settings.model);
      fillSelect($("approval-mode"), settings.approvalModes, settings.approvalMode);
    } catch (err) {
      this.error(err);
    }
    await this.conversations.refresh();
    this.schema.reset();
    const target = (await this.savedRunConversation()) || conversationFromHash();
    if (target) await this.openConversation(target);
    else this.newConversation();
    this.setReady(true);
  }

  /** The composer takes questions once the view is set up (a question asked earlier would be lost). */
  setReady(ready) {
    $("question").disabled = !ready;
    $("send").disabled = !ready || Boolean(this.live);
    document.body.dataset.ready = String(ready);
    if (ready) $("question").focus();
  }

  /** The conversation of the run this tab followed before a reload, if it still runs. */
  async savedRunConversation() {
    let saved;
    try {
      saved = JSON.parse(sessionStorage.getItem(RUN_KEY) || "null");
    } catch {
      saved = null;
    }
    if (!saved || !saved.runId) return null;
    try {
      const run = await this.api.getRun(saved.runId);
      if (run.status === "running") return run.conversationId || saved.conversationId;
    } catch {
      // gone or not ours: forget it
    }
    sessionStorage.removeItem(RUN_KEY);
    return null;
  }

  // --- the view
  detach() {
    this.view += 1;
    for (const stream of this.streams) stream.close();
    this.streams.clear();
    this.setLive(null);
  }

  clearLog(showEmpty) {
    this.emptyState.hidden = !showEmpty;
    this.log.replaceChildren(this.emptyState);
  }

  newConversation() {
    this.detach();
    this.conversationId = null;
    this.clearLog(true);
    history.replaceState(null, "", location.pathname + location.search);
    this.conversations.setActive(null);
    $("sidebar").classList.remove("open");
    $("question").focus();
  }

  async openConversation(id) {
    this.detach();
    const view = this.view;
    this.conversationId = id;
    this.clearLog(false);
    history.replaceState(null, "", `#conversation=${encodeURIComponent(id)}`);
    this.conversations.setActive(id);
    $("sidebar").classList.remove("open");
    let detail;
    try {
      detail = await this.api.conversation(id);
    } catch (err) {
      if (view === this.view) this.error(err);
      return;
    }
    const runs = listOf(detail, "runs").sort((a, b) => String(a.started).localeCompare(String(b.started)));
    for (const run of runs) {
      if (view !== this.view) return;
      const turn = this.turn(run.question || "");
      if (run.status === "running") {
        this.follow(turn, (stream) => stream.attach(run.runId), true); // stays open: it is live
      } else {
        await this.follow(turn, (stream) => stream.attach(run.runId), false, run);
      }
    }
    this.scrollDown(true);
  }

  turn(question) {
    this.emptyState.hidden = true;
    return new TurnView(this.log, question, {
      decide: (requestId, approved, reason) => this.decide(requestId, approved, reason),
    });
  }

  scrollDown(force = false) {
    const log = this.log;
    if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
  }

  setLive(live) {
    this.live = live;
    $("stop").hidden = !live;
    $("stop").disabled = false;
    $("send").disabled = Boolean(live);
    if (!live) $("stream-state").textContent = "";
  }

  /**
   * Reads one run into `turn` until it ends. `live`: the run is going on (Stop applies, its id is
   * remembered across reloads). `known`: the run record, when the caller has it.
   */
  async follow(turn, start, live, known = null) {
    const view = this.view;
    const stream = new RunStream(this.api, {
      onEvent: (type, data) => {
        turn.handle(type, data);
        this.scrollDown();
      },
      onRun: (runId, conversationId) => this.started(runId, conversationId),
      onState: (state, attempt) => {
        if (live && view === this.view) {
          $("stream-state").textContent = state === "reconnecting" ? `Connection lost, reconnecting (attempt ${attempt})…` : "";
        }
      },
    });
    this.streams.add(stream);
    if (live) this.setLive({ stream, turn });
    let ended = false;
    try {
      ended = await start(stream);
      if (ended) {
        let run = known;
        if (!run && stream.runId) run = await this.api.getRun(stream.runId).catch(() => null);
        turn.finish(run);
      }
    } catch (err) {
      turn.fail(err.message || String(err));
      if (live) this.error(err);
    } finally {
      this.streams.delete(stream);
      if (live && this.live?.stream === stream) {
        this.setLive(null);
        if (stream.ended) sessionStorage.removeItem(RUN_KEY);
      }
    }
    this.scrollDown();
    return ended;
  }

  /** agent_start of a question asked here: remember the run, and the conversation it began. */
  started(runId, conversationId) {
    sessionStorage.setItem(RUN_KEY, JSON.stringify({ runId, conversationId }));
    if (!conversationId || this.conversationId) return;
    this.conversationId = conversationId;
    this.session.adopt(conversationId);
    history.replaceState(null, "", `#conversation=${encodeURIComponent(conversationId)}`);
    this.conversations.activeId = conversationId;
    this.conversations.refresh();
  }

  prefill(text) {
    const question = $("question");
    question.value = text;
    question.focus();
  }

  async send() {
    const question = $("question");
    const text = question.value.trim();
    if (!text || this.live) return;
    this.banner.hide();
    question.value = "";
    const request = { text };
    if ($("model").value) request.model = $("model").value;
    if ($("approval-mode").value) request.approvalMode = $("approval-mode").value;
    const turn = this.turn(text);
    this.scrollDown(true);
    const conversationId = this.conversationId;
    await this.follow(turn, (stream) => this.session.chat(stream, conversationId, request), true);
    this.conversations.refresh();
  }

  async stop() {
    const runId = this.live?.stream.runId;
    if (!runId) return;
    $("stop").disabled = true;
    try {
      await this.api.cancelRun(runId);
    } catch (err) {
      $("stop").disabled = false;
      this.error(err);
    }
  }

  async decide(requestId, approved, reason) {
    try {
      await this.session.decide(this.conversationId, requestId, approved, reason);
    } catch (err) {
      this.error(err);
      throw err;
    }
  }
}

new App().boot();
