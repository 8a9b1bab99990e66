"""A soak's ledger and observed history on disk (`ledger.yaml` in the state directory), so that a run can be
audited again (`agent-supervisor chaos --audit FILE`) after the auditor changes, or read by a person."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from agent_supervisor.cli.chaos.ledger import (
    AgentReading,
    ChildReading,
    Fault,
    FaultKind,
    FinalState,
    History,
    Incarnation,
    Ledger,
)


def save(path: Path, seed: int, ledger: Ledger, history: History) -> None:
    final = history.final
    document: dict[str, Any] = {
        "seed": seed,
        "faults": [asdict(f) | {"kind": str(f.kind)} for f in ledger.faults],
        "settled": ledger.settled,
        "incarnations": [asdict(i) for i in history.incarnations],
        "childReadings": [asdict(r) for r in history.child_readings],
        "agentReadings": [asdict(r) for r in history.agent_readings],
        "final": None
        if final is None
        else {
            "settled": final.settled,
            "childRestarts": {f"{s}/{c}": n for (s, c), n in final.child_restarts.items()},
            "totalRestarts": final.total_restarts,
            "live": final.live,
        },
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def load(path: Path) -> tuple[int, Ledger, History]:
    document = yaml.safe_load(path.read_text())
    faults = [Fault(**(f | {"kind": FaultKind(f["kind"])})) for f in document["faults"]]
    final_doc = document.get("final")
    final = None
    if final_doc is not None:
        restarts = {tuple(key.split("/", 1)): n for key, n in final_doc["childRestarts"].items()}
        final = FinalState(
            final_doc["settled"],
            {(s, c): int(n) for (s, c), n in restarts.items()},
            dict(final_doc["totalRestarts"]),
            {agent: list(attempts) for agent, attempts in final_doc["live"].items()},
        )
    history = History(
        incarnations=[Incarnation(**i) for i in document["incarnations"]],
        child_readings=[ChildReading(**r) for r in document.get("childReadings") or []],
        agent_readings=[AgentReading(**r) for r in document.get("agentReadings") or []],
        final=final,
    )
    return int(document["seed"]), Ledger(faults, list(document["settled"])), history
