// The schema browser: the datasource's tables (loaded when the panel is first opened), a filter,
// and a table's columns on click. "Ask" puts a question about the table into the composer.

export class SchemaBrowser {
  /**
   * @param {{panel: HTMLDetailsElement, list: HTMLUListElement, filter: HTMLInputElement}} parts
   * @param {import("./api.js").Api} api
   * @param {{ask: (text: string) => void, error: (err: Error) => void}} hooks
   */
  constructor(parts, api, hooks) {
    Object.assign(this, parts);
    this.api = api;
    this.hooks = hooks;
    this.tables = null;
    this.panel.addEventListener("toggle", () => {
      if (this.panel.open && this.tables === null) this.load();
    });
    this.filter.addEventListener("input", () => this.render());
  }

  async load() {
    this.tables = [];
    try {
      this.tables = await this.api.tables();
    } catch (err) {
      this.tables = null;
      this.hooks.error(err);
      return;
    }
    this.render();
  }

  reset() {
    this.tables = null;
    this.list.replaceChildren();
    if (this.panel.open) this.load();
  }

  render() {
    const needle = this.filter.value.trim().toLowerCase();
    const shown = (this.tables || []).filter((t) => `${t.schema}.${t.table}`.toLowerCase().includes(needle));
    this.list.replaceChildren(...shown.map((table) => this.item(table)));
    if (!shown.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = this.tables && this.tables.length ? "No table matches." : "No tables.";
      this.list.append(li);
    }
  }

  item(table) {
    const li = document.createElement("li");
    const name = table.schema ? `${table.schema}.${table.table}` : table.table;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "schema-table";
    button.dataset.testid = "schema-table";
    button.setAttribute("aria-expanded", "false");
    button.textContent = name;
    if (table.type && table.type.toUpperCase() !== "TABLE") {
      const kind = document.createElement("span");
      kind.className = "muted kind";
      kind.textContent = ` ${table.type.toLowerCase()}`;
      button.append(kind);
    }
    const columns = document.createElement("ul");
    columns.className = "schema-columns";
    columns.hidden = true;
    button.addEventListener("click", async () => {
      const open = columns.hidden;
      columns.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open && !columns.childElementCount) await this.columns(table, columns, name);
    });
    li.append(button, columns);
    return li;
  }

  async columns(table, target, name) {
    let detail;
    try {
      detail = await this.api.table(table.schema, table.table);
    } catch (err) {
      this.hooks.error(err);
      return;
    }
    for (const column of detail.columns || []) {
      const li = document.createElement("li");
      li.dataset.testid = "schema-column";
      const label = document.createElement("span");
      label.textContent = column.name;
      const type = document.createElement("span");
      type.className = "muted";
      type.textContent = ` ${column.type}${column.nullable === false ? " not null" : ""}`;
      li.append(label, type);
      target.append(li);
    }
    const ask = document.createElement("button");
    ask.type = "button";
    ask.className = "link";
    ask.textContent = `Ask about ${name}`;
    ask.addEventListener("click", () => this.hooks.ask(`What is in ${name}? `));
    const li = document.createElement("li");
    li.append(ask);
    target.append(li);
  }
}
