/* The build page: progress pushed by /api/builds/N/events (Server-Sent
   Events; the browser resumes with Last-Event-ID after a drop). When the
   stream cannot be opened, it polls /api/builds/N/ every second and says so.
   Workers, failed chunks and the throughput chart every 2 s until the end.
   Cancel and retry are JSON POSTs carrying X-CSRFToken. Text from the
   server goes in with textContent only. */
(function () {
  "use strict";
  var root = document.getElementById("k2-build");
  if (!root) return;
  var urls = root.dataset, csrf = root.dataset.csrf;
  var bar = document.getElementById("k2-progress");
  var message = document.getElementById("k2-message");
  var live = document.getElementById("k2-live");
  var POLL_MS = 1000;
  var ACTIVE = ["queued", "running"];
  var active = ACTIVE.indexOf(document.getElementById("k2-state").textContent.trim()) >= 0;

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 10) return (Math.round(seconds * 10) / 10) + " s";
    seconds = Math.round(seconds);
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  }
  function number(n) { return Number(n).toLocaleString("en-US"); }
  function field(name, text) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = text; });
  }
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function drawStatus(s) {
    // Never 100 before every combination is done, whatever the rounding.
    var percent = s.total ? Math.floor(1000 * s.done / s.total) / 10 : 100;
    bar.setAttribute("aria-valuenow", String(percent));
    bar.firstElementChild.style.width = percent + "%";
    bar.classList.toggle("k2-bar-failed", s.state === "failed" || s.state === "cancelled");
    field("done", number(s.done)); field("total", number(s.total)); field("percent", String(percent));
    field("remaining", number(s.remaining)); field("elapsed", duration(s.elapsed_s));
    field("eta", s.eta_s === null ? "-" : duration(s.eta_s)); field("rate", number(s.rate_per_s));
    field("rendered", number(s.rendered)); field("skipped", number(s.skipped)); field("failed", number(s.failed));
    var state = document.getElementById("k2-state");
    state.textContent = s.state;
    state.className = "k2-badge k2-state-" + s.state;
    active = ACTIVE.indexOf(s.state) >= 0;
    drawStall(s);
    drawPast(s);
  }

  function clock(iso) { return new Date(iso).toLocaleTimeString(); }
  function drawStall(s) {
    var box = document.getElementById("k2-stalled");
    box.hidden = !s.stalled_since;
    if (s.stalled_since) {
      document.getElementById("k2-stalled-since").textContent = clock(s.stalled_since);
      document.getElementById("k2-stalled-for").textContent = duration((Date.now() - Date.parse(s.stalled_since)) / 1000);
    }
  }
  function drawPast(s) {
    // The same rule as services/build_history.pace: outside [best, slowest] of past runs.
    var flag = document.getElementById("k2-pace"), box = document.getElementById("k2-past");
    if (!s.past || s.eta_s === null && ACTIVE.indexOf(s.state) >= 0) return;
    var expected = s.elapsed_s + (s.eta_s || 0), slowest = parseFloat(box.dataset.slowestS);
    var pace = expected < s.past.best_duration_s ? "faster" : (expected > slowest ? "slower" : "");
    field("expected", duration(expected));
    flag.textContent = pace ? pace + " than past runs" : "";
    flag.className = "k2-badge k2-pace-" + (pace || "none");
    flag.hidden = !pace;
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
    if (className) td.className = className;
    tr.appendChild(td);
  }

  function drawActivity(a) {
    var body = document.querySelector("#k2-workers tbody");
    body.replaceChildren();
    a.workers.forEach(function (w) {
      var tr = document.createElement("tr");
      cell(tr, w.name, "k2-mono"); cell(tr, w.state);
      cell(tr, w.chunks.map(function (c) { return "#" + c.number + " [" + c.start + ", " + c.stop + ")"; }).join(", "));
      cell(tr, w.heartbeat_age_s === null || w.heartbeat_age_s === undefined ? "-" : w.heartbeat_age_s + " s ago");
      body.appendChild(tr);
    });
    if (!a.workers.length) {
      var tr = document.createElement("tr"); cell(tr, "No worker is on this build.", "k2-muted");
      tr.firstChild.colSpan = 4; body.appendChild(tr);
    }
    var c = a.chunks;
    document.getElementById("k2-chunk-counts").textContent =
      "chunks: " + c.done + " done, " + c.running + " running, " + c.queued + " queued" +
      (c.failed ? ", " + c.failed + " failed" : "") + (c.cancelled ? ", " + c.cancelled + " cancelled" : "");
    var list = document.getElementById("k2-failed-list");
    var open = {};
    list.querySelectorAll("details[open]").forEach(function (d) { open[d.dataset.number] = true; });
    list.replaceChildren();
    a.failed_chunks.forEach(function (f) {
      var details = document.createElement("details"), summary = document.createElement("summary"), pre = document.createElement("pre");
      details.className = "k2-failure"; details.dataset.number = f.number; details.open = !!open[f.number];
      summary.textContent = "Chunk #" + f.number + " [" + f.start + ", " + f.stop + ") · " + f.attempts + " attempts";
      pre.className = "k2-traceback"; pre.textContent = f.error;
      details.appendChild(summary); details.appendChild(pre); list.appendChild(details);
    });
    document.getElementById("k2-failed").hidden = !a.failed_chunks.length;
    if (a.involved) {
      document.getElementById("k2-stalled-involved").textContent =
        "chunks " + (a.involved.chunks.map(function (n) { return "#" + n; }).join(", ") || "-") +
        " on workers " + (a.involved.workers.join(", ") || "-");
    }
    document.getElementById("k2-cancel").hidden = !a.can_cancel;
    document.getElementById("k2-retry").hidden = !a.can_retry;
  }

  var SVG = "http://www.w3.org/2000/svg", W = 600, H = 160;
  function drawChart(t) {
    var svg = document.getElementById("k2-chart");
    svg.replaceChildren();
    for (var g = 1; g < 4; g++) {
      var line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", 0); line.setAttribute("x2", W); line.setAttribute("y1", g * H / 4); line.setAttribute("y2", g * H / 4);
      line.setAttribute("class", "k2-grid"); svg.appendChild(line);
    }
    if (!t.points.length) return;
    var peak = Math.max(t.peak_rate, 1), n = t.points.length;
    var coords = t.points.map(function (p, i) {
      return ((i + 1) / n * W).toFixed(1) + "," + (H - 4 - p.rate / peak * (H - 12)).toFixed(1);
    });
    var area = document.createElementNS(SVG, "polygon");
    area.setAttribute("points", "0," + H + " " + coords.join(" ") + " " + W + "," + H);
    area.setAttribute("class", "k2-area"); svg.appendChild(area);
    var line2 = document.createElementNS(SVG, "polyline");
    line2.setAttribute("points", coords.join(" ")); line2.setAttribute("class", "k2-line"); svg.appendChild(line2);
    document.getElementById("k2-peak").textContent = "peak " + number(t.peak_rate) + " images/s";
    document.getElementById("k2-chart-end").textContent = duration(t.duration_s);
  }

  function finished() {
    pollDetails(false);
    message.textContent = "Build finished. Reload the page to refresh the gallery.";
  }
  function pollStatus() {
    var wasActive = active;
    getJSON(urls.statusUrl).then(drawStatus).catch(function (e) { message.textContent = "Progress unavailable (" + e.message + ")"; })
      .finally(function () {
        if (active) setTimeout(pollStatus, POLL_MS);
        else if (wasActive) finished();
      });
  }
  function fallBackToPolling() {
    live.textContent = "live updates unavailable, refreshing every " + POLL_MS / 1000 + " s";
    live.classList.add("k2-warning");
    pollStatus();
  }
  function follow() {
    if (!window.EventSource) return fallBackToPolling();
    var source = new EventSource(urls.eventsUrl), opened = false;
    source.onopen = function () { opened = true; live.textContent = "live"; live.classList.remove("k2-warning"); };
    source.onmessage = function (e) { drawStatus(JSON.parse(e.data)); };
    source.addEventListener("final", function (e) {
      source.close();  // or the browser would reconnect to a finished stream
      var wasActive = active;
      drawStatus(JSON.parse(e.data));
      live.textContent = "";
      if (wasActive) finished();
    });
    source.onerror = function () {
      // Once open, a dropped stream reconnects by itself (Last-Event-ID);
      // one that never opened, or that the server refused, will not.
      if (!opened || source.readyState === EventSource.CLOSED) { source.close(); fallBackToPolling(); }
      else live.textContent = "reconnecting…";
    };
  }
  function pollDetails(again) {
    Promise.all([getJSON(urls.activityUrl).then(drawActivity), getJSON(urls.throughputUrl).then(drawChart)])
      .catch(function () {})
      .finally(function () { if (again && active) setTimeout(function () { pollDetails(true); }, 2000); });
  }

  function post(url, button, doing) {
    button.disabled = true;
    message.textContent = doing;
    fetch(url, {method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (r) {
        message.textContent = r.ok ? "" : (r.body.error || "Refused.");
        if (r.ok && !active) { active = true; follow(); pollDetails(true); }  // else the running stream sees it
      })
      .catch(function (e) { message.textContent = "Request failed (" + e.message + ")"; })
      .finally(function () { button.disabled = false; });
  }
  document.getElementById("k2-cancel").addEventListener("click", function () {
    if (window.confirm("Cancel this build? Finished images stay.")) post(urls.cancelUrl, this, "Cancelling…");
  });
  document.getElementById("k2-retry").addEventListener("click", function () {
    post(urls.retryUrl, this, "Retrying failed chunks…");
  });
  document.querySelectorAll("#k2-gallery-filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  if (active) follow();
  pollDetails(true);
})();
