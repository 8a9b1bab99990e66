"""The soak's summary table and violation list, as printed and as pasted into docs/benchmarks.md. Pure."""

from __future__ import annotations

from agent_supervisor.cli.chaos.audit import CHECKS, Report
from agent_supervisor.cli.chaos.ledger import DESCRIPTIONS, FaultKind


def render(report: Report, header: str) -> str:
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
