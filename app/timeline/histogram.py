"""Percentiles from an HDR histogram (HdrHistogram, `hdrh`): p50, p90, p99, p99.9 and max.

Values are recorded in whole microseconds from 1 µs to one hour at 3 significant digits, so
each percentile is the top of the bucket holding the value at its rank: at most 0.1% (and
1 µs) above that measured value, never above the largest one. The rank of percentile q of
N values is round(q·N/100), at least 1 (hdrh's). `max` is the largest value measured."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import repeat
from operator import truediv

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}
PRECISION = (
    "HDR histogram of µs values, 3 significant digits: within 0.1% above the measured value at its rank; "
    "max is the largest measured"
)
"""The precision, as field descriptions and reports state it."""


def percentiles_ms(values_ns: Iterable[int]) -> dict[str, float | None]:
    """p50, p90, p99, p99_9 and max in ms (rounded to the µs), all None without values."""
    running = RunningPercentiles()
    running.extend(values_ns)
    return running.figures()


class RunningPercentiles:
    """`percentiles_ms` over values that keep coming: one histogram, each value recorded
    once, so a live figure costs what arrived since the last one, not every value again."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        self._largest = -1
        self._pending: list[int] = []

    def add(self, ns: int) -> None:
        self._pending.append(ns)

    def extend(self, values_ns: Iterable[int]) -> None:
        self._pending.extend(values_ns)

    def figures(self) -> dict[str, float | None]:
        # Recorded as a count per distinct µs value: a histogram only keeps counts, so this
        # is the histogram one record_value per value would build, in a fraction of the calls.
        # Beyond an hour (no burst runs that long) is kept at the histogram's top, not dropped.
        counts = Counter(map(round, map(truediv, self._pending, repeat(1000))))
        self._pending.clear()
        for us, count in counts.items():
            us = min(HIGHEST_US, max(0, us))
            self._histogram.record_value(us, count)
            self._largest = max(self._largest, us)
        if self._largest < 0:
            return dict.fromkeys([*PERCENTILES, "max"], None)
        at = self._histogram.get_percentile_to_value_dict(list(PERCENTILES.values()))
        figures: dict[str, float | None] = {name: min(at[q], self._largest) / 1000 for name, q in PERCENTILES.items()}
        return figures | {"max": self._largest / 1000}
