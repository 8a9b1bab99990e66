"""The table of docs/local-cluster.md stays true: every row is asked of a running local cluster."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from localcluster.apiserver.kinds import BUILTINS

from .conftest import REPO, ClusterHarness

pytestmark = pytest.mark.cluster

DOC = REPO / "docs" / "local-cluster.md"
HEADING = "## Served, not served, and known differences"
ROW = re.compile(r"^\| `(?P<method>[A-Z]+) (?P<path>[^`]+)` \| (?P<status>served|not served|refused) \|")
NOT_FOUND = "the server could not find the requested resource"


def table_rows(text: str) -> list[tuple[str, str, str]]:
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines() if line.startswith("| `")]
    assert all(rows), "a row of the table does not read as | `METHOD /path` | served|not served|refused |"
    return [(m["method"], m["path"], m["status"]) for m in rows if m is not None]


def ask(url: str, method: str) -> tuple[int, str]:
    body = b"{}" if method in ("POST", "PATCH") else None
    content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, str(json.loads(text).get("message", ""))
        except ValueError:
            return error.code, text


def test_the_table_lists_both_kinds_of_rows():
    statuses = {status for _, _, status in table_rows(DOC.read_text())}
    assert statuses == {"served", "not served", "refused"}


def test_every_row_of_the_table_is_true(cluster: ClusterHarness):
    ns = cluster.namespace()
    pod = {
        "metadata": {"name": "doc-pod"},
        "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep", "60"]}]},
    }
    cluster.core.create_namespaced_pod(ns, pod)
    cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "doc-cm"}})
    wrong = []
    for method, path, status in table_rows(DOC.read_text()):
        url = cluster.cluster.url + path.format(ns=ns, pod="doc-pod", cm="doc-cm")
        code, message = ask(url, method)
        if status == "served":
            ok = code not in (404, 405) or (code == 404 and message != NOT_FOUND)
        elif status == "not served":
            ok = code == 404
        else:
            ok = code == 400 and "websockets" in message
        if not ok:
            wrong.append(f"{method} {path} ({status}): {code} {message}")
    assert not wrong, "\n".join(wrong)


def test_every_pod_subresource_served_is_in_the_table():
    pods = next(rtype for rtype in BUILTINS if rtype.plural == "pods")
    listed = {path.rsplit("/", 1)[-1] for _, path, status in table_rows(DOC.read_text()) if "{pod}" in path}
    assert {"log", "exec", "attach", "portforward"} <= set(pods.subresources)
    assert {"log", "exec", "attach", "portforward"} <= listed
