/*
 * A sweep's page: while the sweep runs, polls its JSON (/api/sweeps/{id}) each second and
 * fills in the progress, the table (text only, never markup) and the plots (sweep-plot.js,
 * with uPlot once assets.js has loaded it).
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var view = JSON.parse(document.getElementById("connscope-sweep").textContent);

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.round(seconds);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function progress(v) {
    var s = v.sweep;
    var text = s.state + ": " + s.runs_done + "/" + s.runs_planned + " runs · " + clock(s.elapsed_s) + " elapsed";
    if (v.progress.live) {
      text += " · ETA " + clock(v.progress.eta_s);
      if (v.progress.current) {
        var words = Object.keys(v.progress.current.swept).map(function (k) { return k + "=" + v.progress.current.swept[k]; });
        text += " · now " + (words.join(" ") || "the one cell");
      }
    }
    var p = document.getElementById("sweep-progress");
    p.textContent = text;
    p.dataset.state = s.state;
    var bar = document.getElementById("sweep-bar");
    bar.max = s.runs_planned;
    bar.value = s.runs_done;
    var error = document.getElementById("sweep-error");
    error.textContent = s.error || "";
    error.hidden = !s.error;
  }

  function table(v) {
    var body = document.querySelector("#sweep-table tbody");
    body.replaceChildren.apply(body, v.table.rows.map(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (text) {
        var td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      return tr;
    }));
    var note = document.getElementById("sweep-note");
    note.textContent = v.table.note || "";
    note.hidden = !v.table.note;
  }

  function runs(v) {
    var links = [];
    v.cells.forEach(function (cell) {
      cell.run_ids.forEach(function (id) {
        if (id === null) return;
        var a = document.createElement("a");
        a.href = "/runs/" + Number(id);
        a.textContent = String(id);
        links.push(a, document.createTextNode(" "));
      });
    });
    var box = document.getElementById("sweep-runs");
    box.replaceChildren.apply(box, links);
  }

  function show(v) {
    progress(v);
    table(v);
    runs(v);
    window.connscopeSweepPlot.draw(document.getElementById("sweep-plot"), v.plot);
    document.body.dataset.sweepRuns = String(v.sweep.runs_done);
    document.body.dataset.sweepState = v.sweep.state;
  }

  function poll() {
    fetch("/api/sweeps/" + view.sweep.id, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (next) {
        if (next) {
          view = next;
          show(view);
        }
        if (!next || next.progress.live) setTimeout(poll, POLL_MS);
        else document.getElementById("sweep-stop") && document.getElementById("sweep-stop").remove();
      })
      .catch(function () { setTimeout(poll, POLL_MS); });
  }

  function start() {
    show(view);
    if (view.progress.live) setTimeout(poll, POLL_MS);
  }

  if (window.connscopeAssets && window.connscopeAssets.ready) start();
  else document.addEventListener("connscope:assets-ready", start, { once: true });
})();
