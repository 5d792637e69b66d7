"""Reading the controller's /metrics and /healthz in tests: plain HTTP, prometheus_client's own parser."""
from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[Key, float]


def http_get(url: str) -> tuple[int, str]:
    """(status, body) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base: str) -> Samples:
    """Every sample of ``base``/metrics, keyed by (name, labels)."""
    status, body = http_get(base + "/metrics")
    assert status == 200, (status, body[:200])
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def healthz(base: str) -> tuple[int, dict[str, Any]]:
    status, body = http_get(base + "/healthz")
    return status, json.loads(body)


def key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def delta(after: Samples, before: Samples) -> dict[Key, float]:
    """The samples that moved between two scrapes (a new series counts from 0). Histogram buckets and sums,
    ``_created`` series and values that are times (timestamps, ages) are left out: they move by themselves."""
    out = {}
    for k, value in after.items():
        name = k[0]
        if name.endswith(("_bucket", "_created", "_sum")) or "timestamp" in name or "age_seconds" in name:
            continue
        old = before.get(k, 0.0)
        if not (math.isnan(value) and math.isnan(old)) and value != old:
            out[k] = value - old
    return out
