/*
 * A sweep's plots with uPlot: 503 rate, p99 latency and ok throughput against the first
 * swept setting, one line per value of the others (app/sweep.py's plot_data gives the
 * shape). A classic script, so the offline sweep.html can inline it beside uPlot.
 * Exposes window.connscopeSweepPlot.draw(container, data): (re)draws every chart.
 */
(function () {
  "use strict";

  var COLOURS = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#c77dff", "#90e0ef", "#fb8500", "#e9ecef"];
  var HEIGHT = 240;

  function xAxis(data) {
    var axis = { label: data.x_name, stroke: "#ccc", grid: { stroke: "#333" } };
    if (!data.x_numeric) {
      // Values that are not numbers (a loop, a handler) sit at their positions, named.
      axis.splits = function () { return data.x; };
      axis.values = function (u, splits) {
        return splits.map(function (i) { return data.x_labels[i] !== undefined ? data.x_labels[i] : ""; });
      };
    }
    return axis;
  }

  function chart(container, data, figure, width) {
    var box = document.createElement("figure");
    box.className = "sweep-plot__chart";
    box.dataset.figure = figure.key;
    var caption = document.createElement("figcaption");
    caption.textContent = figure.label + " (" + figure.unit + ")" + (data.repeat > 1 ? ", median of " + data.repeat + " runs" : "");
    box.appendChild(caption);
    container.appendChild(box);
    var series = [{ label: data.x_name }];
    var columns = [data.x];
    var suffix = figure.unit === "%" ? "" : " " + figure.unit;
    figure.lines.forEach(function (line, i) {
      series.push({
        label: line.name,
        // The legend says each point's median as the sweep's table writes it (3 significant
        // digits for ms, one decimal for %), not the plotted float.
        value: function (u, v, si, idx) {
          if (idx == null || v == null) return "–";
          var shown = line.shown ? line.shown[idx] : String(v);
          return shown === "–" ? shown : shown + suffix;
        },
        stroke: COLOURS[i % COLOURS.length],
        width: 2,
        points: { show: true, size: 7 },
        spanGaps: false,
      });
      columns.push(line.median);
    });
    return new window.uPlot(
      {
        width: width,
        height: HEIGHT,
        scales: { x: { time: false }, y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } } },
        axes: [xAxis(data), { label: figure.unit, stroke: "#ccc", grid: { stroke: "#333" }, size: 60 }],
        series: series,
      },
      columns,
      box
    );
  }

  function draw(container, data) {
    var plots = container.connscopePlots || [];
    plots.forEach(function (plot) { plot.destroy(); });
    container.replaceChildren();
    if (typeof window.uPlot !== "function") return;
    var width = Math.max(320, Math.min(container.clientWidth || 640, 900));
    container.connscopePlots = data.figures.map(function (figure) { return chart(container, data, figure, width); });
  }

  window.connscopeSweepPlot = { draw: draw };
})();
