"""Every case of the hostile corpus (cases.yaml), applied with the real kubectl in one call to the local
cluster with the operator running: rejected with an error naming the field, or marked Invalid naming the field
with nothing created. The count is printed."""

from __future__ import annotations

import json
from collections import Counter

from tests.hostile.corpus import Case, load
from tests.operator_e2e.harness import Env, wait_for

# kube-apiserver makes the namespace's CA bundle; it is the only object the namespace should hold.
EXPECTED_CONFIGMAPS = {"kube-root-ca.crt"}


def errors_by_case(stderr: str, cases: list[Case]) -> dict[str, str]:
    """kubectl's error lines, by the case whose file they name (`error when creating "<dir>/<id>.json"`)."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        for case in cases:
            if f'/{case.id}.json"' in line:
                found[case.id] = found.get(case.id, "") + line
    return found


def invalid_message(env: Env, case: Case) -> str | None:
    condition = env.condition(case.plural, case.name, "Invalid")
    return condition["message"] if condition and condition["status"] == "True" else None


def test_the_hostile_corpus_is_refused_naming_the_field(env: Env) -> None:
    cases = load()
    assert len(cases) >= 100
    assert len({case.id for case in cases}) == len(cases), "case ids must be unique"
    env.operator()
    folder = env.workdir / "corpus"
    folder.mkdir()
    for case in cases:
        (folder / f"{case.id}.json").write_text(json.dumps(case.manifest), encoding="utf-8")

    result = env.kubectl("apply", "-f", str(folder), check=False)

    errors = errors_by_case(result.stderr, cases)
    failures = []
    for case in (c for c in cases if c.rejected):
        error = errors.get(case.id)
        if error is None:
            failures.append(f"{case.id}: accepted, expected an error naming {case.field}")
        elif case.field not in error:
            failures.append(f"{case.id}: the error does not name {case.field}: {error[:400]}")
    for case in (c for c in cases if not c.rejected):
        if case.id in errors:
            failures.append(f"{case.id}: refused by the API server, not Invalid: {errors[case.id][:400]}")
    assert not failures, "\n".join(failures)

    invalid = [case for case in cases if not case.rejected]
    wait_for(
        lambda: all(invalid_message(env, case) for case in invalid),
        timeout=60,
        what="the Invalid condition on every case the API server stored",
    )
    for case in invalid:
        message = invalid_message(env, case) or ""
        assert case.field in message, f"{case.id}: the Invalid condition lacks {case.field}: {message}"

    stored = {(case.plural, case.name) for case in invalid}
    for plural in ("agents", "agentsupervisors"):
        names = {obj["metadata"]["name"] for obj in env.api.list(plural, env.namespace)}
        assert {(plural, name) for name in names} <= stored, f"unexpected {plural}: {names}"
    assert env.pods() == {}
    assert env.api.list("services", env.namespace) == []
    configmaps = {cm["metadata"]["name"] for cm in env.api.list("configmaps", env.namespace)}
    assert configmaps <= EXPECTED_CONFIGMAPS

    counts = Counter("rejected" if case.rejected else "invalid" for case in cases)
    print(
        f"hostile corpus: {len(cases)} cases, {counts['rejected']} rejected by the API server naming the "
        f"field, {counts['invalid']} marked Invalid by the operator with nothing created"
    )
