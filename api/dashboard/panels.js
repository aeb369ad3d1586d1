/* Dashboard panels: API calls, the alerts list, timing suggestions, and the link chart.
 *
 *   CTPanels.api(method, url, body)  -> Promise<{status, ok, data}> (JSON or text; cookie sent)
 *   CTPanels.renderAlerts(listEl, stateEl, incidents, detectors, onAck) -> alert count
 *   CTPanels.renderSuggestions(boxEl, state, items, onDecide)
 *   CTPanels.linkChart({input, range, variable, box, note, options, links, routes})
 *       .select(linkId) / .refresh() / .refreshInBackground() / .setOperator(bool)
 *
 * Every text from the server goes into the page through textContent, never as HTML.
 */
(function (global) {
  "use strict";

  function formatBenefit(b) {
    if (typeof b !== "object") { return String(b); }
    var saved = b.delay_saved_s_per_veh, pct = b.delay_saved_pct;
    var parts = [];
    if (typeof saved === "number") {
      parts.push(saved.toFixed(1) + " s/veh less delay" +
        (typeof pct === "number" ? " (" + pct.toFixed(0) + " %)" : ""));
    }
    if (typeof b.delay_suggested_s_per_veh === "number" && typeof b.delay_current_s_per_veh === "number") {
      parts.push(b.delay_current_s_per_veh.toFixed(1) + " \u2192 " +
        b.delay_suggested_s_per_veh.toFixed(1) + " s/veh");
    }
    if (b.compared_with) { parts.push("vs " + b.compared_with); }
    return parts.length ? parts.join(", ") : JSON.stringify(b);
  }
  var doc = global.document;
  var MAX_ALERTS = 60;
  var BUCKET_S = 300;

  function api(method, url, body) {
    var init = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return global.fetch(url, init).then(function (r) {
      return r.text().then(function (text) {
        var data = text;
        var type = r.headers.get("content-type") || "";
        if (type.indexOf("json") >= 0) {
          try {
            data = JSON.parse(text);
          } catch (e) {
            data = null;
          }
        }
        return { status: r.status, ok: r.ok, data: data };
      });
    });
  }

  function routeMissing(res) {
    // FastAPI answers an unknown path with {"detail": "Not Found"}; a route's own 404s say more
    return res.status === 404 && res.data && res.data.detail === "Not Found";
  }

  function node(tag, attrs, text) {
    var n = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      n.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) {
      n.textContent = String(text);
    }
    return n;
  }

  function timeText(iso) {
    var t = Date.parse(iso);
    if (!isFinite(t)) {
      return "";
    }
    var d = new Date(t);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  var RANK = { high: 0, medium: 1, low: 2 };

  function alertItems(incidents, detectors) {
    var items = [];
    (incidents || []).forEach(function (i) {
      items.push({
        kind: "incident", id: i.id, severity: i.state === "confirmed" ? "high" : "medium",
        title: "Incident on " + (i.link || "?") + " (" + i.state + ")",
        detail: i.description || i.method || "", time: i.start,
        state: (i.operator && i.operator.state) || "new"
      });
    });
    (detectors || []).forEach(function (d) {
      items.push({
        kind: "detector", id: d.detector, severity: d.status === "bad" ? "medium" : "low",
        title: "Detector " + d.detector + " " + d.status,
        detail: (d.reasons || []).join("; ") || (d.flags || []).join(", "), time: d.last_seen,
        state: (d.operator && d.operator.state) || "new"
      });
    });
    items.sort(function (a, b) {
      return RANK[a.severity] - RANK[b.severity] || (a.state === "new" ? 0 : 1) - (b.state === "new" ? 0 : 1);
    });
    return items;
  }

  function renderAlerts(listEl, stateEl, incidents, detectors, onAck) {
    var items = alertItems(incidents, detectors);
    while (listEl.firstChild) {
      listEl.removeChild(listEl.firstChild);
    }
    items.slice(0, MAX_ALERTS).forEach(function (a) {
      var li = node("li", {
        class: "ct-alert ct-sev-" + a.severity, "data-kind": a.kind, "data-id": a.id,
        "data-severity": a.severity, "data-state": a.state
      });
      var head = node("div", { class: "ct-alert-head" });
      head.appendChild(node("span", { class: "ct-alert-title" }, a.title));
      head.appendChild(node("span", { class: "ct-alert-time" }, timeText(a.time)));
      li.appendChild(head);
      var foot = node("div", { class: "ct-alert-foot" });
      foot.appendChild(node("span", { class: "ct-alert-detail" }, a.detail));
      if (a.state === "new") {
        var ack = node("button", { type: "button", class: "ct-ack" }, "Acknowledge");
        ack.addEventListener("click", function () {
          ack.disabled = true;
          onAck(a.kind, a.id);
        });
        foot.appendChild(ack);
      } else {
        foot.appendChild(node("span", { class: "ct-alert-state" }, a.state));
      }
      li.appendChild(foot);
      listEl.appendChild(li);
    });
    if (items.length > MAX_ALERTS) {
      listEl.appendChild(node("li", { class: "ct-more" }, "+ " + (items.length - MAX_ALERTS) + " more"));
    }
    stateEl.hidden = items.length > 0;
    stateEl.setAttribute("data-state", items.length ? "list" : "empty");
    if (!items.length) {
      stateEl.textContent = "No active incidents or detector alarms.";
    }
    return items.length;
  }

  /* Suggestions. state: login | loading | unavailable | error | empty | list */
  function renderSuggestions(box, state, items, onDecide) {
    while (box.firstChild) {
      box.removeChild(box.firstChild);
    }
    box.setAttribute("data-state", state);
    var messages = {
      login: "Log in as an operator to review timing suggestions.",
      loading: "Loading…",
      unavailable: "No timing suggestions: this server does not offer the suggestions " +
        "workflow (/api/v1/signals/suggestions) yet.",
      error: "Timing suggestions could not be loaded.",
      empty: "No timing suggestion is waiting for a decision."
    };
    if (state !== "list") {
      box.appendChild(node("p", { class: "ct-empty" }, messages[state] || ""));
      return;
    }
    var ul = node("ul", { class: "ct-list" });
    items.forEach(function (s) {
      var id = s.id || s.suggestion_id;
      var li = node("li", { class: "ct-suggestion", "data-id": id, "data-site": s.site || s.junction || "" });
      li.appendChild(node("div", { class: "ct-alert-title" },
        (s.site || s.junction || "junction") + ": " + (s.summary || s.description || "new timing plan")));
      var benefit = s.expected_benefit || s.benefit;
      if (benefit !== undefined && benefit !== null) {
        li.appendChild(node("div", { class: "ct-alert-detail" },
          "expected benefit: " + formatBenefit(benefit)));
      }
      var row = node("div", { class: "ct-alert-foot" });
      var reason = node("input", { type: "text", placeholder: "reason", class: "ct-reason" });
      var accept = node("button", { type: "button", class: "ct-accept" }, "Accept");
      var reject = node("button", { type: "button", class: "ct-reject" }, "Reject");
      accept.addEventListener("click", function () {
        accept.disabled = reject.disabled = true;
        onDecide(id, "accept", reason.value || "accepted on the dashboard");
      });
      reject.addEventListener("click", function () {
        if (!reason.value) {
          reason.focus();
          reason.setAttribute("aria-invalid", "true");
          return;
        }
        accept.disabled = reject.disabled = true;
        onDecide(id, "reject", reason.value);
      });
      row.appendChild(reason);
      row.appendChild(accept);
      row.appendChild(reject);
      li.appendChild(row);
      ul.appendChild(li);
    });
    box.appendChild(ul);
  }

  /* Link chart: measured history (sum of lanes' flows, mean of their speeds per 5-min bucket)
   * from /api/v1/history, and the link's newest forecast per horizon from /api/v1/forecasts
   * ({"forecasts": [{target_time, speed_kmh, speed_kmh_lower, speed_kmh_upper, flow_vph, ...}]}). */
  function linkChart(opts) {
    var byId = {};
    var chart = global.CTChart.attach(opts.box);
    var current = null;
    var operator = false;
    var seq = 0;
    opts.links.forEach(function (l) {
      byId[l[0]] = { id: l[0], name: l[1], ffs: l[2], detectors: l[3] || [] };
    });
    if (opts.options) {
      opts.links.slice(0, 5000).forEach(function (l) {
        opts.options.appendChild(node("option", { value: l[0] }, l[1] || null));
      });
    }

    function note(text) {
      opts.note.textContent = text;
    }

    function combine(results, variable) {
      var buckets = {};
      results.forEach(function (res) {
        if (!res.ok || !res.data || !res.data.buckets) {
          return;
        }
        res.data.buckets.forEach(function (b) {
          var t = Date.parse(b.start) + (BUCKET_S * 1000) / 2;
          var v = b[variable];
          if (!isFinite(t) || v === null || v === undefined) {
            return;
          }
          (buckets[t] = buckets[t] || []).push(v);
        });
      });
      return Object.keys(buckets).map(function (t) {
        var vs = buckets[t];
        var sum = vs.reduce(function (a, b) { return a + b; }, 0);
        return { t: Number(t), v: variable === "flow_vph" ? sum : sum / vs.length };
      });
    }

    function forecastSeries(res, variable) {
      var body = res.data;
      var items = (body && body.forecasts) || [];
      var points = [], band = [];
      items.forEach(function (it) {
        var t = Date.parse(it.target_time || it.target || it.time);
        if (!isFinite(t)) {
          return;
        }
        points.push({ t: t, v: it[variable] });
        var lo = it[variable + "_lower"], hi = it[variable + "_upper"];
        if (isFinite(lo) && isFinite(hi) && lo !== null && hi !== null) {
          band.push({ t: t, lo: lo, hi: hi });
        }
      });
      return { points: points, band: band };
    }

    function refresh(background) {
      var link = current && byId[current];
      if (!link) {
        opts.box.setAttribute("data-state", "empty");
        note("Pick a link (type its id or click it on the map).");
        return Promise.resolve();
      }
      var mine = ++seq;
      var hours = Number(opts.range.value) || 3;
      var variable = opts.variable.value;
      var now = Date.now();
      var start = new Date(now - hours * 3600000).toISOString();
      if (background !== true) {  // a timed refresh keeps the drawn chart until the new one
        opts.box.setAttribute("data-state", "loading");
      }
      // measured history is operator data; the forecasts are public
      var calls = !operator ? [] : link.detectors.map(function (d) {
        return api("GET", opts.routes.history + "?detector=" + encodeURIComponent(d) + "&start=" +
          encodeURIComponent(start) + "&window=" + BUCKET_S);
      });
      var forecast = api("GET", opts.routes.forecasts + "?link=" + encodeURIComponent(link.id));
      return Promise.all([Promise.all(calls), forecast.catch(function () { return { status: 0 }; })])
        .then(function (out) {
          if (mine !== seq) {
            return;
          }
          var history = combine(out[0], variable);
          var fc = out[1].ok ? forecastSeries(out[1], variable) : { points: [], band: [] };
          var end = now;
          fc.points.forEach(function (p) { end = Math.max(end, p.t); });
          chart.draw({
            start: now - hours * 3600000, end: end, now: now,
            unit: variable === "flow_vph" ? "veh/h" : "km/h",
            reference: variable === "speed_kmh" ? { v: link.ffs, label: "free flow" } : null,
            series: [
              { key: "history", label: "measured", points: history },
              { key: "forecast", label: "forecast", dashed: true, points: fc.points, band: fc.band }
            ]
          });
          opts.box.setAttribute("data-state", history.length || fc.points.length ? "drawn" : "no-data");
          opts.box.setAttribute("data-link", link.id);
          opts.box.setAttribute("data-forecast-points", String(fc.points.length));
          var parts = [link.id + (link.name ? " " + link.name : "") + ": " + (operator ?
            history.length + " buckets of 5 min from " + link.detectors.length + " detector(s)" :
            "measured history for operators (log in)")];
          if (routeMissing(out[1])) {
            parts.push("no forecasts: this server has no /api/v1/forecasts route yet");
          } else if (!out[1].ok || !fc.points.length) {
            parts.push("no forecast for this link yet");
          } else {
            parts.push(fc.points.length + " forecast points (newest per horizon)");
          }
          note(parts.join("; "));
        });
    }

    function userRefresh() {
      return refresh(false);
    }
    opts.range.addEventListener("change", userRefresh);
    opts.variable.addEventListener("change", userRefresh);
    opts.input.addEventListener("change", function () {
      if (byId[opts.input.value]) {
        current = opts.input.value;
        refresh(false);
      }
    });
    return {
      select: function (id) {
        if (!byId[id]) {
          return Promise.resolve();
        }
        current = id;
        opts.input.value = id;
        return refresh(false);
      },
      refresh: userRefresh,
      refreshInBackground: function () { return refresh(true); },
      setOperator: function (yes) {
        operator = !!yes;
        return refresh(false);
      },
      current: function () { return current; }
    };
  }

  global.CTPanels = {
    api: api,
    routeMissing: routeMissing,
    alertItems: alertItems,
    renderAlerts: renderAlerts,
    renderSuggestions: renderSuggestions,
    linkChart: linkChart
  };
})(window);
