"""Weighted choices written as `name:weight,…` ("async:90,blocking:10"), parsed with a
readable error, and split exactly as weighted."""

from __future__ import annotations

import math
import random
import re

_WEIGHT = re.compile(r"^(?P<name>.+):(?P<weight>\d{1,6})$")


def parse_weights(text: str, allowed: tuple[str, ...] | None = None) -> list[tuple[str, int]]:
    """`"a:90,b:10"` → [("a", 90), ("b", 10)]; ValueError with a readable message otherwise.
    The name is everything before an item's last colon, so a path may hold colons, not commas."""
    items: list[tuple[str, int]] = []
    for raw in text.split(","):
        item = raw.strip()
        match = _WEIGHT.match(item)
        if match is None:
            raise ValueError(f"{item!r}: write name:weight, weights whole numbers, e.g. a:90,b:10")
        name, weight = match["name"], int(match["weight"])
        if allowed is not None and name not in allowed:
            raise ValueError(f"{name!r} is not one of {', '.join(allowed)}")
        if name in (n for n, _ in items):
            raise ValueError(f"{name!r} is listed twice")
        items.append((name, weight))
    if not any(w for _, w in items):
        raise ValueError("at least one weight must be above 0")
    return items


def apportion(weights: list[tuple[str, int]], n: int, rng: random.Random) -> list[str]:
    """n names split as weighted (largest remainder: exact to within one each), in an order
    shuffled by `rng`: a mix of 90:10 over 10 connections is exactly one in ten."""
    total = sum(w for _, w in weights)
    shares = [(name, n * w / total) for name, w in weights]
    counts = {name: math.floor(share) for name, share in shares}
    by_remainder = sorted(shares, key=lambda s: s[1] - math.floor(s[1]), reverse=True)
    for name, _ in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    out = [name for name, _ in weights for _ in range(counts[name])]
    rng.shuffle(out)
    return out
