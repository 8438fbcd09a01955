"""The JSON API under schemathesis: generated requests from /openapi.json never get a 5xx.

Bounded: a fixed seed (derandomized), EXAMPLES cases per operation, and caps low enough
that the real targets it starts through POST /api/targets stay small; every target it
started is stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support import serve_dashboard

pytestmark = [pytest.mark.target]

EXAMPLES = 15
STATUSES: list[int] = []
CAPS = (
    "--max-requests-per-burst",
    "20",
    "--max-burst-seconds",
    "3",
    "--max-bursts-per-target",
    "2",
    "--max-target-memory-mb",
    "2048",
    "--max-response-bytes",
    "65536",
)


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with serve_dashboard(*CAPS) as url:
        yield url
        for target in httpx.get(f"{url}/api/targets", timeout=10).json():
            httpx.delete(f"{url}/api/targets/{target['id']}", timeout=30)
        left = [t for t in httpx.get(f"{url}/api/targets", timeout=10).json() if t["state"] in ("starting", "ready")]
        assert left == [], "every target started here is stopped"
    # Not vacuous: every operation was called, most of them many times.
    assert len(STATUSES) >= 100, STATUSES


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> schemathesis.BaseSchema:
    # A comparison's valid bodies each start two targets (about 1 s): the coverage phase's
    # positive cases made 56 of them, 60 of the suite's seconds. Its invalid ones stay, and so
    # do its examples and fuzzing; valid target settings are covered by POST /api/targets.
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {
            "operations": [
                {
                    "include-name": "POST /api/comparisons",
                    "phases": {"coverage": {"generation": {"mode": "negative"}}},
                }
            ]
        }
    )
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, api_url: str) -> None:
    response = case.call(base_url=api_url, timeout=90)
    STATUSES.append(response.status_code)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:500]}\n{case.as_curl_command()}"
    )
