/* The lock dashboard: redraws the tables from the JSON API every 2 s. Cells
   are filled with textContent, never innerHTML: lock names and owners are free text. */
(function () {
  "use strict";
  var url = document.currentScript.getAttribute("data-api");
  var updated = document.getElementById("locks-updated");

  function row(cells, classes) {
    var tr = document.createElement("tr");
    cells.forEach(function (value, i) {
      var td = document.createElement("td");
      td.textContent = value === null || value === undefined || value === "" ? "-" : String(value);
      if (classes && classes[i]) td.className = classes[i];
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(id, rows, columns) {
    var body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    if (!rows.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = columns; td.className = "k2-muted"; td.textContent = "none";
      tr.appendChild(td); body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function draw(data) {
    fill("locks-exclusive", data.exclusive.map(function (l) {
      return row([l.name, l.pid, l.host, l.owner, l.since, l.token], [null, "k2-num", null, null, null, "k2-num"]);
    }), 6);
    var shared = [];
    data.shared.forEach(function (l) {
      l.holders.forEach(function (h, i) {
        shared.push(row([i ? "" : l.name, i ? "" : l.count, h.pid, h.host, h.owner, h.since], [null, "k2-num", "k2-num"]));
      });
    });
    fill("locks-shared", shared, 6);
    fill("locks-waiters", (data.waiters || []).map(function (w) {
      return row([w.name, w.mode, w.pid, w.host, w.owner, w.since], [null, null, "k2-num"]);
    }), 6);
    var body = document.querySelector("#locks-stats tbody");
    body.replaceChildren();
    Object.keys(data.stats).forEach(function (key) {
      var tr = document.createElement("tr"), th = document.createElement("th"), td = document.createElement("td");
      th.textContent = key;
      td.className = "k2-num";
      td.textContent = data.stats[key] === null ? "unknown" : String(data.stats[key]);
      tr.appendChild(th); tr.appendChild(td); body.appendChild(tr);
    });
    updated.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
  }

  function refresh() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(draw)
      .catch(function (error) { updated.textContent = "Refresh failed (" + error.message + "); retrying."; })
      .finally(function () { setTimeout(refresh, 2000); });
  }
  setTimeout(refresh, 2000);
})();
