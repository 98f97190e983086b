// Progressive enhancement only: every link and form below works without this file.
// - Links with data-dialog open their <dialog> in place instead of reloading the page.
// - Dialogs the server rendered open (after a validation error) become modal.
// - The customer search updates the list as you type.
// - The pay page turns to "paid" by itself (see the end).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const dialog of document.querySelectorAll("dialog[open]")) {
    dialog.close();
    dialog.showModal();
  }
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("a[data-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialog);
      if (dialog && typeof dialog.showModal === "function") {
        event.preventDefault();
        dialog.showModal();
        const first = dialog.querySelector("input:not([type=hidden]), select, textarea, button");
        if (first) first.focus();
      }
      return;
    }
    const closer = event.target.closest("[data-close]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) {
        event.preventDefault();
        dialog.close();
      }
    }
  });
  const search = document.querySelector("input[data-live-search]");
  const listId = search ? search.dataset.liveSearch : "";
  if (search && document.getElementById(listId)) {
    let timer = 0;
    let controller = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const form = search.form;
        const url = new URL(form.action, location.href);
        for (const [key, value] of new FormData(form)) {
          if (value) url.searchParams.set(key, value);
        }
        if (controller) controller.abort();
        controller = new AbortController();
        document.getElementById(listId).setAttribute("aria-busy", "true");
        try {
          const response = await fetch(url, { signal: controller.signal, credentials: "same-origin" });
          if (!response.ok) return;
          const page = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = page.getElementById(listId);
          if (fresh) document.getElementById(listId).replaceWith(fresh);
          history.replaceState(null, "", url);
        } catch (_) {
          // Aborted by a newer keystroke, or offline: the form still works by submitting it.
        } finally {
          const current = document.getElementById(listId);
          if (current) current.removeAttribute("aria-busy");
        }
      }, 250);
    });
  }
});
// The pay page while a QR is shown: ask the payment link's JSON every few seconds and show
// "paid" once the payment has landed (the page without this file shows it on reload).
document.addEventListener("DOMContentLoaded", () => {
  const page = document.querySelector("[data-pay-poll]");
  if (!page) return;
  const poll = async () => {
    try {
      const res = await fetch(page.dataset.payPoll, { headers: { Accept: "application/json" } });
      if (res.ok && (await res.json()).paid) {
        page.querySelector("[data-pay-paid]").hidden = false;
        const open = page.querySelector("[data-pay-open]");
        if (open) open.hidden = true;
        return;
      }
    } catch (_) {
      // A failed poll (offline for a moment) is simply tried again.
    }
    setTimeout(poll, 3000);
  };
  setTimeout(poll, 3000);
});
