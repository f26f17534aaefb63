// Admin pages: the "Copy" button beside a one-time secret. The secret is already in the page
// (rendered once by the server); this only copies it, and never stores it anywhere.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = document.querySelector(button.dataset.copy);
      if (!field) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
      } catch {
        // no clipboard permission (plain HTTP): the text is selected for Ctrl+C instead
        button.textContent = "Press Ctrl+C";
      }
    });
  }
});
