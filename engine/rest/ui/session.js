// The REST session questions are asked in: one for the conversation shown, opened when first
// needed (with the conversation id config, so the engine continues that conversation and its
// memory), replaced when another conversation is shown. A session whose run may still go on is
// left open, since closing a session stops its run.

import { ApiError } from "./api.js";

export class AgentSession {
  constructor(api) {
    this.api = api;
    this.current = null; // {id, conversationId, busy}
  }

  /** Forget the session (signed out: the engine closes it with the login). */
  reset() {
    this.current = null;
  }

  /** The session for `conversationId` (null: a new conversation). */
  async ensure(conversationId) {
    if (this.current && this.current.conversationId === conversationId) return this.current;
    const old = this.current;
    this.current = null;
    if (old && !old.busy) this.api.closeSession(old.id).catch(() => {});
    const id = await this.api.openSession(conversationId);
    this.current = { id, conversationId, busy: false };
    return this.current;
  }

  /** The first question of a new conversation started `conversationId`: the session continues it. */
  adopt(conversationId) {
    if (this.current && this.current.conversationId === null) this.current.conversationId = conversationId;
  }

  /**
   * Asks `request` in the conversation's session and follows the run with `stream`; a session the
   * engine no longer knows (closed, engine restarted) is opened again, once. Resolves as
   * RunStream.chat does (true: the run ended).
   */
  async chat(stream, conversationId, request) {
    let session = await this.ensure(conversationId);
    try {
      session.busy = true;
      return await stream.chat(session.id, request).catch(async (err) => {
        if (!(err instanceof ApiError) || err.status !== 404 || stream.runId) throw err;
        this.current = null;
        session = await this.ensure(conversationId);
        session.busy = true;
        return stream.chat(session.id, request);
      });
    } finally {
      session.busy = Boolean(stream.runId) && !stream.ended;
    }
  }

  /** Approves or denies a parked call (any session of the user's may decide it). */
  async decide(conversationId, requestId, approved, reason) {
    const session = await this.ensure(conversationId);
    const reply = await this.api.approve(session.id, requestId, approved, reason);
    if (reply && reply.status === "not_found") throw new Error("That call is no longer waiting for a decision.");
  }
}
