"""The live view with workers > 1: one group of slots per worker process, each dot in the
group of the worker that took it, in real Chromium against a real target."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from app.sandbox.isolation import netns_unavailable_reason
from tests.support import start_target, wait_burst, wait_run_id

pytestmark = [pytest.mark.target, pytest.mark.browser]

PROBE = """() => {
  const v = window.connscope.view;
  const slots = v.describe().lanes.slots;
  const labels = [...document.querySelectorAll('[data-worker-slots]')].map((l) => ({
    count: Number(l.dataset.count), capacity: Number(l.dataset.capacity), pid: Number(l.dataset.pid),
    text: l.textContent,
  }));
  const dots = [];
  for (let i = 0; i < v.count; i++) {
    if (v.laneKeyOf(v.cidOf[i]) !== 'slots') continue;
    dots.push({ cell: v.cell[i], group: v.workerGroup(v.workerOf[i]), pid: v.workerOf[i] });
  }
  return { places: slots.places, kind: slots.kind, labels, dots,
           caption: document.querySelector('[data-for="slots"] .lane-caption').textContent };
}"""


def test_two_workers_get_a_group_of_slots_each(dashboard: str, page: Any) -> None:
    settings = {"workers": 2, "limit_concurrency": 3, "handler": "async", "handler_ms": 1500}
    target = start_target(dashboard, settings | {"loop": "asyncio", "http": "h11"})
    assert len(target["worker_pids"]) == 2
    page.goto(dashboard)
    page.wait_for_selector(f'#target-status[data-target-id="{target["id"]}"]', timeout=15_000)
    page.wait_for_function("() => document.querySelectorAll('[data-worker-slots]').length === 2", timeout=10_000)
    # Which worker accept()s is the kernel's choice, and it may wake the same one for every
    # arrival: a burst that gave the second group nothing is fired again, up to three.
    most = 0
    for attempt in range(3):
        burst = httpx.post(
            f"{dashboard}/api/targets/{target['id']}/bursts",
            json={"connections": 16, "pattern": "rate", "rate": 40},
            timeout=10,
        ).json()
        samples = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            samples.append(page.evaluate(PROBE))
            time.sleep(0.05)
        wait_burst(dashboard, target["id"], burst["id"])

        if attempt == 0:
            first = samples[0]
            assert first["kind"] == "places" and first["places"] == 6, "3 slots for each of 2 workers"
            assert first["caption"] == "in the app: 3 places per worker × 2"
            assert sorted(label["pid"] for label in first["labels"]) == sorted(target["worker_pids"])
        for sample in samples:
            for label in sample["labels"]:
                assert label["count"] <= label["capacity"] == 3, label
            for dot in sample["dots"]:
                assert dot["cell"] < 6, f"a dot outside the boxes: {dot}"
                assert dot["cell"] // 3 == dot["group"], f"a dot in another worker's slots: {dot}"
                assert dot["pid"] in target["worker_pids"]
            most = max(most, len(sample["dots"]))
        if most > 2:
            break
    # More active at once than one worker's limit allows: the second group is really used.
    assert most > 2, most
    assert page.locator('[data-count="slots"]').inner_text() == "3 per worker × 2"


@pytest.mark.netns
@pytest.mark.skipif(netns_unavailable_reason() is not None, reason="no network namespaces on this machine")
def test_the_run_page_shows_kernel_counters_beside_the_clients_dropped_syns(dashboard: str, page: Any) -> None:
    # somaxconn 1 holds 2; the first request blocks the loop 600 ms while the next five
    # arrive, so the full queue drops SYNs (no cookies) and the clients send them again.
    target = start_target(
        dashboard,
        {
            "backlog": 1,
            "somaxconn": 1,
            "tcp_syncookies": 0,
            "handler": "blocking",
            "handler_ms": 600,
            "loop": "asyncio",
        },
    )
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 6, "pattern": "rate", "rate": 20},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    run_id = wait_run_id(dashboard, target["id"])
    run = httpx.get(f"{dashboard}/api/runs/{run_id}", timeout=10).json()
    resent = sum(c["syn_retransmits"] or 0 for c in run["connections"])
    assert run["kernel_counters"]["ListenOverflows"] == resent >= 2

    page.goto(f"{dashboard}/runs/{run_id}")
    shown = page.evaluate(
        """() => Object.fromEntries(
             [...document.querySelectorAll('[data-counter], [data-kernel-counters] [data-count]')]
             .map((el) => [el.dataset.counter || el.dataset.count, Number(el.textContent)]))"""
    )
    assert shown["ListenOverflows"] == run["kernel_counters"]["ListenOverflows"]
    assert shown["ListenDrops"] == run["kernel_counters"]["ListenDrops"]
    assert shown["syn-resent"] == resent
    assert shown["syn-dropped"] == sum(1 for c in run["connections"] if c["syn_retransmits"])
    bars = page.evaluate(
        "() => [...document.querySelectorAll('[data-queue-wait] li')].map((li) => Number(li.dataset.value))"
    )
    assert sum(bars) == 6, "every connection's wait in the accept queue, once"
    assert bars == run["queue_wait_ms"]["counts"]
    # The four that waited behind the blocked loop waited at least 100 ms.
    edges = run["queue_wait_ms"]["edges_ms"]
    assert sum(n for edge, n in zip(edges, bars, strict=True) if edge >= 100) >= 4
    # Drawn as bars, the longest one widest (an unclosed rule in runs.css once left a bare
    # numbered list).
    widths = page.evaluate(
        """() => [...document.querySelectorAll('[data-queue-wait] .queue-wait__bar')].map(
             (bar) => parseFloat(getComputedStyle(bar, '::before').width) || 0)"""
    )
    assert max(widths) > 20 and widths.index(max(widths)) == bars.index(max(bars))


def test_a_replacement_workers_dots_are_labelled_with_its_own_pid(dashboard: str, page: Any) -> None:
    # gunicorn restarts a worker after max_requests: the replacement's dots share a group,
    # whose label names both pids (it read "pid 3" over dots of pid 8).
    settings = {"server": "gunicorn", "workers": 2, "max_requests": 2, "limit_concurrency": 3, "handler_ms": 200}
    target = start_target(dashboard, settings | {"loop": "asyncio"})
    burst = httpx.post(
        f"{dashboard}/api/targets/{target['id']}/bursts",
        json={"connections": 8, "pattern": "rate", "rate": 10},
        timeout=10,
    ).json()
    wait_burst(dashboard, target["id"], burst["id"])
    run = httpx.get(f"{dashboard}/api/runs/{wait_run_id(dashboard, target['id'])}", timeout=30).json()
    took = {c["worker_pid"] for c in run["connections"] if c["worker_pid"]}
    if len(took) <= 2:
        pytest.skip(f"no worker was replaced in this run (pids {sorted(took)})")
    page.goto(f"{dashboard}/runs/{run['run_id']}")
    page.wait_for_function("() => window.connscopeReplay !== undefined", timeout=10_000)
    page.keyboard.press("End")
    page.wait_for_timeout(300)
    named = page.evaluate(
        "() => [...document.querySelectorAll('[data-worker-slots]')].flatMap((l) => l.dataset.pids.split(' '))"
    )
    assert took <= {int(p) for p in named if p}, (took, named)


def test_granians_backpressure_draws_its_places(dashboard: str, page: Any) -> None:
    # Granian has no 503 gate: backpressure holds each worker to N requests at once. The slots
    # lane said "in the app: no limit", reading uvicorn's limit_concurrency alone.
    target = start_target(dashboard, {"server": "granian", "backlog": 128, "backpressure": 3, "loop": "asyncio"})
    page.goto(dashboard)
    page.wait_for_selector(f'#target-status[data-target-id="{target["id"]}"]', timeout=15_000)
    caption = page.locator('[data-for="slots"] .lane-caption')
    page.wait_for_function(
        "() => document.querySelector('[data-for=\"slots\"] .lane-caption').textContent.includes('3 places')",
        timeout=10_000,
    )
    assert caption.inner_text() == "in the app: 3 places"
    assert page.evaluate("() => window.connscope.view.describe().lanes.slots.places") == 3
