/* The build list: each running build's row follows /api/builds/N/events;
   rows whose stream cannot be opened poll /api/builds/N/ and the page says
   so. Browsers open about 6 connections per host, so at most MAX_STREAMS
   rows stream and the others poll. Text goes in with textContent only. */
(function () {
  "use strict";
  var POLL_MS = 3000, MAX_STREAMS = 4;
  var live = document.getElementById("k2-live");
  var ACTIVE = ["queued", "running"];
  function number(n) { return Number(n).toLocaleString("en-US"); }

  function draw(row, s) {
    function field(name) { return row.querySelector('[data-field="' + name + '"]'); }
    var percent = s.total ? Math.floor(1000 * s.done / s.total) / 10 : 100;
    var bar = field("bar");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.firstElementChild.style.width = percent + "%";
    field("state").textContent = s.state;
    field("state").className = "k2-badge k2-state-" + s.state;
    field("done").textContent = number(s.done) + " / " + number(s.total);
    field("rate").textContent = s.rate_per_s + "/s";
    field("elapsed").textContent = s.elapsed_s + " s";
    var stalled = field("stalled");
    stalled.hidden = !s.stalled_since;
    if (s.stalled_since) field("stalled-since").textContent = new Date(s.stalled_since).toLocaleTimeString();
    return ACTIVE.indexOf(s.state) >= 0;
  }

  function poll(row) {
    live.textContent = "live updates unavailable, refreshing every " + POLL_MS / 1000 + " s";
    fetch(row.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) { return draw(row, s); }, function () { return true; })
      .then(function (again) { if (again) setTimeout(function () { poll(row); }, POLL_MS); });
  }

  function follow(row) {
    if (!window.EventSource) return poll(row);
    var source = new EventSource(row.dataset.eventsUrl), opened = false;
    source.onopen = function () { opened = true; };
    source.onmessage = function (e) { draw(row, JSON.parse(e.data)); };
    source.addEventListener("final", function (e) { source.close(); draw(row, JSON.parse(e.data)); });
    source.onerror = function () {
      if (!opened || source.readyState === EventSource.CLOSED) { source.close(); poll(row); }
    };
  }

  document.querySelectorAll("#k2-builds tr[data-events-url]").forEach(function (row, index) {
    if (index < MAX_STREAMS) follow(row); else setTimeout(function () { poll(row); }, POLL_MS);
  });
})();
