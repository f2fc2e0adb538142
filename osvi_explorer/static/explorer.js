// Live numbers: when a new warehouse publication lands, the open page fetches itself again and
// swaps its content in place (no reload, the scroll position kept). Without JavaScript the
// page is the same, current as of its loading.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var current = document.body.getAttribute("data-publication") || "";
  var busy = false;

  function refresh() {
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) { main.innerHTML = fresh.innerHTML; }
        current = page.body.getAttribute("data-publication") || current;
        document.body.setAttribute("data-publication", current);
        var live = document.getElementById("live");
        if (live) {
          live.textContent = "Updated " + new Date().toLocaleTimeString() + " from a new publication.";
          live.className = "updated";
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { busy = false; });
  }

  function poll() {
    if (busy || document.hidden) { return; }
    fetch("/publication", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && answer.publication && answer.publication !== current) { refresh(); }
      })
      .catch(function () { /* offline for a moment: keep polling */ });
  }

  window.setInterval(poll, POLL_MS);
})();
