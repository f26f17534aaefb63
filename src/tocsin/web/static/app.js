// Tocsin console: the little behaviour the server-rendered pages need. No inline script is
// allowed (Content-Security-Policy), so pages mark elements with data- attributes and this
// file wires them up. Data from the server is inserted as text, or as HTML the server
// rendered with escaping, never built from strings here.
"use strict";

const Tocsin = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (response.status === 401) {
      location.href = "/login?expired=1&next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("signed out");
    }
    return response;
  }

  function formatDuration(seconds) {
    const s = Math.abs(seconds);
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 86400) {
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      return m ? `${h} h ${m} min` : `${h} h`;
    }
    return (s / 86400).toFixed(1) + " d";
  }

  // SLA countdowns: every second, from the due time the server gave.
  function tickSla() {
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-sla-due]")) {
      const due = el.dataset.slaDue;
      if (!due) continue;
      const left = (Date.parse(due) - now) / 1000;
      const text = el.querySelector(".sla-left");
      if (!text) continue;
      if (left < 0) {
        text.textContent = "breached " + formatDuration(left) + " ago";
        el.classList.remove("sla-ok", "sla-at_risk");
        el.classList.add("sla-breached");
      } else {
        text.textContent = formatDuration(left) + " left";
      }
    }
  }

  // Relative times ("3 min ago") stay true while the page is open.
  function tickTimes() {
    const now = Date.now();
    for (const el of document.querySelectorAll("time[datetime][data-ago], td time[datetime]")) {
      const at = Date.parse(el.getAttribute("datetime"));
      if (Number.isNaN(at)) continue;
      const delta = (now - at) / 1000;
      el.textContent = delta < 0 ? "in " + formatDuration(delta) : formatDuration(delta) + " ago";
    }
  }

  // Row navigation in tables marked data-nav-rows: j/k, x, Enter/o.
  let focused = -1;
  function rows() {
    const table = document.querySelector("[data-nav-rows]");
    return table ? Array.from(table.querySelectorAll("tbody tr[data-href]")) : [];
  }
  function focusRow(index) {
    const all = rows();
    if (!all.length) return;
    focused = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((r, i) => r.classList.toggle("focused", i === focused));
    all[focused].scrollIntoView({ block: "nearest" });
    const link = all[focused].querySelector("a");
    if (link) link.focus({ preventScroll: true });
  }
  function currentRow() {
    const all = rows();
    return focused >= 0 && focused < all.length ? all[focused] : null;
  }

  let pendingG = 0;
  const goTo = { o: "/", a: "/alerts", c: "/cases", s: "/search", r: "/rules", m: "/metrics" };

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target.closest && target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const key = event.key;
    if (pendingG && Date.now() - pendingG < 1200 && goTo[key]) {
      pendingG = 0;
      location.href = goTo[key];
      return;
    }
    pendingG = 0;
    if (key === "g") { pendingG = Date.now(); return; }
    if (key === "?") { document.getElementById("help-dialog")?.showModal(); return; }
    if (key === "/") {
      const box = document.querySelector("[data-focus-key]");
      if (box) { event.preventDefault(); box.focus(); box.select?.(); }
      return;
    }
    if (key === "j") { focusRow(focused + 1); return; }
    if (key === "k") { focusRow(focused - 1); return; }
    if (key === "x") {
      const box = currentRow()?.querySelector('input[type="checkbox"]');
      if (box) { box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); }
      return;
    }
    if (key === "Enter" || key === "o") {
      const row = currentRow();
      if (row) location.href = row.dataset.href;
      return;
    }
    const button = document.querySelector(`[data-shortcut="${CSS.escape(key)}"]`);
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  }

  // "Select all" boxes and bulk buttons that need a selection.
  function wireSelection() {
    for (const all of document.querySelectorAll("[data-select-all]")) {
      all.addEventListener("change", () => {
        for (const box of document.querySelectorAll(all.dataset.selectAll)) box.checked = all.checked;
        updateSelection();
      });
    }
    document.addEventListener("change", (e) => {
      if (e.target.matches?.("input[data-selectable]")) updateSelection();
    });
    updateSelection();
  }
  function updateSelection() {
    const chosen = document.querySelectorAll("input[data-selectable]:checked").length;
    for (const el of document.querySelectorAll("[data-needs-selection]")) el.disabled = chosen === 0;
    for (const el of document.querySelectorAll("[data-selection-count]")) el.textContent = String(chosen);
  }

  // Forms that ask before they act.
  function wireConfirm() {
    document.addEventListener("submit", (e) => {
      const form = e.target;
      const question = e.submitter?.dataset.confirm || form.dataset.confirm;
      if (question && !window.confirm(question)) e.preventDefault();
    });
  }

  // Live tables: poll a URL for rows newer than the newest shown; the server renders them.
  function wireLive() {
    const body = document.querySelector("[data-live-url]");
    if (!body) return;
    const note = document.querySelector("[data-live-note]");
    let after = body.dataset.liveAfter || "0";
    let busy = false;
    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const url = body.dataset.liveUrl + (body.dataset.liveUrl.includes("?") ? "&" : "?") + "after=" + encodeURIComponent(after);
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.status === 401 || response.redirected) { location.reload(); return; }
        if (!response.ok) return;
        const newest = response.headers.get("X-Tocsin-Newest");
        const html = await response.text();
        if (newest) after = newest;
        if (html.trim()) {
          const template = document.createElement("template");
          template.innerHTML = html;  // rendered and escaped by the server
          const added = Array.from(template.content.querySelectorAll("tr"));
          if (body.dataset.liveMode === "insert") {
            for (const row of added.reverse()) { row.classList.add("fresh"); body.prepend(row); }
            body.querySelector("tr.empty")?.remove();
            tickSla(); tickTimes();
          }
          if (note) {
            const count = Number(note.dataset.count || 0) + added.length;
            note.dataset.count = String(count);
            note.querySelector("[data-live-count]").textContent = String(count);
            note.hidden = false;
          }
        }
      } finally { busy = false; }
    }
    setInterval(poll, Number(body.dataset.liveSeconds || 5) * 1000);
  }

  function wireHelp() {
    for (const b of document.querySelectorAll('[data-action="help"]')) {
      b.addEventListener("click", () => document.getElementById("help-dialog")?.showModal());
    }
  }

  function start() {
    document.addEventListener("keydown", onKey);
    wireSelection();
    wireConfirm();
    wireLive();
    wireHelp();
    tickSla();
    setInterval(tickSla, 1000);
    setInterval(tickTimes, 30000);
  }

  return { api, csrf, start, tickSla, tickTimes, formatDuration };
})();

document.addEventListener("DOMContentLoaded", Tocsin.start);
