// Refreshes the status page in place every few seconds. The server
// renders and escapes everything: this script fetches the same page and
// swaps its <main> in, parsed by DOMParser (which runs no script), so
// that the page stays usable, and as safe, with JavaScript off.
"use strict";
(function () {
  var every = 5000;
  var live = document.getElementById("live");
  function refresh() {
    fetch(location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
        return resp.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var next = doc.getElementById("status");
        var generated = doc.getElementById("generated");
        if (next) { document.getElementById("status").replaceWith(document.adoptNode(next)); }
        if (generated) { document.getElementById("generated").replaceWith(document.adoptNode(generated)); }
        live.textContent = "· live, refreshed every " + every / 1000 + "s";
        live.className = "good";
      })
      .catch(function (err) {
        live.textContent = "· refresh failed: " + err.message;
        live.className = "bad";
      })
      .finally(function () { setTimeout(refresh, every); });
  }
  live.textContent = "· live";
  setTimeout(refresh, every);
})();
