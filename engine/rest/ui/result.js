// A tool's output shown as a table when it holds one (the engine renders query results as a
// Markdown table, `|` escaped as `\|`, NULL as NULL), with Table / Bar / Line views when the
// table has two or more rows and a numeric column.

import { drawChart } from "./plot.js";

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function cells(line) {
  const body = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  const out = [];
  let current = "";
  for (let i = 0; i < body.length; i += 1) {
    const ch = body[i];
    if (ch === "\\" && i + 1 < body.length) {
      const next = body[i + 1];
      current += next === "|" ? "|" : next === "n" ? "\n" : next === "r" ? "\r" : ch + next;
      i += 1;
    } else if (ch === "|") {
      out.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current.trim());
  return out;
}

/** The first Markdown table in `text`: {columns, rows, before, after} or null. */
export function parseTable(text) {
  const lines = (text || "").split("\n");
  for (let i = 0; i + 1 < lines.length; i += 1) {
    if (!lines[i].trim().startsWith("|") || !/^\s*\|?\s*:?-{3,}/.test(lines[i + 1])) continue;
    const columns = cells(lines[i]);
    const rows = [];
    let j = i + 2;
    for (; j < lines.length && lines[j].trim().startsWith("|"); j += 1) {
      const row = cells(lines[j]).map((value) => (value === "NULL" ? null : value));
      rows.push(row);
    }
    return {
      columns,
      rows,
      before: lines.slice(0, i).join("\n").trim(),
      after: lines.slice(j).join("\n").trim(),
    };
  }
  return null;
}

/** Indexes of the columns whose every non-null value is a number (and at least one is). */
export function numericColumns(table) {
  return table.columns
    .map((_, index) => index)
    .filter((index) => {
      const values = table.rows.map((row) => row[index]).filter((v) => v !== null && v !== undefined);
      return values.length > 0 && values.every((v) => NUMBER.test(v));
    });
}

function tableElement(table, numeric) {
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  const element = document.createElement("table");
  element.className = "result-table";
  const head = element.createTHead().insertRow();
  for (const name of table.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  const body = element.createTBody();
  for (const row of table.rows) {
    const tr = body.insertRow();
    row.forEach((value, index) => {
      const td = tr.insertCell();
      if (value === null) {
        td.textContent = "NULL";
        td.className = "null";
      } else {
        td.textContent = value;
      }
      if (numeric.includes(index)) td.classList.add("num");
    });
  }
  wrap.append(element);
  return wrap;
}

function note(text) {
  const p = document.createElement("p");
  p.className = "muted result-note";
  p.textContent = text;
  return p;
}

/** The view of one tool output: a table (with chart views when it can have them) or text. */
export function resultView(output, isError) {
  const box = document.createElement("div");
  box.className = "result";
  const table = isError ? null : parseTable(output);
  if (!table) {
    const pre = document.createElement("pre");
    pre.className = isError ? "output error-text" : "output";
    pre.textContent = output;
    box.append(pre);
    return box;
  }
  if (table.before) box.append(note(table.before));
  const numeric = numericColumns(table);
  const grid = tableElement(table, numeric);
  if (table.rows.length >= 2 && numeric.length > 0) {
    const views = document.createElement("div");
    views.className = "view-switch";
    views.setAttribute("role", "group");
    views.setAttribute("aria-label", "Show the result as");
    const canvasBox = document.createElement("div");
    canvasBox.className = "chart-box";
    canvasBox.dataset.testid = "chart";
    canvasBox.hidden = true;
    let chart = null;
    const buttons = ["table", "bar", "line"].map((kind) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = kind[0].toUpperCase() + kind.slice(1);
      button.dataset.testid = `view-${kind}`;
      button.setAttribute("aria-pressed", String(kind === "table"));
      button.addEventListener("click", async () => {
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
        grid.hidden = kind !== "table";
        canvasBox.hidden = kind === "table";
        chart?.destroy();
        chart = null;
        if (kind !== "table") chart = await drawChart(canvasBox, kind, table, numeric);
      });
      views.append(button);
      return button;
    });
    box.append(views, grid, canvasBox);
  } else {
    box.append(grid);
  }
  if (table.after) box.append(note(table.after));
  return box;
}
