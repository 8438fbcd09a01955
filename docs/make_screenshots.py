"""Takes the README's screenshots from a real dashboard, real targets and real bursts.

Run from the repository root: `python -m docs.make_screenshots`. Each shot waits for the
moment it shows, read off the page's own counters, then captures the page at 1280×800.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.support import CDN_HOST, CHROMIUM, serve_dashboard

HERE = Path(__file__).resolve().parent


def _value(page: Page, name: str) -> str:
    return str(page.locator(f'[data-count="{name}"]').first.get_attribute("data-value") or "")


def shoot(page: Page, scenario: str, moment: str, name: str) -> None:
    """Loads a guided scenario and captures the page as soon as `moment` (JS) holds."""
    page.click(f'[data-scenario="{scenario}"]')
    page.wait_for_function(moment, timeout=30_000, polling=20)
    page.screenshot(path=str(HERE / name))
    page.wait_for_selector("[data-finding]", timeout=60_000)


def main() -> None:
    count = "name => Number(document.querySelector(`[data-count='${name}']`).dataset.value || 0)"
    with serve_dashboard() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route(f"https://{CDN_HOST}/**", lambda route: route.abort())
        page.goto(url)
        page.wait_for_function("() => window.htmx && window.uPlot")
        shoot(
            page,
            "limit-async",
            f"() => {{ const c = {count}; return c('rejected') >= 3 && c('active') >= 3; }}",
            "limit-reached.png",
        )
        shoot(
            page, "backlog-blocked", f"() => {{ const c = {count}; return c('queued') >= 4; }}", "backlog-filling.png"
        )
        browser.close()
    print(f"wrote {HERE / 'limit-reached.png'} and {HERE / 'backlog-filling.png'}")


if __name__ == "__main__":
    main()
