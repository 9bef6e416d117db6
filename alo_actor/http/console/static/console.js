// The console's live updates: follow the changes feed named by <main data-changes>
// and refresh the page's live part (#live, or #detail) when the log moves.
// EventSource reconnects by itself, resuming after the last event it saw.
(function () {
  "use strict";
  const main = document.getElementById("main");
  const feed = main && main.dataset.changes;
  if (!feed || !window.EventSource) {
    return;
  }
  const region = document.getElementById("live") ? "#live" : "#detail";
  const state = document.getElementById("live-state");
  const source = new EventSource(feed);
  let changed = new Set();
  let timer = null;
  let busy = false;

  function show(text, ok) {
    state.hidden = false;
    state.textContent = text;
    state.classList.toggle("down", !ok);
  }

  function refresh() {
    timer = null;
    if (busy) {
      // One refresh at a time; the changes that came meanwhile get the next one.
      timer = setTimeout(refresh, 100);
      return;
    }
    const ids = changed;
    changed = new Set();
    busy = true;
    htmx
      .ajax("GET", window.location.href, { target: region, select: region, swap: "outerHTML" })
      .then(function () {
        for (const row of document.querySelectorAll("tr[data-id]")) {
          if (ids.has(row.dataset.id)) {
            row.classList.add("changed");
          }
        }
      })
      .finally(function () {
        busy = false;
      });
  }

  source.addEventListener("open", function () {
    show("live", true);
  });
  source.addEventListener("error", function () {
    show(source.readyState === EventSource.CLOSED ? "offline" : "reconnecting", false);
  });
  source.addEventListener("change", function (event) {
    changed.add(JSON.parse(event.data).id);
    if (timer === null) {
      // Coalesce a burst of changes into one refresh.
      timer = setTimeout(refresh, 150);
    }
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
