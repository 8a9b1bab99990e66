"""What a benchmark module prints: one table of figures, and the machine load they were taken under."""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator, Sequence


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def p50_p99(samples: Sequence[float]) -> str:
    """Median and 99th percentile of durations in seconds, as milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"{cuts[49] * 1000:.1f} / {cuts[98] * 1000:.1f} ms"


class ResultTable:
    """Rows of (metric, value, third column) recorded by the tests, printed once when the module ends."""

    def __init__(self, third_column: str, value_width: int) -> None:
        self.third_column = third_column
        self.value_width = value_width
        self.rows: list[tuple[str, str, str]] = []

    def record(self, metric: str, value: str, third: str = "") -> None:
        self.rows.append((metric, value, third))

    def render(self, *heading: str) -> str:
        width = max((len(metric) for metric, _, _ in self.rows), default=6)
        lines = ["", "", *heading, f"{'metric':<{width}}  {'value':>{self.value_width}}  {self.third_column}"]
        lines += [f"{m:<{width}}  {v:>{self.value_width}}  {t}" for m, v, t in self.rows]
        return "\n".join(lines)


def print_when_done(results: ResultTable, title: str, note: str) -> Iterator[None]:
    """The body of a module's autouse fixture: notes the load before the module, prints its table after."""
    before = machine_load()
    yield
    print(results.render(title, f"at start: {before}; at end: {machine_load()}", note))
