"""A burst past the ephemeral port range: every client close leaves its port in TIME_WAIT
for 60 s, so ports bound before connect() run out after ~28,000 connections; the client lets
connect() choose, which recycles a TIME_WAIT port on loopback. Real kernel and the real
client, in a network namespace of its own whose port range is narrowed to 8 ports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from app.sandbox.isolation import netns_unavailable_reason
from tests.support import ROOT

CHILD = textwrap.dedent(
    """
    import asyncio, json
    from app.timeline.timeline import Timeline
    from app.traffic.burst import Burst, fire
    from app.traffic.spec import BurstSpec

    async def answer(reader, writer):
        await reader.readuntil(b"\\r\\n\\r\\n")
        writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nok")
        await reader.read()  # the client closes first: its port goes to TIME_WAIT
        writer.close()

    async def main():
        with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as knob:
            knob.write("40000 40007")
        server = await asyncio.start_server(answer, "127.0.0.1", 5000)
        timeline = Timeline()
        burst = Burst(1, BurstSpec(connections=24, pattern="rate", rate=5, client_timeout_s=5), server_port=5000)
        await fire(burst, timeline)
        server.close()
        outcomes = [(r.requests[0].outcome.value, r.requests[0].error) for r in burst.records]
        ports = [r.port for r in burst.records]
        print(json.dumps({"outcomes": outcomes, "ports": ports, "joined": len(timeline.by_port)}))

    asyncio.run(main())
    """
)


@pytest.mark.netns
@pytest.mark.skipif(netns_unavailable_reason() is not None, reason="no network namespaces on this machine")
def test_a_burst_past_the_port_range_recycles_time_wait_ports() -> None:
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1"', sys.executable, CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    # 24 connections 200 ms apart through 8 ports: all served, each known by the port
    # connect() gave it, ports recycled from TIME_WAIT (once 1 s old: `tcp_tw_reuse_delay`).
    assert seen["outcomes"] == [["ok", None]] * 24, seen["outcomes"]
    assert set(seen["ports"]) <= set(range(40000, 40008)) and len(set(seen["ports"])) < 24
    assert seen["joined"] == len(set(seen["ports"]))
