"""The live view with workers > 1: one group of slots per worker process, each dot in the
group of the worker that took it, in real Chromium against a real target."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support import start_target, wait_burst

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

    first = samples[0]
    assert first["kind"] == "places" and first["places"] == 6, "3 slots for each of 2 workers"
    assert first["caption"] == "in the app: 3 places per worker × 2"
    assert sorted(label["pid"] for label in first["labels"]) == sorted(target["worker_pids"])
    most = 0
    for sample in samples:
        for label in sample["labels"]:
            assert label["count"] <= label["capacity"] == 3, label
        for dot in sample["dots"]:
            assert dot["cell"] < 6, f"a dot outside the boxes: {dot}"
            assert dot["cell"] // 3 == dot["group"], f"a dot in another worker's slots: {dot}"
            assert dot["pid"] in target["worker_pids"]
        most = max(most, len(sample["dots"]))
    # More active at once than one worker's limit allows: the second group is really used.
    assert most > 2, most
