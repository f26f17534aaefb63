// The search screen's behaviour (no inline script: Content-Security-Policy). The server renders
// every piece of HTML this file inserts (escaped there); text from the user or from JSON is set
// with textContent only.
"use strict";

(() => {
  // The count and the histogram come after the first page: fetch each fragment and insert it.
  async function loadFragments() {
    for (const box of document.querySelectorAll("[data-fragment-url]")) {
      try {
        const response = await fetch(box.dataset.fragmentUrl, {
          credentials: "same-origin",
          headers: { Accept: "text/html" },
        });
        if (response.redirected || response.status === 401) {
          box.textContent = "(signed out: reload the page)";
          continue;
        }
        if (!response.ok) {
          box.textContent = "(could not load: " + response.status + ")";
          continue;
        }
        const template = document.createElement("template");
        template.innerHTML = await response.text();  // rendered and escaped by the server
        box.replaceChildren(template.content);
      } catch (error) {
        box.textContent = "(could not load)";
      }
    }
  }

  // The query is checked as the user types (debounced): the message and a caret under the column.
  function wireQueryCheck() {
    const input = document.querySelector("[data-query-check]");
    const out = document.querySelector("[data-query-error]");
    if (!input || !out) return;
    let timer = 0;
    let asked = 0;
    function show(result) {
      if (result.ok) { out.replaceChildren(); input.removeAttribute("aria-invalid"); return; }
      const box = document.createElement("div");
      box.className = "error query-error";
      const line = document.createElement("p");
      const strong = document.createElement("strong");
      strong.textContent = "Syntax error at column " + result.column + ": ";
      const message = document.createElement("span");
      message.textContent = result.message;
      line.append(strong, message);
      const pre = document.createElement("pre");
      pre.className = "caret";
      pre.setAttribute("aria-hidden", "true");
      const mark = document.createElement("span");
      mark.className = "caret-mark";
      mark.textContent = result.caret;
      pre.append(document.createTextNode(result.query + "\n"), mark);
      box.append(line, pre);
      out.replaceChildren(box);
      input.setAttribute("aria-invalid", "true");
    }
    async function check() {
      const ticket = ++asked;
      try {
        const url = input.dataset.queryCheck + "?q=" + encodeURIComponent(input.value);
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok || response.redirected) return;
        const result = await response.json();
        if (ticket === asked) show(result);
      } catch (error) { /* the server checks again on submit */ }
    }
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(check, 300);
    });
  }

  // A preset range and absolute times exclude each other.
  function wireRanges() {
    const presets = document.querySelectorAll("[data-range-preset]");
    const absolute = document.querySelectorAll("[data-range-absolute]");
    for (const radio of presets) {
      radio.addEventListener("change", () => { for (const box of absolute) box.value = ""; });
    }
    for (const box of absolute) {
      box.addEventListener("input", () => {
        if (!box.value) return;
        for (const radio of presets) radio.checked = false;
      });
    }
  }

  // The column chooser's boxes become one cols=a,b parameter, so the URL stays short.
  function wireColumns() {
    const formEl = document.querySelector("[data-search-form]");
    if (!formEl) return;
    formEl.addEventListener("submit", () => {
      const chooser = formEl.querySelector("[data-column-chooser]");
      const cols = formEl.querySelector("[data-cols]");
      if (!chooser || !cols) return;
      const chosen = [];
      for (const input of chooser.querySelectorAll('input[name="col"]')) {
        const value = input.type === "checkbox" ? (input.checked ? input.value : "") : input.value.trim();
        if (value && !chosen.includes(value)) chosen.push(value);
        input.disabled = true;  // not sent: cols carries them
      }
      cols.value = chosen.join(",");
      if (!cols.value) cols.disabled = true;  // none chosen: the default columns
      for (const box of formEl.querySelectorAll("[data-range-absolute]")) {
        if (!box.value) box.disabled = true;
      }
    });
  }

  // Rows open to all of their fields: the button, or Enter/o on the row focused with j/k.
  function toggle(button) {
    const detail = document.getElementById(button.getAttribute("aria-controls"));
    if (!detail) return;
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    detail.hidden = !open;
    button.closest("tr")?.classList.toggle("open", open);
  }
  function wireRows() {
    document.addEventListener("click", (event) => {
      const button = event.target.closest?.("[data-expand]");
      if (button) { toggle(button); return; }
      // a click on a row's cells (not on a link or a selection of text) opens it too
      const row = event.target.closest?.("tr.hit");
      if (row && !event.target.closest("a, button, input") && !String(window.getSelection() || "")) {
        const rowButton = row.querySelector("[data-expand]");
        if (rowButton) toggle(rowButton);
      }
    });
    // capture phase: before app.js would follow the row's link
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== "o") return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      // typing, or a focused button or link: their own Enter does the job
      if (target.closest && target.closest("input, textarea, select, [contenteditable], button, a")) return;
      const row = document.querySelector("table.results tr.hit.focused");
      if (!row) return;
      const button = row.querySelector("[data-expand]");
      if (!button) return;
      event.preventDefault();
      toggle(button);
    }, true);
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireQueryCheck();
    wireRanges();
    wireColumns();
    wireRows();
    loadFragments();
  });
})();
