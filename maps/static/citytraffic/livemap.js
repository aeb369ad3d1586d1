/* citytraffic live map runtime. maps/builder.py inlines this file into every map page.
 *
 *   var ct = CityTraffic.attach(leafletMap, config);   // also window.citytrafficMap
 *   ct.geoJsonLayer(kind, featureCollection)           // kind: links | junctions | incidents | detectors
 *   ct.update(kind, [{id, properties}, ...])           // merge properties in place, restyle; -> count
 *   ct.replace(kind, featureCollection)                // swap every feature of a layer; -> count
 *   ct.count(kind), ct.layers[kind], ct.map
 *
 * Feature properties come from maps/geojson.py (link_updates, junction_updates, ...). Junctions and
 * incidents carry a `popup` card {title, rows: [[label, value], ...]} formatted there; link
 * tooltips and detector popups (thousands of features) are built here from raw properties. All
 * text is escaped. Every feature element carries data-ct-kind and
 * data-ct-id (and data-los, data-pending, data-status or data-state) so that scripts and browser
 * tests can find it. When the page is ready, document gets a "citytraffic:mapready" event.
 */
(function (global) {
  "use strict";
  var KEYS = { links: "link_id", junctions: "site", incidents: "incident_id", detectors: "detector" };
  var SINGULAR = { links: "link", junctions: "junction", incidents: "incident", detectors: "detector" };
  var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (ch) {
      return ENTITIES[ch];
    });
  }

  function LiveMap(map, config) {
    this.map = map;
    this.config = config;
    this.layers = {};
    this.index = {};
    var container = map.getContainer();
    container.setAttribute("data-citytraffic-map", "live");
    if (!config.basemap) {
      container.classList.add("ct-no-basemap");
    }
  }

  LiveMap.prototype.style = function (kind, p) {
    var c = this.config;
    if (kind === "links") {
      var color = p.los ? c.los_colors[p.los] : null;
      return {
        className: "ct-link",
        color: color || c.unknown_color,
        weight: 2 + Math.min(p.lanes || 1, 4) + (p.congested ? 2 : 0),
        opacity: 0.9,
        dashArray: color ? null : "4 6",
        lineCap: "round"
      };
    }
    if (kind === "junctions") {
      return {
        className: "ct-junction",
        radius: 7,
        color: "#263238",
        weight: 2,
        fillColor: p.pending ? c.pending_color : "#ffffff",
        fillOpacity: 1
      };
    }
    if (kind === "detectors") {
      var hc = c.health_colors[p.status] || c.unknown_color;
      if (p.status === "ok") {
        return { className: "ct-detector", radius: 2.5, color: hc, weight: 0, fillColor: hc, fillOpacity: 0.7 };
      }
      return { className: "ct-detector", radius: 5, color: "#ffffff", weight: 1.5, fillColor: hc, fillOpacity: 1 };
    }
    return {};
  };

  LiveMap.prototype.incidentIcon = function (p) {
    var color = this.config.incident_colors[p.state] || this.config.unknown_color;
    return L.divIcon({
      className: "ct-incident",
      html: '<span style="background:' + esc(color) + '">!</span>',
      iconSize: [22, 22],
      iconAnchor: [11, 11],
      popupAnchor: [0, -11]
    });
  };

  LiveMap.prototype.decorate = function (kind, layer) {
    var el = layer.getElement ? layer.getElement() : null;
    if (!el) {
      return;
    }
    var p = layer.feature.properties;
    el.setAttribute("data-ct-kind", SINGULAR[kind]);
    el.setAttribute("data-ct-id", String(p[KEYS[kind]]));
    if (kind === "links") {
      el.setAttribute("data-los", p.los || "unknown");
    } else if (kind === "junctions") {
      el.setAttribute("data-pending", p.pending ? "true" : "false");
    } else if (kind === "detectors") {
      el.setAttribute("data-status", String(p.status));
    } else if (kind === "incidents") {
      el.setAttribute("data-state", String(p.state));
    }
  };

  LiveMap.prototype.linkCard = function (p) {
    var rows = [["LOS", p.los ? p.los + " (" + (this.config.los_labels[p.los] || "") + ")" : "unknown"]];
    if (p.speed_kmh !== null && p.speed_kmh !== undefined) {
      rows.push(["Speed", Math.round(p.speed_kmh) + " km/h"]);
    }
    if (p.congested) {
      rows.push(["Congested", "yes"]);
    }
    rows.push(["Updated", p.updated || "never"]);
    return { title: p.link_id + (p.name ? " " + p.name : ""), rows: rows };
  };

  LiveMap.prototype.detectorCard = function (p) {
    var reasons = (p.reasons || []).join("; ");
    return { title: "Detector " + p.detector, rows: [["Status", p.status], ["Reasons", reasons || "none"]] };
  };

  LiveMap.prototype.cardHtml = function (kind, p) {
    var card = kind === "links" ? this.linkCard(p) : kind === "detectors" ? this.detectorCard(p) : p.popup;
    if (!card) {
      return "";
    }
    var rows = (card.rows || []).map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    });
    return '<div class="ct-popup ct-popup-' + SINGULAR[kind] + '"><b>' + esc(card.title) + "</b><table>" +
      rows.join("") + "</table></div>";
  };

  LiveMap.prototype.bind = function (kind, feature, layer) {
    var self = this;
    var id = feature.properties[KEYS[kind]];
    this.index[kind][id === undefined || id === null ? feature.id : id] = layer;
    var content = function () {
      return self.cardHtml(kind, layer.feature.properties);
    };
    if (kind === "links") {
      layer.bindTooltip(content, { sticky: true });
    } else {
      layer.bindPopup(content);
    }
    layer.on("add", function () {
      self.decorate(kind, layer);
    });
  };

  LiveMap.prototype.geoJsonLayer = function (kind, data) {
    var self = this;
    var layer = L.geoJSON(null, {
      style: function (f) {
        return self.style(kind, f.properties);
      },
      pointToLayer: function (f, latlng) {
        if (kind === "incidents") {
          return L.marker(latlng, { icon: self.incidentIcon(f.properties), keyboard: false });
        }
        return L.circleMarker(latlng, self.style(kind, f.properties));
      },
      onEachFeature: function (f, l) {
        self.bind(kind, f, l);
      }
    });
    this.layers[kind] = layer;
    this.index[kind] = {};
    layer.addData(data);
    return layer;
  };

  LiveMap.prototype.restyle = function (kind, layer) {
    var p = layer.feature.properties;
    if (kind === "incidents") {
      layer.setIcon(this.incidentIcon(p));
    } else {
      layer.setStyle(this.style(kind, p));
    }
    this.decorate(kind, layer);
    var popup = layer.getPopup ? layer.getPopup() : null;
    if (popup && popup.isOpen()) {
      popup.update();
    }
    var tooltip = layer.getTooltip ? layer.getTooltip() : null;
    if (tooltip && tooltip.isOpen()) {
      tooltip.update();
    }
  };

  LiveMap.prototype.update = function (kind, features) {
    var index = this.index[kind] || {};
    var self = this;
    var n = 0;
    (features || []).forEach(function (f) {
      var props = (f && f.properties) || {};
      var id = f && f.id !== undefined && f.id !== null ? f.id : props[KEYS[kind]];
      var layer = index[id];
      if (!layer) {
        return;
      }
      var p = layer.feature.properties;
      Object.keys(props).forEach(function (k) {
        p[k] = props[k];
      });
      self.restyle(kind, layer);
      n += 1;
    });
    return n;
  };

  LiveMap.prototype.replace = function (kind, data) {
    var layer = this.layers[kind];
    if (!layer) {
      return 0;
    }
    layer.clearLayers();
    this.index[kind] = {};
    layer.addData(data);
    return this.count(kind);
  };

  LiveMap.prototype.count = function (kind) {
    return Object.keys(this.index[kind] || {}).length;
  };

  LiveMap.prototype.addLegend = function (html, position) {
    var control = L.control({ position: position || "bottomright" });
    control.onAdd = function () {
      var div = L.DomUtil.create("div", "ct-legend");
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    control.addTo(this.map);
    this.legend = control;
    return control;
  };

  LiveMap.prototype.setHeat = function (latlngs) {
    if (this.layers.heat) {
      this.layers.heat.setLatLngs(latlngs);
    }
  };

  LiveMap.prototype.ready = function () {
    this.map.fire("citytraffic:ready");
    if (typeof global.CustomEvent === "function") {
      global.document.dispatchEvent(new global.CustomEvent("citytraffic:mapready", { detail: this }));
    }
  };

  global.CityTraffic = {
    LiveMap: LiveMap,
    maps: [],
    attach: function (map, config) {
      var live = new LiveMap(map, config);
      this.maps.push(live);
      global.citytrafficMap = live;
      return live;
    }
  };
})(window);
