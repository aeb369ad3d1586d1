/* A small self-written SVG time-series chart for the dashboard (no library, no CDN).
 *
 *   CTChart.draw(element, {
 *     start: ms, end: ms, now: ms,                      // x range (epoch ms) and the "now" line
 *     unit: "km/h",
 *     series: [{key: "history", label: "measured", points: [{t: ms, v: n}, ...]},
 *              {key: "forecast", label: "forecast", dashed: true,
 *               points: [...], band: [{t: ms, lo: n, hi: n}, ...]}],
 *     reference: {v: 50, label: "free flow"}            // optional dashed horizontal line
 *   });
 *
 * Draws into an <svg> sized to the element (redrawn when the element is resized). Lines break
 * where the gap between two points exceeds 2.5 typical steps. Each series path carries
 * data-series and data-points so tests can read what was drawn.
 */
(function (global) {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PAD = { left: 44, right: 12, top: 10, bottom: 24 };

  function el(name, attrs, parent) {
    var node = global.document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, String(attrs[k]));
    });
    if (parent) {
      parent.appendChild(node);
    }
    return node;
  }

  function niceStep(span, target) {
    var raw = span / Math.max(target, 1);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i += 1) {
      if (steps[i] * mag >= raw) {
        return steps[i] * mag;
      }
    }
    return 10 * mag;
  }

  var TIME_STEPS_MIN = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

  function timeStepMs(spanMs, target) {
    var raw = spanMs / Math.max(target, 1) / 60000;
    for (var i = 0; i < TIME_STEPS_MIN.length; i += 1) {
      if (TIME_STEPS_MIN[i] >= raw) {
        return TIME_STEPS_MIN[i] * 60000;
      }
    }
    return 1440 * 60000;
  }

  function hhmm(ms) {
    var d = new Date(ms);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function typicalStep(points) {
    var gaps = [];
    for (var i = 1; i < points.length; i += 1) {
      gaps.push(points[i].t - points[i - 1].t);
    }
    gaps.sort(function (a, b) { return a - b; });
    return gaps.length ? gaps[Math.floor(gaps.length / 2)] : Infinity;
  }

  function pathData(points, x, y) {
    var limit = typicalStep(points) * 2.5;
    var d = "";
    for (var i = 0; i < points.length; i += 1) {
      var p = points[i];
      var move = i === 0 || p.t - points[i - 1].t > limit;
      d += (move ? "M" : "L") + x(p.t).toFixed(1) + "," + y(p.v).toFixed(1);
    }
    return d;
  }

  function valid(points) {
    return (points || []).filter(function (p) {
      return p && isFinite(p.t) && p.v !== null && p.v !== undefined && isFinite(p.v);
    }).sort(function (a, b) { return a.t - b.t; });
  }

  function draw(element, spec) {
    var width = Math.max(element.clientWidth || 0, 240);
    var height = Math.max(element.clientHeight || 0, 120);
    while (element.firstChild) {
      element.removeChild(element.firstChild);
    }
    var svg = el("svg", {
      width: width, height: height, viewBox: "0 0 " + width + " " + height,
      class: "ct-svg-chart", role: "img"
    }, element);
    var series = (spec.series || []).map(function (s) {
      var band = (s.band || []).filter(function (b) {
        return b && isFinite(b.t) && isFinite(b.lo) && isFinite(b.hi);
      });
      return { key: s.key, label: s.label, dashed: !!s.dashed, points: valid(s.points), band: band };
    });
    var values = [];
    series.forEach(function (s) {
      s.points.forEach(function (p) { values.push(p.v); });
      s.band.forEach(function (b) { values.push(b.lo, b.hi); });
    });
    if (spec.reference && isFinite(spec.reference.v)) {
      values.push(spec.reference.v);
    }
    var top = values.length ? Math.max.apply(null, values) : 1;
    var yStep = niceStep(Math.max(top, 1), 4);
    var yMax = Math.ceil((top * 1.05) / yStep) * yStep || yStep;
    var x0 = spec.start, x1 = Math.max(spec.end, spec.start + 60000);
    var w = width - PAD.left - PAD.right, h = height - PAD.top - PAD.bottom;
    var x = function (t) { return PAD.left + ((t - x0) / (x1 - x0)) * w; };
    var y = function (v) { return PAD.top + h - (Math.max(0, v) / yMax) * h; };

    var grid = el("g", { class: "ct-chart-grid" }, svg);
    for (var v = 0; v <= yMax + 1e-9; v += yStep) {
      el("line", { x1: PAD.left, x2: PAD.left + w, y1: y(v), y2: y(v) }, grid);
      el("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, grid).textContent =
        String(Math.round(v * 10) / 10);
    }
    var tStep = timeStepMs(x1 - x0, Math.max(2, Math.floor(w / 90)));
    var offsetMs = new Date(x0).getTimezoneOffset() * 60000;
    for (var t = Math.ceil((x0 - offsetMs) / tStep) * tStep + offsetMs; t <= x1; t += tStep) {
      el("line", { x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + h, class: "ct-chart-vgrid" }, grid);
      el("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, grid).textContent = hhmm(t);
    }
    el("text", { x: 4, y: PAD.top + 8, class: "ct-chart-unit" }, svg).textContent = spec.unit || "";

    if (spec.reference && isFinite(spec.reference.v)) {
      el("line", {
        x1: PAD.left, x2: PAD.left + w, y1: y(spec.reference.v), y2: y(spec.reference.v),
        class: "ct-chart-ref"
      }, svg);
      el("text", { x: PAD.left + w - 4, y: y(spec.reference.v) - 4, "text-anchor": "end",
        class: "ct-chart-ref-label" }, svg).textContent = spec.reference.label || "";
    }
    series.forEach(function (s) {
      if (s.band.length > 1) {
        var upper = s.band.map(function (b) { return x(b.t).toFixed(1) + "," + y(b.hi).toFixed(1); });
        var lower = s.band.slice().reverse().map(function (b) {
          return x(b.t).toFixed(1) + "," + y(b.lo).toFixed(1);
        });
        el("polygon", { points: upper.concat(lower).join(" "), class: "ct-chart-band ct-series-" + s.key },
          svg);
      }
      if (s.points.length) {
        el("path", {
          d: pathData(s.points, x, y),
          class: "ct-chart-line ct-series-" + s.key + (s.dashed ? " ct-dashed" : ""),
          "data-series": s.key,
          "data-points": s.points.length
        }, svg);
        if (s.points.length === 1) {
          el("circle", { cx: x(s.points[0].t), cy: y(s.points[0].v), r: 3,
            class: "ct-chart-dot ct-series-" + s.key }, svg);
        }
      }
    });
    if (isFinite(spec.now) && spec.now >= x0 && spec.now <= x1) {
      el("line", { x1: x(spec.now), x2: x(spec.now), y1: PAD.top, y2: PAD.top + h, class: "ct-chart-now" },
        svg);
    }
    var legend = el("g", { class: "ct-chart-legend" }, svg);
    var lx = PAD.left + 6;
    series.forEach(function (s) {
      if (!s.points.length) {
        return;
      }
      el("line", { x1: lx, x2: lx + 16, y1: PAD.top + 6, y2: PAD.top + 6,
        class: "ct-chart-line ct-series-" + s.key + (s.dashed ? " ct-dashed" : "") }, legend);
      var label = el("text", { x: lx + 20, y: PAD.top + 10 }, legend);
      label.textContent = s.label;
      lx += 28 + 7 * String(s.label).length;
    });
    element.setAttribute("data-drawn", String(Date.now()));
    return svg;
  }

  function attach(element) {
    var last = null;
    var api = {
      draw: function (spec) {
        last = spec;
        return draw(element, spec);
      }
    };
    if (global.ResizeObserver) {
      var pending = false;
      new global.ResizeObserver(function () {
        if (!last || pending) {
          return;
        }
        pending = true;
        global.requestAnimationFrame(function () {
          pending = false;
          draw(element, last);
        });
      }).observe(element);
    }
    return api;
  }

  global.CTChart = { draw: draw, attach: attach, niceStep: niceStep };
})(window);
