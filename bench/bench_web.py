"""Benchmark: the dashboard's overview page opened with a cold browser cache over loopback.

Starts `logsentinel api` as its own process serving the built dashboard (`make web` puts it in
src/logsentinel/api/web) on a fresh database of the local stack's PostgreSQL, seeded through the
API with logs of two services, an open incident, a rule and a playbook. Then, with Playwright
driving the system Chromium, opens the overview `--runs` times, each in a new browser context
(nothing cached: no HTTP cache, no storage). Each run is signed in the way a reopened tab is: a
refresh token from POST /api/v1/auth/login is put where the app keeps it (sessionStorage) before
the page loads, so the measured load includes the app's token refresh, its API calls and the
charts. One unmeasured run first warms the API process (imports, database connections).

Per run, from the start of the navigation:
- first paint: the browser's first-contentful-paint entry (the first text the app shows: its
  "Loading…" while the token refresh is under way, when the refresh is slower than the script);
- charts drawn: the first animation frame in which both charts' canvases show a line of data
  (pixels of the first series' colour), i.e. the overview with its data.
The progress lines also say when the script, the token refresh and the stats had arrived.

Bundle: the built JS (assets/*.js) gzipped at level 9, in kB of 1000 bytes.

    make bench-web     # or: eval "$(make -s env)" && .venv/bin/python bench/bench_web.py

Last line: ``RESULT web_first_paint_ms=<median> web_first_paint_max_ms=<worst>
web_charts_drawn_ms=<median> web_charts_drawn_max_ms=<worst> web_bundle_kb=<gzipped JS>``.
Targets: first paint <= 1000 ms, bundle <= 250 kB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, ViewportSize, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from benchkit import fresh_database, say  # noqa: E402

from logsentinel.api.routes.web import PACKAGED  # noqa: E402
from support.api_process import api_process  # noqa: E402
from support.dashboard_data import MANY_LOGINS, seed_dashboard  # noqa: E402

ADMIN = ("bench-admin", "bench-admin-password-0123")
REFRESH_KEY = "logsentinel.refreshToken"
"""Where web/src/auth/session.ts keeps the refresh token (sessionStorage)."""
VIEWPORT = ViewportSize(width=1280, height=900)
FIRST_PAINT_TARGET_MS = 1000
BUNDLE_TARGET_KB = 250
TIMEOUT_MS = 30_000

# Runs in the page on every animation frame until both charts show data; answers the time
# since the navigation started. A chart's accessible name lists its series once the stats
# arrived; the line itself is drawn in the first series' colour (PALETTE[0] in LineChart.tsx).
CHARTS_DRAWN = """() => {
  const charts = [...document.querySelectorAll('canvas')];
  if (charts.length < 2 || charts.some((c) => c.getAttribute('aria-label').endsWith('no data'))) {
    return false;
  }
  const lineDrawn = (canvas) => {
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - 0x2f) < 12 && Math.abs(data[i + 1] - 0x7e) < 12
          && Math.abs(data[i + 2] - 0xd8) < 12 && data[i + 3] > 200) {
        return true;
      }
    }
    return false;
  };
  return charts.every(lineDrawn) ? performance.now() : false;
}"""
FIRST_PAINT = """() => {
  const [entry] = performance.getEntriesByName('first-contentful-paint');
  return entry ? entry.startTime : false;
}"""
# When the app's script, the token refresh and the stats had arrived: where a load's time goes.
MILESTONES = r"""() => {
  const wanted = [['script', /\/assets\/.*\.js$/], ['refresh', /\/api\/v1\/auth\/refresh$/],
                  ['stats', /\/api\/v1\/stats\?/]];
  const found = {};
  for (const entry of performance.getEntriesByType('resource')) {
    for (const [name, pattern] of wanted) {
      if (pattern.test(entry.name) && !(name in found)) found[name] = entry.responseEnd;
    }
  }
  return found;
}"""
# Before the app's own scripts, in every document of the context: the refresh token, for the
# dashboard's origin only.
PUT_REFRESH_TOKEN = """(() => {
  if (window.location.origin === %s) window.sessionStorage.setItem(%s, %s);
})();"""


@dataclass(frozen=True)
class Load:
    first_paint_ms: float
    charts_drawn_ms: float
    milestones: dict[str, float]
    """Name -> ms after the navigation start at which that response had arrived."""

    def describe(self) -> str:
        arrived = ", ".join(f"{name} {at:.0f}" for name, at in self.milestones.items())
        return (
            f"first paint {self.first_paint_ms:.0f} ms, charts drawn {self.charts_drawn_ms:.0f} "
            f"ms (arrived at ms: {arrived})"
        )


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SystemExit("no Chromium: `apt install chromium` (tools/install-prerequisites.sh)")
    return found


def gzipped_js_kb(app: Path) -> tuple[float, float]:
    """(raw kB, kB gzipped at level 9) of the built app's JS; kB = 1000 bytes."""
    scripts = sorted((app / "assets").glob("*.js"))
    if not scripts:
        raise SystemExit(f"no assets/*.js in {app}: run `make web`")
    raw = sum(len(script.read_bytes()) for script in scripts)
    packed = sum(len(gzip.compress(script.read_bytes(), compresslevel=9)) for script in scripts)
    return raw / 1000, packed / 1000


