/* The operators' dashboard: wires the live map (window.citytrafficMap, maps/static/citytraffic/
 * livemap.js), the stream (stream.js), the KPIs, the operator session and the panels.
 *
 * Public KPIs (mean speed, share of links congested) are computed from the map's own link
 * properties, which the stream keeps current, so the map and the numbers never disagree.
 * Operator KPIs come from operator routes with the session cookie: active incidents and
 * detector health (/api/v1/incidents, /api/v1/detectors/health), ingest lag (/metrics).
 *
 * window.ctDashboard exposes the state for scripts and browser tests: ready, role, kpis,
 * updates (stream messages applied), firstUsefulPaintMs; and performance.mark
 * "ct-first-useful-paint" is set after the first frame with the links layer and the KPIs.
 */
(function (global) {
  "use strict";
  var doc = global.document;
  var P = global.CTPanels;
  var boot = JSON.parse(doc.getElementById("ct-boot").textContent);
  var routes = boot.routes;
  var $ = function (id) { return doc.getElementById(id); };
  var ALERTS_EVERY_MS = 30000, LAYERS_EVERY_MS = 15000, METRICS_EVERY_MS = 10000;
  var SUGGESTIONS_EVERY_MS = 30000, CHART_EVERY_MS = 60000;

  var dash = {
    ready: false, role: "public", name: null, updates: 0, kpis: {}, firstUsefulPaintMs: null,
    stream: "connecting", conditionsAt: boot.conditions_at, operatorRefreshes: 0
  };
  global.ctDashboard = dash;
  var ct = null, stream = null, chart = null, timers = [], pending = null;

  function setKpi(id, text, value, sub, level) {
    var el = $(id);
    el.textContent = text;
    el.setAttribute("data-value", value === null || value === undefined ? "" : String(value));
    el.parentNode.setAttribute("data-level", level || "");
    if (sub !== undefined) {
      $(id + "-sub").textContent = sub;
    }
  }

  /* --- public KPIs, from the map's link properties ------------------------------------- */
  function publicKpis() {
    var speeds = 0, nSpeed = 0, congested = 0, known = 0, total = 0;
    ct.layers.links.eachLayer(function (layer) {
      var p = layer.feature.properties;
      total += 1;
      if (p.los && p.speed_kmh !== null && p.speed_kmh !== undefined && isFinite(p.speed_kmh)) {
        speeds += p.speed_kmh;
        nSpeed += 1;
      }
      if (p.congested === true || p.congested === false) {
        known += 1;
        congested += p.congested ? 1 : 0;
      }
    });
    var mean = nSpeed ? speeds / nSpeed : null;
    var share = known ? congested / known : null;
    dash.kpis.mean_speed_kmh = mean;
    dash.kpis.congested_share = share;
    dash.kpis.congested_links = congested;
    setKpi("kpi-mean-speed", mean === null ? "–" : Math.round(mean) + " km/h",
      mean === null ? null : mean.toFixed(2), nSpeed + " of " + total + " links with data");
    setKpi("kpi-congested", share === null ? "–" : Math.round(share * 1000) / 10 + " %",
      share === null ? null : share.toFixed(4), congested + " of " + known + " links",
      share !== null && share >= 0.2 ? "alarm" : share !== null && share >= 0.1 ? "warn" : "");
  }

  function setAsOf(iso) {
    if (!iso) {
      return;
    }
    dash.conditionsAt = iso;
    var t = new Date(Date.parse(iso));
    $("ct-asof").textContent = isFinite(t.getTime()) ? "conditions " + t.toLocaleTimeString() : "";
  }

  function markUsefulPaint() {
    global.requestAnimationFrame(function () {
      global.setTimeout(function () {
        if (dash.firstUsefulPaintMs !== null) {
          return;
        }
        if (global.performance && global.performance.mark) {
          global.performance.mark("ct-first-useful-paint");
        }
        dash.firstUsefulPaintMs = global.performance ? global.performance.now() : null;
        dash.ready = true;
        doc.body.setAttribute("data-ready", "true");
      }, 0);
    });
  }

  /* --- stream -------------------------------------------------------------------------- */
  function onMessage(msg) {
    if (msg.type === "hello" || msg.type === "conditions") {
      global.CTStream.applyLinks(ct, msg.links);
      dash.updates += 1;
      setAsOf(msg.type === "hello" ? msg.conditions_at : msg.generated_at);
      publicKpis();
      if (msg.type === "hello" && msg.role && msg.role !== dash.role) {
        setRole(msg.role, msg.name);
      }
    } else if (msg.type === "incident" || msg.type === "detector_health" || msg.type === "alarm") {
      scheduleOperatorRefresh();
    }
  }

  function onStreamState(state) {
    dash.stream = state;
    var el = $("ct-live");
    el.setAttribute("data-state", state);
    el.textContent = state === "live" ? "live" : state === "connecting" ? "connecting…" : "reconnecting…";
  }

  /* --- operator data ------------------------------------------------------------------- */
  function operatorCall(method, url, body) {
    return P.api(method, url, body).then(function (res) {
      if (res.status === 401 && dash.role !== "public") {
        setRole("public", null);
        $("ct-login-error").textContent = "Session ended: log in again.";
      }
      return res;
    });
  }

  function refreshLayers() {
    return P.api("GET", routes.layers).then(function (res) {
      if (!res.ok || !res.data) {
        return;
      }
      ct.update("junctions", res.data.junctions || []);
      var empty = { type: "FeatureCollection", features: [] };
      ct.replace("incidents", res.data.incidents || empty);
      ct.replace("detectors", res.data.detectors || empty);
    });
  }

  function refreshAlerts() {
    if (dash.role === "public") {
      return Promise.resolve();
    }
    return Promise.all([
      operatorCall("GET", routes.incidents),
      operatorCall("GET", routes.detector_health + "?status=bad"),
      operatorCall("GET", routes.detector_health + "?status=suspect")
    ]).then(function (out) {
      var inc = out[0], bad = out[1], suspect = out[2];
      if (dash.role === "public") {
        return;
      }
      dash.operatorRefreshes += 1;
      if (inc.ok) {
        var n = inc.data.incidents.length;
        var confirmed = inc.data.incidents.filter(function (i) { return i.state === "confirmed"; }).length;
        dash.kpis.incidents = n;
        setKpi("kpi-incidents", String(n), n, confirmed + " confirmed", n ? "alarm" : "");
      }
      if (bad.ok) {
        var c = bad.data.counts, total = c.ok + c.suspect + c.bad;
        dash.kpis.detectors_ok = c.ok;
        dash.kpis.detectors_total = total;
        var ratio = total ? c.ok / total : null;
        setKpi("kpi-detectors", ratio === null ? "–" : Math.round(ratio * 1000) / 10 + " %",
          ratio === null ? null : ratio.toFixed(4),
          c.ok + " of " + total + " ok, " + c.bad + " bad",
          c.bad ? "alarm" : c.suspect ? "warn" : "");
      }
      var detectors = (bad.ok ? bad.data.detectors : []).concat(suspect.ok ? suspect.data.detectors : []);
      var count = P.renderAlerts($("ct-alerts-list"), $("ct-alerts-state"),
        inc.ok ? inc.data.incidents : [], detectors, acknowledge);
      $("ct-alerts-count").textContent = count ? String(count) : "";
    });
  }

  function acknowledge(kind, id) {
    var base = kind === "incident" ? "/api/v1/incidents/" : "/api/v1/detectors/";
    return operatorCall("POST", base + encodeURIComponent(id) + "/actions",
      { action: "acknowledge", reason: "" }).then(refreshAlerts);
  }

  function metricValues(text, name) {
    var out = [];
    var re = new RegExp("^" + name + "(\\{[^}]*\\})?\\s+(\\S+)");
    String(text).split("\n").forEach(function (line) {
      var m = re.exec(line);
      if (m && isFinite(parseFloat(m[2]))) {
        out.push(parseFloat(m[2]));
      }
    });
    return out;
  }

  function refreshMetrics() {
    if (dash.role === "public") {
      return Promise.resolve();
    }
    return operatorCall("GET", routes.metrics).then(function (res) {
      if (!res.ok || dash.role === "public") {
        return;
      }
      var lags = metricValues(res.data, "citytraffic_ingest_lag_s");
      var ages = metricValues(res.data, "citytraffic_ingest_report_age_seconds");
      var lag = lags.length ? Math.max.apply(null, lags) : null;
      var age = ages.length ? Math.max.apply(null, ages) : null;
      dash.kpis.ingest_lag_s = lag;
      var text = lag === null ? "–" : lag < 10 ? lag.toFixed(2) + " s" : Math.round(lag) + " s";
      var silent = age !== null && age > 60;
      setKpi("kpi-ingest-lag", text, lag, lag === null ? "no ingest report" :
        silent ? "ingest silent for " + Math.round(age) + " s" : lags.length + " ingest process(es)",
        silent || (lag !== null && lag > 30) ? "alarm" : lag !== null && lag > 5 ? "warn" : "");
    });
  }

  function refreshSuggestions() {
    var box = $("ct-suggestions");
    if (dash.role === "public") {
      P.renderSuggestions(box, "login", [], null);
      return Promise.resolve();
    }
    if (box.getAttribute("data-state") === "login") {
      P.renderSuggestions(box, "loading", [], null);
    }
    return operatorCall("GET", routes.suggestions).then(function (res) {
      if (dash.role === "public") {
        return;
      }
      if (P.routeMissing(res)) {
        P.renderSuggestions(box, "unavailable", [], null);
        return;
      }
      if (!res.ok) {
        P.renderSuggestions(box, "error", [], null);
        return;
      }
      var items = Array.isArray(res.data) ? res.data : (res.data && (res.data.suggestions || res.data.items)) || [];
      var pendingItems = items.filter(function (s) { return !s.status || s.status === "pending"; });
      $("ct-suggestions-count").textContent = pendingItems.length ? String(pendingItems.length) : "";
      P.renderSuggestions(box, pendingItems.length ? "list" : "empty", pendingItems, decide);
    });
  }

  function decide(id, decision, reason) {
    return operatorCall("POST", routes.suggestions + "/" + encodeURIComponent(id) + "/" + decision,
      { reason: reason }).then(function (res) {
      $("ct-suggestions").setAttribute("data-last-decision", decision + ":" + res.status);
      return refreshSuggestions();
    });
  }

  function refreshOperator() {
    return Promise.all([refreshAlerts(), refreshMetrics(), refreshSuggestions(), refreshLayers()]);
  }

  function scheduleOperatorRefresh() {
    if (pending) {
      return;
    }
    pending = global.setTimeout(function () {
      pending = null;
      refreshAlerts();
      refreshLayers();
    }, 1500);
  }

  /* --- session ------------------------------------------------------------------------- */
  function setRole(role, name) {
    var was = dash.role;
    dash.role = role || "public";
    dash.name = name || null;
    var operator = dash.role !== "public";
    doc.body.setAttribute("data-role", dash.role);
    $("ct-login").hidden = operator;
    $("ct-user").hidden = !operator;
    $("ct-user-name").textContent = operator ? (name || "?") + " (" + dash.role + ")" : "";
    $("ct-user-name").setAttribute("data-role", dash.role);
    timers.forEach(global.clearInterval);
    timers = [];
    if (operator) {
      timers.push(global.setInterval(refreshAlerts, ALERTS_EVERY_MS));
      timers.push(global.setInterval(refreshMetrics, METRICS_EVERY_MS));
      timers.push(global.setInterval(refreshSuggestions, SUGGESTIONS_EVERY_MS));
    } else {
      ["kpi-incidents", "kpi-detectors", "kpi-ingest-lag"].forEach(function (id) {
        setKpi(id, "–", null, "operators");
      });
      $("ct-alerts-list").textContent = "";
      $("ct-alerts-count").textContent = "";
      $("ct-suggestions-count").textContent = "";
      var st = $("ct-alerts-state");
      st.hidden = false;
      st.setAttribute("data-state", "login");
      st.textContent = "Log in as an operator to see incidents and detector alarms.";
    }
    if (was !== dash.role) {
      if (operator) {
        refreshOperator();
      } else {
        refreshSuggestions();
        refreshLayers();
      }
      chart.setOperator(operator);
    }
  }

  function login(event) {
    event.preventDefault();
    var input = $("ct-key");
    var error = $("ct-login-error");
    error.textContent = "";
    $("ct-login-button").disabled = true;
    P.api("POST", routes.login, { key: input.value.trim() }).then(function (res) {
      $("ct-login-button").disabled = false;
      if (!res.ok) {
        error.textContent = res.status === 429 ? "Too many attempts: wait a moment." :
          res.status === 422 ? "Paste an API key." : "Key refused.";
        return;
      }
      input.value = "";
      setRole(res.data.role, res.data.name);
      stream.reconnect();
    }, function () {
      $("ct-login-button").disabled = false;
      error.textContent = "The server cannot be reached.";
    });
  }

  function logout() {
    P.api("POST", routes.logout).then(function () {
      setRole("public", null);
      stream.reconnect();
    });
  }

  function tick() {
    $("ct-clock").textContent = new Date().toLocaleTimeString();
  }

  /* --- start ----------------------------------------------------------------------------- */
  function start(map) {
    ct = map;
    publicKpis();
    setAsOf(boot.conditions_at);
    markUsefulPaint();
    chart = P.linkChart({
      input: $("ct-link"), range: $("ct-range"), variable: $("ct-variable"), box: $("ct-chart"),
      note: $("ct-chart-note"), options: $("ct-link-options"), links: boot.links, routes: routes
    });
    chart.refresh();
    ct.layers.links.on("click", function (e) {
      chart.select(e.layer.feature.properties.link_id);
    });
    $("ct-login").addEventListener("submit", login);
    $("ct-logout").addEventListener("click", logout);
    tick();
    global.setInterval(tick, 1000);
    global.setInterval(refreshLayers, LAYERS_EVERY_MS);
    // new history points land every interval and the forecaster reissues every few minutes
    global.setInterval(chart.refreshInBackground, CHART_EVERY_MS);
    stream = global.CTStream.connect(routes.stream, { onMessage: onMessage, onState: onStreamState });
    dash.chart = chart;
    P.api("GET", routes.whoami).then(function (res) {
      if (res.ok) {
        setRole(res.data.role, res.data.name);
      }
      if (!res.ok || res.data.role === "public") {
        refreshSuggestions();
        if (!boot.operator_layers) {
          refreshLayers();
        }
      }
    });
  }

  if (global.citytrafficMap) {
    start(global.citytrafficMap);
  } else {
    doc.addEventListener("citytraffic:mapready", function (e) { start(e.detail); });
  }
})(window);
