"""The soak's summary table and violation list, as printed and as pasted into docs/benchmarks.md. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from agent_supervisor.cli.chaos.audit import CHECKS, Report
from agent_supervisor.cli.chaos.ledger import DESCRIPTIONS, FaultKind


def render(report: Report, header: str, unavailable: Mapping[FaultKind, str] | None = None) -> str:
    """`unavailable`: fault kinds the run could not inject, with the reason their rows show instead of
    numbers (on a real cluster: API faults, and operator kills without the operator's namespace)."""
    lines = [
        header,
        "",
        "| fault | injected | landed | restarts expected | restarts observed | merged | violations |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    totals = [0, 0, 0, 0, 0, 0]
    for kind in FaultKind:
        summary = report.kinds[kind]
        row = [
            summary.injected,
            summary.landed,
            summary.restarts_expected,
            summary.restarts_observed,
            summary.merged,
            summary.violations,
        ]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        reason = (unavailable or {}).get(kind)
        if reason is not None and summary.injected == 0:
            lines.append(f"| {DESCRIPTIONS[kind]} | {reason} |" + " - |" * (len(row) - 1))
            continue
        lines.append(f"| {DESCRIPTIONS[kind]} | " + " | ".join(str(v) for v in row) + " |")
    untied = sum(1 for v in report.violations if v.fault is None)
    totals[5] += untied
    lines.append("| **total** | " + " | ".join(f"**{v}**" for v in totals) + " |")
    lines += [
        "",
        f"Restart counters in status (one per crash): expected {report.counters_expected}, observed "
        f"{report.counters_observed}. Incarnations seen: {report.incarnations_started}.",
        "",
        "| check | violations |",
        "|---|---:|",
        *(f"| {CHECKS[check]} | {count} |" for check, count in report.checks.items()),
    ]
    if report.violations:
        lines += ["", "Violations:", *(f"- {v}" for v in report.violations)]
    return "\n".join(lines)