def refresh_token(base: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}
    )
    answer.raise_for_status()
    token: str = answer.json()["refresh_token"]
    return token


def load_overview(browser: Browser, base: str) -> Load:
    """One cold load of the overview in a new context, signed in by a fresh refresh token."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(
            PUT_REFRESH_TOKEN
            % (json.dumps(base), json.dumps(REFRESH_KEY), json.dumps(refresh_token(base)))
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/#/", wait_until="commit")
        drawn = page.wait_for_function(CHARTS_DRAWN, polling="raf").json_value()
        painted = page.wait_for_function(FIRST_PAINT).json_value()
        if page.get_by_role("button", name="Sign in").count():
            raise SystemExit("the dashboard showed its login page: the refresh token was refused")
        milestones = page.evaluate(MILESTONES)
        return Load(float(painted), float(drawn), milestones)
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="measured cold loads")
    parser.add_argument("--logs", type=int, default=2000, help="log lines seeded")
    options = parser.parse_args()

    server = os.environ.get("LOGSENTINEL_DATABASE_URL")
    if not server:
        raise SystemExit(
            'needs the local stack\'s PostgreSQL: run `make up` and `eval "$(make -s env)"` '
            "(or set LOGSENTINEL_DATABASE_URL); `make bench-web` does both"
        )
    if not (PACKAGED / "index.html").is_file():
        raise SystemExit(f"the dashboard is not built into {PACKAGED}: run `make web`")
    raw_kb, bundle_kb = gzipped_js_kb(PACKAGED)
    say(f"built JS: {raw_kb:.1f} kB, {bundle_kb:.1f} kB gzipped (level 9; kB = 1000 bytes)")

    database_url = fresh_database(server, "bench_web")
    workdir = Path(tempfile.mkdtemp(prefix="bench-web-"))
    # loopback only; logins unlimited (one per run)
    environment = {"LOGSENTINEL_HOST": "127.0.0.1", **MANY_LOGINS}
    with api_process(database_url, workdir, ADMIN, environment) as api:
        say(f"API on {api.base} (log: {api.log}); seeding {options.logs} log lines")
        seed_dashboard(api.base, database_url, ADMIN, log_lines=options.logs)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            try:
                warm = load_overview(browser, api.base)
                say(f"warm-up (not counted): {warm.describe()}")
                loads = []
                for run in range(1, options.runs + 1):
                    load = load_overview(browser, api.base)
                    loads.append(load)
                    say(f"run {run}/{options.runs}: {load.describe()}")
            finally:
                browser.close()

    first_paints = [load.first_paint_ms for load in loads]
    charts = [load.charts_drawn_ms for load in loads]
    first_paint, charts_drawn = statistics.median(first_paints), statistics.median(charts)
    say(
        f"first paint: median {first_paint:.0f} ms, worst {max(first_paints):.0f} ms "
        f"(target <= {FIRST_PAINT_TARGET_MS} ms: "
        f"{'met' if first_paint <= FIRST_PAINT_TARGET_MS else 'NOT met'})"
    )
    say(f"charts drawn: median {charts_drawn:.0f} ms, worst {max(charts):.0f} ms")
    say(
        f"bundle: {bundle_kb:.1f} kB gzipped (target <= {BUNDLE_TARGET_KB} kB: "
        f"{'met' if bundle_kb <= BUNDLE_TARGET_KB else 'NOT met'})"
    )
    print(
        f"RESULT web_first_paint_ms={first_paint:.0f} "
        f"web_first_paint_max_ms={max(first_paints):.0f} "
        f"web_charts_drawn_ms={charts_drawn:.0f} web_charts_drawn_max_ms={max(charts):.0f} "
        f"web_bundle_kb={bundle_kb:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
