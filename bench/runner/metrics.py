"""Prometheus counters of the processes under test: scraped, summed, waited for."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted label pairs) → value, as one scrape of /metrics gives them.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample ``GET /metrics`` on 127.0.0.1:``port`` answers (a server or a worker)."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10.0)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every label set that has these ``labels`` (all, if none)."""
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and labels.items() <= dict(pairs).items()
    )


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much ``name`` (summed as :func:`total` does) grew between two scrapes."""
    return total(after, name, **labels) - total(before, name, **labels)


def wait_for_total(
    port: int, name: str, at_least: float, timeout_s: float, **labels: str
) -> float | None:
    """Poll until :func:`total` of ``name`` reaches ``at_least``; the seconds it took.

    None when ``timeout_s`` ran out first: the caller records that the wait
    was cut short rather than failing the whole run.
    """
    started = time.monotonic()
    while total(scrape(port), name, **labels) < at_least:
        if time.monotonic() - started > timeout_s:
            return None
        time.sleep(0.02)
    return time.monotonic() - started
