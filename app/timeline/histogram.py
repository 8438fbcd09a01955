"""Percentiles from an HDR histogram (HdrHistogram, `hdrh`): p50, p90, p99, p99.9 and max.

Values are recorded in whole microseconds from 1 µs to one hour at 3 significant digits, so
each percentile is the top of the bucket holding the value at its rank: at most 0.1% (and
1 µs) above that measured value, never above the largest one. The rank of percentile q of
N values is round(q·N/100), at least 1 (hdrh's). `max` is the largest value measured."""

from __future__ import annotations

from collections.abc import Iterable

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
    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    largest = -1
    for ns in values_ns:
        # Beyond an hour (no burst runs that long) is kept at the histogram's top, not dropped.
        us = min(HIGHEST_US, max(0, round(ns / 1000)))
        histogram.record_value(us)
        largest = max(largest, us)
    if largest < 0:
        return dict.fromkeys([*PERCENTILES, "max"], None)
    at = histogram.get_percentile_to_value_dict(list(PERCENTILES.values()))
    figures: dict[str, float | None] = {name: min(at[q], largest) / 1000 for name, q in PERCENTILES.items()}
    return figures | {"max": largest / 1000}
