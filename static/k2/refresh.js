/* Re-fetch this page every few seconds and swap one element (the server
   renders and escapes it), keeping <details> that the reader opened open.
   <script src=refresh.js data-target=ID data-every=MS> */
(function () {
  "use strict";
  var script = document.currentScript;
  var id = script.dataset.target, every = parseInt(script.dataset.every || "3000", 10);
  var stamp = document.getElementById("k2-refreshed");

  function openKeys(root) {
    return Array.prototype.map.call(root.querySelectorAll("details[open] summary"), function (s) { return s.textContent; });
  }

  function refresh() {
    fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
        var current = document.getElementById(id);
        if (!fresh || !current) return;
        var keep = openKeys(current);
        fresh.querySelectorAll("details summary").forEach(function (s) {
          if (keep.indexOf(s.textContent) >= 0) s.parentNode.open = true;
        });
        current.replaceWith(fresh);
        if (stamp) stamp.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      })
      .catch(function (error) { if (stamp) stamp.textContent = "Refresh failed (" + error.message + "); retrying."; })
      .finally(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
