"""Frame rate of the lane renderer in headless Chromium with N connections gliding.

Run on demand from the repository root: `python -m bench.render_fps [N ...]` (default
500 2000 5000). It serves the dashboard, feeds the page's LaneView synthetic rows that move every connection to a new
lane every 300 ms for 4 s, and measures requestAnimationFrame intervals and the time
spent drawing. Headless Chromium renders in software, so a laptop's GPU does better.
"""

from __future__ import annotations

import sys

from playwright.sync_api import sync_playwright

from bench.common import write
from tests.support import CHROMIUM, serve_dashboard

MEASURE = """
async (n) => {
  const view = window.connscope.view;
  view.reset();
  view.setCapacities(128, 64);
  const states = ["connecting", "queued", "accepted", "active", "accepted", "closed"];
  const outcomes = ["ok", "rejected", "reset"];
  let step = 0;
  const move = () => {
    const rows = [];
    for (let cid = 0; cid < n; cid++) {
      const state = states[(cid + step) % states.length];
      rows.push([cid, 1, state, state === "closed" ? outcomes[cid % 3] : null, step * 300 + cid * 0.01]);
    }
    view.applyRows(rows);
    step += 1;
  };
  move();
  const draw = view.draw.bind(view);
  let drawMs = 0, draws = 0;
  view.draw = () => { const t0 = performance.now(); draw(); drawMs += performance.now() - t0; draws += 1; };
  const intervals = [];
  let last = performance.now();
  const timer = setInterval(move, 300);
  await new Promise((done) => {
    const end = last + 4000;
    const frame = (now) => {
      intervals.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(frame); else done();
    };
    requestAnimationFrame(frame);
  });
  clearInterval(timer);
  view.draw = draw;
  intervals.sort((a, b) => a - b);
  return {
    fps: 1000 / (intervals.reduce((a, b) => a + b, 0) / intervals.length),
    p50: intervals[Math.floor(intervals.length / 2)],
    p99: intervals[Math.floor(intervals.length * 0.99)],
    worst: intervals[intervals.length - 1],
    drawMs: drawMs / Math.max(draws, 1),
    aggregated: view.aggregated,
  };
}
"""


def main(sizes: list[int]) -> None:
    with serve_dashboard() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
        page.goto(url)
        page.wait_for_function("() => window.connscope && window.connscope.view")
        print(
            f"{'dots':>6} {'fps':>6} {'frame p50 ms':>13} {'frame p99 ms':>13} {'worst ms':>9} {'draw ms':>8} "
            f"{'mode':>10}"
        )
        rows = []
        for n in sizes:
            r = page.evaluate(MEASURE, n)
            mode = "counts" if r["aggregated"] else "dots"
            rows.append({"connections": n, "mode": mode} | {k: round(v, 2) for k, v in r.items() if k != "aggregated"})
            print(
                f"{n:>6} {r['fps']:>6.1f} {r['p50']:>13.2f} {r['p99']:>13.2f} {r['worst']:>9.2f} "
                f"{r['drawMs']:>8.2f} {mode:>10}"
            )
        browser.close()
    write(
        "render",
        {
            "what": "the lane renderer in headless Chromium (software rendering), every connection "
            "moving every 300 ms for 4 s; the reference is the display's 60 fps",
            "goal_fps": 60,
            "sizes": rows,
        },
    )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [500, 2000, 5000])
