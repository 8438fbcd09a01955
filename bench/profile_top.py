"""Top functions of a py-spy speedscope profile: `python3 -m bench.profile_top FILE [N]`.

Prints each function's share of samples, inclusive (anywhere on the stack) and self (on
top), which is what the README's closing notes quote."""

from __future__ import annotations

import json
import sys
from collections import Counter


def top(path: str, n: int = 25) -> tuple[int, list[tuple[str, float, float]]]:
    doc = json.load(open(path))
    frames = doc["shared"]["frames"]
    inclusive: Counter[int] = Counter()
    own: Counter[int] = Counter()
    total = 0
    for profile in doc["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            for index in set(stack):
                inclusive[index] += weight
            if stack:
                own[stack[-1]] += weight

    def name(i: int) -> str:
        f = frames[i]
        return f"{f['name']} ({f.get('file', '').rsplit('/', 2)[-1]}:{f.get('line', '')})"

    rows = [(name(i), inclusive[i] / total, own[i] / total) for i, _ in inclusive.most_common(n)]
    return total, rows


def main() -> None:
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    total, rows = top(path, n)
    print(f"{total} samples; inclusive% self% function")
    for label, inc, own in rows:
        print(f"{inc:6.1%} {own:6.1%}  {label}")


if __name__ == "__main__":
    main()
