// The conversation list: open, rename (inline), delete (asks once more, inline: no dialogs).

function title(conversation) {
  return conversation.title || "Untitled conversation";
}

export class ConversationList {
  /**
   * @param {HTMLUListElement} list
   * @param {import("./api.js").Api} api
   * @param {{open: (id: string) => void, deleted: (id: string) => void, error: (err: Error) => void}} hooks
   */
  constructor(list, api, hooks) {
    this.list = list;
    this.api = api;
    this.hooks = hooks;
    this.items = [];
    this.activeId = null;
  }

  async refresh() {
    try {
      this.items = await this.api.conversations();
    } catch (err) {
      this.hooks.error(err);
      return;
    }
    this.items.sort((a, b) => String(b.updated ?? "").localeCompare(String(a.updated ?? "")));
    this.render();
  }

  setActive(id) {
    this.activeId = id;
    for (const li of this.list.children) {
      const current = li.dataset.id === id;
      li.classList.toggle("active", current);
      li.querySelector(".conversation-open")?.setAttribute("aria-current", current ? "page" : "false");
    }
  }

  render() {
    this.list.replaceChildren(...this.items.map((conversation) => this.item(conversation)));
    if (!this.items.length) {
      const empty = document.createElement("li");
      empty.className = "muted empty";
      empty.textContent = "No conversations yet.";
      this.list.append(empty);
    }
    this.setActive(this.activeId);
  }

  item(conversation) {
    const li = document.createElement("li");
    li.dataset.id = conversation.conversationId;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "conversation-open";
    open.dataset.testid = "conversation-item";
    open.textContent = title(conversation);
    open.title = title(conversation);
    open.addEventListener("click", () => this.hooks.open(conversation.conversationId));
    const rename = document.createElement("button");
    rename.type = "button";
    rename.className = "icon-button small";
    rename.dataset.testid = "rename-conversation";
    rename.setAttribute("aria-label", `Rename ${title(conversation)}`);
    rename.textContent = "✎";
    rename.addEventListener("click", () => this.startRename(li, conversation));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon-button small";
    remove.dataset.testid = "delete-conversation";
    remove.setAttribute("aria-label", `Delete ${title(conversation)}`);
    remove.textContent = "✕";
    remove.addEventListener("click", () => this.confirmDelete(remove, conversation));
    li.append(open, rename, remove);
    return li;
  }

  startRename(li, conversation) {
    const input = document.createElement("input");
    input.type = "text";
    input.value = conversation.title || "";
    input.maxLength = 200;
    input.dataset.testid = "rename-input";
    input.setAttribute("aria-label", "New title (Enter saves, Escape cancels)");
    li.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const value = input.value.trim();
      if (save && value && value !== conversation.title) {
        try {
          await this.api.renameConversation(conversation.conversationId, value);
          conversation.title = value;
        } catch (err) {
          this.hooks.error(err);
        }
      }
      this.render();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      else if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }

  confirmDelete(button, conversation) {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = "Delete?";
      button.classList.add("danger");
      setTimeout(() => {
        if (button.isConnected) {
          button.dataset.armed = "";
          button.textContent = "✕";
          button.classList.remove("danger");
        }
      }, 4000);
      return;
    }
    this.api
      .deleteConversation(conversation.conversationId)
      .then(() => {
        this.items = this.items.filter((item) => item.conversationId !== conversation.conversationId);
        this.render();
        this.hooks.deleted(conversation.conversationId);
      })
      .catch((err) => this.hooks.error(err));
  }
}
