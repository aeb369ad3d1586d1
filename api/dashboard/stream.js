/* citytraffic live stream client, shared by the dashboard (/) and the live map (/map).
 *
 *   var s = CTStream.connect("/api/v1/stream", {onMessage: fn(msg), onState: fn(state)});
 *   s.reconnect();   // e.g. after logging in: the new handshake carries the session cookie
 *   s.close();
 *   CTStream.applyLinks(ct, msg.links)   // compact link records -> ct.update("links", ...)
 *
 * The WebSocket reconnects with a growing delay (1 s .. 30 s); the server's hello after each
 * connect carries the state of every link, so nothing is lost while disconnected. States:
 * connecting | live | reconnecting. On /map (body[data-ct-live-map]) it starts by itself and
 * recolours the map's links from `hello` and `conditions` messages.
 */
(function (global) {
  "use strict";

  var LINK_FIELDS = ["los", "speed_kmh", "congested", "updated", "stale", "trend", "flow_vph"];

  function applyLinks(ct, links) {
    if (!ct || !links || !links.length) {
      return 0;
    }
    var updates = links.map(function (l) {
      var props = {};
      LINK_FIELDS.forEach(function (k) {
        if (Object.prototype.hasOwnProperty.call(l, k)) {
          props[k] = l[k];
        }
      });
      return { id: l.link, properties: props };
    });
    return ct.update("links", updates);
  }

  function streamUrl(path) {
    var scheme = global.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + global.location.host + path;
  }

  function connect(path, handlers) {
    var ws = null;
    var retryMs = 1000;
    var closed = false;
    var timer = null;

    function state(s) {
      if (handlers.onState) {
        handlers.onState(s);
      }
    }

    function open() {
      timer = null;
      if (closed) {
        return;
      }
      state(ws ? "reconnecting" : "connecting");
      var socket = new global.WebSocket(streamUrl(path));
      ws = socket;
      socket.onopen = function () {
        retryMs = 1000;
        state("live");
      };
      socket.onmessage = function (event) {
        var msg;
        try {
          msg = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (handlers.onMessage) {
          handlers.onMessage(msg);
        }
      };
      socket.onclose = function () {
        if (socket !== ws || closed) {
          return;
        }
        state("reconnecting");
        timer = global.setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      };
    }

    open();
    return {
      reconnect: function () {
        var old = ws;
        ws = null;
        if (timer) {
          global.clearTimeout(timer);
        }
        if (old) {
          old.onclose = null;
          old.close();
        }
        retryMs = 1000;
        open();
      },
      close: function () {
        closed = true;
        if (ws) {
          ws.close();
        }
      }
    };
  }

  global.CTStream = { connect: connect, applyLinks: applyLinks };

  // /map: live colours without the dashboard around it
  var body = global.document.body;
  if (body && body.getAttribute("data-ct-live-map") === "stream" && global.citytrafficMap) {
    var ct = global.citytrafficMap;
    global.ctLiveMap = { messages: 0, state: "connecting" };
    connect("/api/v1/stream", {
      onMessage: function (msg) {
        if (msg.type === "hello" || msg.type === "conditions") {
          applyLinks(ct, msg.links);
          global.ctLiveMap.messages += 1;
        }
      },
      onState: function (s) {
        global.ctLiveMap.state = s;
        body.setAttribute("data-stream", s);
      }
    });
  }
})(window);
