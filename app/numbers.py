"""How a figure reads wherever a user sees it, one rule per quantity: the replay page, the
live page's percentiles (static/js/numbers.js, the same rule), reports, findings, sweeps and
comparisons. Stored results keep their full values; only what is shown is rounded."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def three_digits(value: float) -> float | int:
    """Milliseconds (and the other measured figures a finding quotes) to 3 significant
    digits, whole from 100 up: HDR histograms keep 3 significant digits, so more would be
    noise. 304.788 → 305, 12.345 → 12.3."""
    if value == 0 or not math.isfinite(value):
        return 0
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    # Halves up, as the live page's JavaScript rounds (toPrecision, Math.round): 304.5 is
    # 305 on both, where round() would make it 304.
    rounded = float(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))
    return int(rounded) if digits == 0 or rounded == int(rounded) else rounded


def percent(share: float) -> float | int:
    """A share in percent to one decimal (62.5), never 0 when some, never 100 when not all."""
    if share in (0, 100) or not math.isfinite(share):
        return int(share) if math.isfinite(share) else 0
    shown = round(share, 1)
    if shown == 0:
        shown = round(share, 2) or 0.01
    if shown >= 100:
        shown = 99.9
    return int(shown) if shown == int(shown) else shown


def text(value: float | int) -> str:
    """A rounded figure as text: thousands separated, no trailing `.0`."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


def ms_text(value: float | None) -> str:
    """Milliseconds as shown, without the unit; `–` when there is none."""
    return "–" if value is None else text(three_digits(value))


def percent_text(share: float | None) -> str:
    """A share in percent as shown, with its `%`; `–` when there is none."""
    return "–" if share is None else f"{text(percent(share))}%"


FILTERS = {"ms": ms_text, "percent": percent_text}
"""The templates' filters (`{{ v | ms }}`), in the dashboard's environment and the export's."""


def article(number: str) -> str:
    """The article before a number said aloud: an 8, an 11, an 18, an 800, an 18000, a 1100."""
    digits = number.replace(",", "").split(".")[0]
    vowel = digits.startswith("8") or (digits[:2] in ("11", "18") and len(digits) % 3 == 2)
    return "an" if vowel else "a"
