"""folium elements for the live map: the page runtime, its GeoJSON layers, legend and ready hook.

The runtime (static/citytraffic/livemap.js and livemap.css, inlined into the page header) owns
the Leaflet layers so that a dashboard script can restyle features in place from a WebSocket
without reloading (see livemap.js for its API). Data is embedded as compact JSON with `<`, `>`,
`&` and `'` escaped, so no property text can close the surrounding <script>.
"""

from __future__ import annotations

import functools
import json
import re
from html import escape
from pathlib import Path
from typing import Any

from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template

from maps.views import (
    HEALTH_COLORS,
    INCIDENT_COLORS,
    LOS_COLORS,
    LOS_LABELS,
    LOS_LETTERS,
    UNKNOWN_COLOR,
)

__all__ = [
    "PENDING_COLOR",
    "LiveLayer",
    "LiveLegend",
    "LiveReady",
    "LiveRuntime",
    "js_json",
    "legend_html",
    "runtime_config",
]

_SCRIPT_BREAK = re.compile(r"<(?=[/!])")
RUNTIME_DIR = Path(__file__).resolve().parent / "static" / "citytraffic"
PENDING_COLOR = "#6a3d9a"
"""Fill of a junction marker while a timing suggestion waits for an operator."""


def js_json(obj: Any) -> str:
    """Compact JSON that is safe inside an inline <script>: the only sequences the HTML parser
    acts on there are `</` and `<!--`, so every `<` before `/` or `!` becomes \\u003c (non-ASCII,
    U+2028 and U+2029 are escaped by ensure_ascii)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True)
    return _SCRIPT_BREAK.sub(r"\\u003c", text)


@functools.cache
def runtime_sources() -> tuple[str, str]:
    """(javascript, css) of the page runtime, read once from the package."""
    js = (RUNTIME_DIR / "livemap.js").read_text(encoding="utf-8")
    css = (RUNTIME_DIR / "livemap.css").read_text(encoding="utf-8")
    return js, css


def runtime_config(basemap: bool) -> dict[str, Any]:
    return {
        "los_colors": dict(LOS_COLORS),
        "los_labels": dict(LOS_LABELS),
        "unknown_color": UNKNOWN_COLOR,
        "health_colors": dict(HEALTH_COLORS),
        "incident_colors": dict(INCIDENT_COLORS),
        "pending_color": PENDING_COLOR,
        "basemap": basemap,
    }


def legend_html() -> str:
    """The legend: LOS A-F and unknown, junction markers, detector health, incidents."""

    def row(swatch: str, label: str, attrs: str = "") -> str:
        return f'<div class="ct-row"{attrs}>{swatch}{escape(label)}</div>'

    los_rows = "".join(
        row(
            f'<span class="ct-swatch" style="background:{LOS_COLORS[x]}"></span>',
            f"{x} {LOS_LABELS[x]}",
            f' data-los="{x}"',
        )
        for x in LOS_LETTERS
    )
    los_rows += row(
        '<span class="ct-swatch ct-swatch-unknown"></span>', "no data", ' data-los="unknown"'
    )
    junction_rows = row('<span class="ct-dot" style="background:#fff"></span>', "junction")
    junction_rows += row(
        f'<span class="ct-dot" style="background:{PENDING_COLOR}"></span>', "suggestion pending"
    )
    health_rows = "".join(
        row(
            f'<span class="ct-dot" style="background:{c};border-color:{c}"></span>',
            status,
            f' data-status="{status}"',
        )
        for status, c in HEALTH_COLORS.items()
    )
    return (
        '<h4>Level of service</h4><div class="ct-legend-los">'
        + los_rows
        + '</div><h4>Junctions</h4><div class="ct-legend-junctions">'
        + junction_rows
        + '</div><h4>Detectors</h4><div class="ct-legend-health">'
        + health_rows
        + "</div>"
    )


class LiveRuntime(MacroElement):
    """Inlines the runtime into the page header and attaches it to the parent map."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = CityTraffic.attach(
            {{ this._parent.get_name() }}, {{ this.config_json }});
        {% endmacro %}
        """
    )

    def __init__(self, basemap: bool) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CityTrafficRuntime"
        js, css = runtime_sources()
        self.js = js.replace("</script", "<\\/script")
        self.css = css.replace("</style", "<\\/style")
        self.config_json = js_json(runtime_config(basemap))


class LiveLayer(Layer):
    """A GeoJSON FeatureCollection managed by the runtime (kind: links, junctions, incidents,
    detectors); an overlay in the layer control."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = {{ this.runtime.get_name() }}.geoJsonLayer(
            {{ this.kind_json }}, {{ this.data_json }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        runtime: LiveRuntime,
        kind: str,
        data: dict[str, Any],
        name: str,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "CityTrafficLayer"
        self.runtime = runtime
        self.kind = kind
        self.kind_json = js_json(kind)
        self.data = data
        self.data_json = js_json(data)


class LiveLegend(MacroElement):
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.runtime.get_name() }}.addLegend({{ this.html_json }}, {{ this.position_json }});
        {% endmacro %}
        """
    )

    def __init__(self, runtime: LiveRuntime, html: str, position: str = "bottomright") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CityTrafficLegend"
        self.runtime = runtime
        self.html = html
        self.html_json = js_json(html)
        self.position_json = js_json(position)


class LiveReady(MacroElement):
    """Last element of the map: registers the heat layer (if any) and fires the ready event."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {%- if this.heat %}
        {{ this.runtime.get_name() }}.layers.heat = {{ this.heat.get_name() }};
        {%- endif %}
        {{ this.runtime.get_name() }}.ready();
        {% endmacro %}
        """
    )

    def __init__(self, runtime: LiveRuntime, heat: MacroElement | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "CityTrafficReady"
        self.runtime = runtime
        self.heat = heat
