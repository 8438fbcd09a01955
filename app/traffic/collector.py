"""Python's full garbage collections held off while bursts run.

The client runs in the control app's loop and stamps every connect, send and response
there. A full collection walks every object the process holds, the session's records
included: 90-150 ms by a 20,000-request burst with a few bursts of history, and longer as
records pile up. Each one delayed every response in flight by its length, so the
latencies shown held the tool's own pauses. While any burst runs, only the young
generations are collected (their walks cost well under a millisecond and take back most
cyclic garbage); the full collection comes once the last burst has ended.

Python 3.14's collector is incremental: it has no full collection to hold off (and no
third threshold), so there the hold does nothing.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

NEVER = 1 << 30
"""A count of young collections that no burst reaches: no full collection while held."""
GENERATIONAL = sys.version_info < (3, 14)
MAX_HOLD_S = 60.0
"""The longest bursts that keep overlapping hold full collections off: past it, the next
burst to end lets one run (a pause in those still in flight), so that garbage only a full
collection takes back cannot pile up for as long as bursts overlap."""

# The collector is the process's, so the count of bursts holding it is too.
_holding = 0
_oldest_threshold = gc.get_threshold()[2]
_held_since = 0.0


@contextmanager
def full_collections_held() -> Iterator[None]:
    """No full collection until the last of the bursts in this block has ended."""
    global _holding, _oldest_threshold, _held_since
    if not GENERATIONAL:
        yield
        return
    if _holding == 0:
        young, middle, _oldest_threshold = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)
        _held_since = time.monotonic()
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        young, middle, oldest = gc.get_threshold()
        # Only our own setting is undone: a threshold someone set meanwhile stays theirs.
        if _holding == 0 and oldest == NEVER:
            gc.set_threshold(young, middle, _oldest_threshold)
        elif _holding and time.monotonic() - _held_since > MAX_HOLD_S:
            gc.collect()
            _held_since = time.monotonic()
