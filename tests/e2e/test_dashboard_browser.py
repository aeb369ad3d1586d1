"""The dashboard in a real headless Chromium (Debian `chromium`, driven by Playwright) against a
running `citytraffic demo` (mosquitto, influxd, ingest, API, synthetic city as subprocesses).

Checked, not just photographed: the map's link features and the KPIs are present; every script,
style sheet and font comes from the API itself; a link forced to crawl through MQTT readings we
publish ourselves turns E/F on the map (its element's `data-los`) and the congested-links KPI
moves, without a page reload; an operator logs in with an API key (session cookie), sees alerts
and operator KPIs, acknowledges an alert, draws a link's history; the suggestions panel accepts
a suggestion (checked through /api/v1/signals/decisions). Screenshots go to
artifacts/screenshots/ (gitignored).

Chromium runs with the container flags (--no-sandbox as root) and a resolver that maps every
host but 127.0.0.1 to nowhere, so the test never touches the internet (OSM tiles fail to load,
which the page tolerates).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from citytraffic.messaging import payloads
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.processes import free_port
from citytraffic.settings import AuthSettings, InfluxSettings, Settings

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
FORCED_SPEED_KMH = 4.0
NS = 1_000_000_000


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    url: str
    broker_port: int
    data_dir: Path
    key: str
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines[-60:])


def _read_lines(proc: subprocess.Popen[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))


def _wait_for(predicate: Any, timeout_s: float, what: str, demo: Demo | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if demo is not None and demo.proc.poll() is not None:
            raise AssertionError(f"the demo exited while waiting for {what}:\n{demo.output()}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _operator_key(data_dir: Path, lines: list[str]) -> str:
    """The operator key the demo printed, else one created in the demo's key file (the API
    re-reads the file within auth.key_reload_s)."""
    for line in lines:
        found = re.search(r"\bctk_[A-Za-z0-9_-]{20,100}\b", line)
        if found:
            return found.group(0)
    from api.auth import create_api_key

    settings = Settings(data_dir=data_dir, auth=AuthSettings())
    return create_api_key(settings, "browser-test", "operator", created_by="test")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("dashboard-demo")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")}
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/usr/bin"
    env["CITYTRAFFIC_DATA_DIR"] = str(tmp / "var")
    cmd = [sys.executable, "-m", "citytraffic.cli", "demo", "--duration", "900"]
    cmd += ["--port", str(port), "--history", "1800"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    threading.Thread(target=_read_lines, args=(proc, lines), daemon=True).start()
    try:
        probe = Demo(proc, "", 0, tmp, "", lines)
        url = _wait_for(
            lambda: next(
                (m.group(1) for ln in lines if (m := re.search(r"running: (\S+)", ln))), None
            ),
            120,
            "the demo's URL",
            probe,
        )
        broker_port = int(
            next(m.group(1) for ln in lines if (m := re.search(r"broker: \w+ on [\d.]+:(\d+)", ln)))
        )
        demo = Demo(proc, url.rstrip("/"), broker_port, tmp / "var" / "demo", "", lines)

        def links_with_los() -> bool:
            try:
                body = httpx.get(demo.url + "/api/v1/conditions", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                return False
            return sum(1 for ln in body.get("links", []) if ln["los"]) >= 10

        _wait_for(links_with_los, 180, "links with a level of service", demo)
        demo.key = _operator_key(demo.data_dir, lines)
        yield demo
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Browser:
    page: Any
    context: Any
    requests: list[tuple[str, str]] = field(default_factory=list)  # (resource type, url)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Browser]:
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1920, "height": 1080},
        )
        page = context.new_page()
        b = Browser(page, context)
        page.on("request", lambda r: b.requests.append((r.resource_type, r.url)))
        page.on("pageerror", lambda e: b.errors.append(str(e)))
        page.goto(demo.url + "/")
        wait_js(page, "window.ctDashboard && ctDashboard.ready && ctDashboard.updates > 0", 60)
        page.evaluate("window.__ctLoadMarker = 'same-page'")
        yield b
        context.close()


def wait_js(page: Any, expression: str, timeout_s: float) -> Any:
    """Poll a JS expression (page.evaluate is not subject to the page's CSP, unlike Playwright's
    wait_for_function, which the dashboard's CSP without 'unsafe-eval' refuses)."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s: {expression} (last: {value!r})")


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


def _network(demo: Demo) -> dict[str, Any]:
    return httpx.get(demo.url + "/api/v1/network", timeout=10).json()  # type: ignore[no-any-return]


def test_dashboard_shows_live_map_and_kpis_from_the_api_alone(demo: Demo, browser: Browser) -> None:
    page = browser.page
    n_links = sum(
        1 for f in _network(demo)["features"] if f["properties"]["feature_type"] == "link"
    )
    assert page.evaluate("document.querySelectorAll('[data-ct-kind=link]').length") == n_links
    assert page.evaluate("citytrafficMap.count('links')") == n_links
    coloured = page.evaluate(
        "document.querySelectorAll('[data-ct-kind=link]:not([data-los=unknown])').length"
    )
    assert coloured >= 10
    mean = page.get_attribute("#kpi-mean-speed", "data-value")
    share = page.get_attribute("#kpi-congested", "data-value")
    assert mean and 0 < float(mean) < 200
    assert share is not None and 0 <= float(share) <= 1
    assert re.fullmatch(r"\d+ km/h", page.inner_text("#kpi-mean-speed"))
    assert page.get_attribute("#ct-live", "data-state") == "live"
    assert page.evaluate("performance.getEntriesByName('ct-first-useful-paint').length") == 1
    # every script, style sheet and font was served by the API itself
    assets = [(t, u) for t, u in browser.requests if t in ("script", "stylesheet", "font")]
    assert assets and all(u.startswith(demo.url + "/") for _, u in assets), assets
    assert not browser.errors, browser.errors
    shot(page, "dashboard-public-1920x1080.png")


def _target_link(demo: Demo) -> tuple[str, str, list[str]]:
    """An urban link flowing freely now whose detectors all sit at one site."""
    conditions = httpx.get(demo.url + "/api/v1/conditions", timeout=10).json()
    detectors: dict[str, list[tuple[str, str]]] = {}
    for f in _network(demo)["features"]:
        p = f["properties"]
        if p["feature_type"] == "detector":
            detectors.setdefault(p["link"], []).append((p["site"], p["id"]))
    for link in conditions["links"]:
        dets = detectors.get(link["link"], [])
        if (
            link["road_class"] == "urban"
            and link["los"] in ("A", "B", "C")
            and dets
            and len({s for s, _ in dets}) == 1
        ):
            return link["link"], dets[0][0], [d for _, d in dets]
    raise AssertionError("no freely flowing urban link to congest")


class Crawl(threading.Thread):
    """Publishes crawling-speed readings for one link's detectors every 4 s, as a gateway."""

    def __init__(self, port: int, site: str, detectors: list[str]) -> None:
        super().__init__(daemon=True)
        self.publisher = GatewayPublisher("127.0.0.1", port, "gw-browsertest")
        self.site, self.detectors = site, detectors
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sent += 1
            readings = [
                payloads.DetectorValue(
                    detector=d, count=1, occupancy=0.6, speed_kmh=FORCED_SPEED_KMH
                )
                for d in self.detectors
            ]
            self.publisher.publish(
                payloads.DetectorBatch(
                    gateway="gw-browsertest",
                    seq=self.sent,
                    site=self.site,
                    ts=datetime.now(UTC).replace(microsecond=0),
                    interval_s=4,
                    readings=readings,
                )
            )
            self.stop.wait(4)

    def close(self) -> None:
        self.stop.set()
        self.join(10)
        self.publisher.close()


def test_map_feature_and_kpi_change_when_mqtt_data_arrives(demo: Demo, browser: Browser) -> None:
    page = browser.page
    link, site, detectors = _target_link(demo)
    selector = f"[data-ct-kind=link][data-ct-id='{link}']"
    free = "['A','B','C','D'].includes(document.querySelector(\"%s\").getAttribute('data-los'))"
    wait_js(page, free % selector, 30)  # the page agrees with the API (it may lag a refresh)
    share_before = page.get_attribute("#kpi-congested", "data-value")
    updates_before = page.evaluate("ctDashboard.updates")
    crawl = Crawl(demo.broker_port, site, detectors)
    crawl.start()
    try:
        wait_js(
            page,
            f"['E','F'].includes(document.querySelector(\"{selector}\").getAttribute('data-los'))",
            90,
        )
    finally:
        crawl.close()
    assert crawl.sent >= 1
    assert page.evaluate("window.__ctLoadMarker") == "same-page"  # no reload
    assert page.evaluate("ctDashboard.updates") > updates_before
    props = page.evaluate(
        f"citytrafficMap.layers.links.getLayers().find(l => l.feature.properties.link_id === "
        f"'{link}').feature.properties"
    )
    assert props["los"] in ("E", "F") and props["congested"] is True
    assert props["speed_kmh"] < 15
    # the KPI is computed from the map's links: the forced link now counts as congested
    wait_js(
        page,
        f"document.getElementById('kpi-congested').dataset.value !== {share_before!r}",
        30,
    )
    assert float(page.get_attribute("#kpi-congested", "data-value") or "0") > 0
    assert int(page.evaluate("ctDashboard.kpis.congested_links")) >= 1
    page.evaluate(  # show its tooltip in the screenshot (a vertical path has no hover box)
        f"(l => l.openTooltip(l.getCenter()))(citytrafficMap.layers.links.getLayers()"
        f".find(l => l.feature.properties.link_id === '{link}'))"
    )
    shot(page, "dashboard-forced-congestion-1920x1080.png")


def write_forecasts(demo: Demo, link: str) -> None:
    """`forecast` points for one link, as forecasting/live.py writes them, into the demo's
    store (its URL is in the demo's output)."""
    from citytraffic.storage.factory import open_store
    from citytraffic.storage.points import Point, make_tags

    url = next(m.group(1) for ln in demo.lines if (m := re.match(r"store: (http\S+)", ln)))
    store = open_store(Settings(store="influx", influx=InfluxSettings(url=url)))
    now_ns = time.time_ns() // NS // 300 * 300 * NS
    points = [
        Point(
            "forecast",
            make_tags(link=link, horizon_min=str(h)),
            {
                "speed_kmh": 20.0 + h / 5,
                "speed_kmh_lower": 15.0,
                "speed_kmh_upper": 30.0 + h / 5,
                "flow_vph": 300.0,
                "model": "browser-test",
                "issue_time_ns": now_ns,
                "level": 0.8,
            },
            now_ns + h * 60 * NS,
        )
        for h in (5, 10, 15, 30, 60)
    ]
    try:
        store.write(points)
    finally:
        store.close()


def test_operator_login_alerts_chart_and_suggestions(demo: Demo, browser: Browser) -> None:
    page = browser.page
    assert page.get_attribute("#kpi-incidents", "data-value") == ""
    page.fill("#ct-key", "ctk_" + "x" * 43)
    page.click("#ct-login-button")
    wait_js(page, "document.getElementById('ct-login-error').textContent.length > 0", 20)
    assert page.evaluate("ctDashboard.role") == "public"

    page.fill("#ct-key", demo.key)
    page.click("#ct-login-button")
    wait_js(page, "ctDashboard.role === 'operator' && ctDashboard.operatorRefreshes > 0", 30)
    assert page.input_value("#ct-key") == ""  # the key does not stay in the page
    assert "operator" in page.inner_text("#ct-user-name")
    cookies = {c["name"]: c for c in browser.context.cookies()}
    assert cookies["citytraffic_session"]["httpOnly"] is True
    # operator KPIs filled from operator routes with the cookie
    wait_js(page, "document.getElementById('kpi-ingest-lag').dataset.value !== ''", 30)
    assert int(page.get_attribute("#kpi-incidents", "data-value") or "-1") >= 0
    assert page.get_attribute("#kpi-detectors", "data-value") != ""
    assert float(page.get_attribute("#kpi-ingest-lag", "data-value") or "nan") >= 0
    # operator overlays on the map (detector health layer), stream as operator
    wait_js(page, "citytrafficMap.count('detectors') > 0", 30)
    wait_js(page, "ctDashboard.stream === 'live'", 30)

    # alerts: list or the empty state, never the login prompt; acknowledge one when there is one
    state = page.get_attribute("#ct-alerts-state", "data-state")
    assert state in ("list", "empty")
    if state == "list":
        first = page.locator("#ct-alerts-list li[data-state=new]").first
        kind, ident = first.get_attribute("data-kind"), first.get_attribute("data-id")
        first.locator("button.ct-ack").click()
        item = f"#ct-alerts-list li[data-kind='{kind}'][data-id='{ident}'][data-state=new]"
        wait_js(page, f'document.querySelector("{item}") === null', 30)
        route = "/api/v1/incidents?status=all" if kind == "incident" else "/api/v1/detectors/health"
        body = httpx.get(demo.url + route, headers={"X-API-Key": demo.key}, timeout=10).json()
        rows = body["incidents"] if kind == "incident" else body["detectors"]
        ours = next(r for r in rows if r.get("id", r.get("detector")) == ident)
        assert ours["operator"]["state"] == "acknowledged"
        me = httpx.get(demo.url + "/auth/whoami", headers={"X-API-Key": demo.key}, timeout=10)
        assert ours["operator"]["by"] == me.json()["name"]

    # the link chart: history of the last hours from /api/v1/history
    link = page.evaluate(
        "document.querySelector('[data-ct-kind=link]:not([data-los=unknown])')"
        ".getAttribute('data-ct-id')"
    )
    page.evaluate(f"ctDashboard.chart.select({link!r})")
    wait_js(page, f"document.getElementById('ct-chart').dataset.link === {link!r}", 30)
    assert page.get_attribute("#ct-chart", "data-state") == "drawn"
    points = page.get_attribute("#ct-chart path[data-series=history]", "data-points")
    assert points is not None and int(points) >= 2
    # ... and the link's forecast from /api/v1/forecasts (written by the demo's forecaster, or
    # by this test into the demo's store when the forecaster has not run yet)
    fc = httpx.get(demo.url + "/api/v1/forecasts", params={"link": link}, timeout=10).json()
    if not any(f["speed_kmh"] is not None for f in fc["forecasts"]):
        assert "no forecast for this link yet" in page.inner_text("#ct-chart-note")
        write_forecasts(demo, link)
        # the API caches forecast reads for snapshot_refresh_s: refresh the chart once the API
        # serves the new rows
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            f["speed_kmh"] is not None
            for f in httpx.get(
                demo.url + "/api/v1/forecasts", params={"link": link}, timeout=10
            ).json()["forecasts"]
        ):
            time.sleep(0.5)
    page.evaluate("ctDashboard.chart.refresh()")
    wait_js(page, "Number(document.getElementById('ct-chart').dataset.forecastPoints) > 0", 30)
    path = page.locator("#ct-chart path[data-series=forecast]")
    assert path.count() == 1 and int(path.get_attribute("data-points") or "0") >= 1
    print(f"chart of {link}: {points} history buckets, {len(fc['forecasts'])} demo forecasts")

    # timing suggestions: the demo's junctions get suggestions from live flows; accept one
    listed = httpx.get(
        demo.url + "/api/v1/signals/suggestions", headers={"X-API-Key": demo.key}, timeout=10
    )
    assert listed.status_code == 200, listed.text
    wait_js(page, "document.getElementById('ct-suggestions').dataset.state === 'list'", 60)
    page.locator("#ct-suggestions button.ct-accept").first.click()
    wait_js(
        page,
        "(document.getElementById('ct-suggestions').dataset.lastDecision || '')"
        ".startsWith('accept:2')",
        30,
    )
    decisions = httpx.get(
        demo.url + "/api/v1/signals/decisions", headers={"X-API-Key": demo.key}, timeout=10
    ).json()
    assert "demo-operator" in json.dumps(decisions) and "accept" in json.dumps(decisions)
    assert not browser.errors, browser.errors
    shot(page, "dashboard-operator-1920x1080.png")
    page.set_viewport_size({"width": 1366, "height": 768})
    time.sleep(1.0)
    # laptop: nothing spills out of the window; the map and every panel are visible
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for sel in (".ct-map-panel", ".ct-alerts", ".ct-chart", ".ct-suggestions", ".ct-kpis"):
        box = page.locator(sel).bounding_box()
        assert box and box["width"] > 100 and box["y"] + min(box["height"], 60) <= 768, (sel, box)
    shot(page, "dashboard-operator-1366x768.png")


def test_live_map_page_recolours_from_the_stream(demo: Demo, browser: Browser) -> None:
    page = browser.context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.url + "/map")
    wait_js(page, "window.ctLiveMap && ctLiveMap.messages > 0", 30)
    assert page.evaluate("citytrafficMap.count('links')") > 0
    assert page.evaluate("document.querySelectorAll('[data-ct-kind=link]').length") > 0
    assert not errors, errors
    shot(page, "live-map-1920x1080.png")
    page.close()
