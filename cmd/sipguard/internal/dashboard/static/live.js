// sipguard dashboard: refreshes the overview's feed of bans and alerts
// every few seconds. The page reads without it: its refresh link reloads.
"use strict";
(function () {
  var feed = document.getElementById("feed");
  if (!feed || !window.fetch) {
    return;
  }
  var body = feed.tBodies[0];
  var columns = ["Time", "Action", "Source", "Reason", "Country", "UserAgent", "Extension"];
  function poll() {
    var after = feed.getAttribute("data-after") || "";
    fetch("/events?after=" + encodeURIComponent(after), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (events) {
        if (!events.length) {
          return;
        }
        var none = body.querySelector("tr.none");
        if (none) {
          none.remove();
        }
        for (var i = events.length - 1; i >= 0; i--) {
          var e = events[i], tr = document.createElement("tr");
          tr.className = "fresh ev-" + e.Action;
          columns.forEach(function (c) {
            var td = document.createElement("td");
            td.textContent = e[c] || "—";
            tr.appendChild(td);
          });
          body.insertBefore(tr, body.firstChild);
        }
        while (body.rows.length > 20) {
          body.deleteRow(body.rows.length - 1);
        }
        feed.setAttribute("data-after", events[0].ID);
      })
      .catch(function () {});
  }
  setInterval(poll, 5000);
})();
