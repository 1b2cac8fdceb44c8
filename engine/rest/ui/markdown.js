// Markdown to safe HTML (marked, then DOMPurify) and SQL/JSON highlighting (highlight.js).

import { Marked } from "marked";
import DOMPurify from "dompurify";
import hljs from "highlight.js/core";
import sql from "highlight.js/sql";
import json from "highlight.js/json";

hljs.registerLanguage("sql", sql);
hljs.registerLanguage("json", json);

const marked = new Marked({ gfm: true, breaks: false });

// Links the model writes open in a new tab and never get the opener.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

/** Sanitized HTML for Markdown text (safe for innerHTML). */
export function markdownHtml(text) {
  return DOMPurify.sanitize(marked.parse(text || ""), { USE_PROFILES: { html: true } });
}

/** Renders Markdown into `element`, highlighting its code blocks. */
export function renderMarkdown(element, text) {
  element.innerHTML = markdownHtml(text);
  for (const code of element.querySelectorAll("pre code")) {
    const language = /language-(\w+)/.exec(code.className)?.[1];
    if (language && hljs.getLanguage(language)) {
      code.innerHTML = hljs.highlight(code.textContent, { language }).value;
      code.classList.add("hljs");
    }
  }
}

/** A <pre><code> block of highlighted code (`language`: sql or json). */
export function codeBlock(text, language) {
  const pre = document.createElement("pre");
  const code = document.createElement("code");
  code.className = `hljs language-${language}`;
  code.innerHTML = hljs.highlight(text, { language, ignoreIllegals: true }).value;
  pre.append(code);
  return pre;
}
