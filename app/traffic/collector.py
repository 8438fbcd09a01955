"""Python's full garbage collections held off while bursts run.

The client runs in the control app's loop and stamps every connect, send and response
there. A full collection walks every object the process holds, the session's records
included: about 90 ms by a 20,000-request burst, four times in each such burst, a quarter
of the loop's time. Each one delayed every response in flight by its length, so the
latencies shown held the tool's own pauses. While any burst runs, only the young
generations are collected (their walks cost well under a millisecond and take back most
cyclic garbage); the full collection comes once the last burst has ended.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

NEVER = 1 << 30
"""A count of young collections that no burst reaches: no full collection while held."""

# The collector is the process's, so the count of bursts holding it is too.
_holding = 0
_thresholds: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def full_collections_held() -> Iterator[None]:
    """No full collection until the last of the bursts in this block has ended."""
    global _holding, _thresholds
    if _holding == 0:
        _thresholds = gc.get_threshold()
        young, middle, _ = _thresholds
        gc.set_threshold(young, middle, NEVER)
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if _holding == 0:
            gc.set_threshold(*_thresholds)
