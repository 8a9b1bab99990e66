"""Service DNS for HTTP, end to end: pods (real processes) reach a Service by name through HTTP_PROXY."""

from __future__ import annotations

import json
import shutil
import textwrap
from typing import Any

import pytest

from localcluster.kubelet.envvars import with_service_proxy

from .conftest import ClusterHarness

pytestmark = pytest.mark.cluster

DIRECT = "localhost,127.0.0.1,127.0.0.0/8,::1"

FETCH_WITH_URLLIB = """
    import json, os, urllib.error, urllib.request

    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return [answer.status, answer.read().decode()]
        except urllib.error.HTTPError as error:
            return [error.code, error.read().decode()]
"""

FETCH_WITH_HTTPX = """
    import json, os, httpx

    client = httpx.Client(timeout=10)  # trust_env, as by default

    def get(url):
        answer = client.get(url)
        return [answer.status_code, answer.text]
"""

REPORT = """
    ns, web = os.environ["NS"], os.environ["WEB_IP"]
    urls = {
        "qualified": f"http://web.{ns}.svc:8000/hello.txt",
        "fqdn": f"http://web.{ns}.svc.cluster.local:8000/hello.txt",
        "bare": "http://web:8000/hello.txt",
        "unknown": f"http://nope.{ns}.svc:8000/",
        "pod_ip": f"http://{web}:8080/hello.txt",
    }
    env = {name: os.environ.get(name) for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")}
    print(json.dumps({"env": env, **{key: get(url) for key, url in urls.items()}}), flush=True)
"""


def client_pod(name: str, command: list[str], web_ip: str, env: list[dict[str, Any]] | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": command,
                    "env": [
                        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "WEB_IP", "value": web_ip},
                        *(env or []),
                    ],
                }
            ],
        },
    }


def python(*parts: str) -> list[str]:
    return ["python", "-c", "".join(textwrap.dedent(part) for part in parts)]


@pytest.fixture(scope="module")
def web(cluster: ClusterHarness) -> tuple[str, str]:
    """A namespace with Service `web` (port 8000 -> named port http) in front of `python -m http.server`;
    returns (namespace, the web pod's IP)."""
    ns = cluster.namespace()
    cluster.core.create_namespaced_config_map(
        ns, {"metadata": {"name": "content"}, "data": {"hello.txt": "hi"}}
    )
    server = {
        "name": "main",
        "image": "python:3.11",
        "command": ["python", "-m", "http.server", "8080", "--bind", "$(POD_IP)", "--directory", "/srv"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
        "volumeMounts": [{"name": "content", "mountPath": "/srv"}],
    }
    pod = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [server], "volumes": [{"name": "content", "configMap": {"name": "content"}}]},
    }
    cluster.core.create_namespaced_pod(ns, pod)
    service = {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 8000, "targetPort": "http"}]}
    cluster.core.create_namespaced_service(ns, {"metadata": {"name": "web"}, "spec": service})
    ready = cluster.wait_for_pod(
        ns, "web", lambda p: any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())
    )
    return ns, ready.status.pod_ip


def finished_output(cluster: ClusterHarness, ns: str, name: str) -> str:
    pod = cluster.wait_for_pod(ns, name, lambda p: p.status.phase in ("Succeeded", "Failed"))
    log = cluster.core.read_namespaced_pod_log(name, ns)
    assert pod.status.phase == "Succeeded", log
    return log


def proxy_counts(cluster: ClusterHarness) -> dict[str, int]:
    return cluster.cluster.call(lambda: dict(cluster.cluster.cluster.server.service_dns.counts))


def test_urllib_and_httpx_reach_a_service_by_its_dns_names(cluster: ClusterHarness, web: tuple[str, str]):
    ns, web_ip = web
    proxy_port = cluster.cluster.service_proxy_url.rsplit(":", 1)[1]
    clients = {"urllib": FETCH_WITH_URLLIB, "httpx": FETCH_WITH_HTTPX}
    for name, fetch in clients.items():
        cluster.core.create_namespaced_pod(ns, client_pod(name, python(fetch, REPORT), web_ip))
    for name in clients:
        report = json.loads(finished_output(cluster, ns, name))
        assert report["env"] == {
            "HTTP_PROXY": f"http://{ns}:{name}@127.0.0.1:{proxy_port}",
            "http_proxy": f"http://{ns}:{name}@127.0.0.1:{proxy_port}",
            "NO_PROXY": DIRECT,
            "no_proxy": DIRECT,
        }
        for key in ("qualified", "fqdn", "bare", "pod_ip"):
            assert report[key] == [200, "hi"], (name, key, report[key])
        status, message = report["unknown"]
        assert status == 502
        assert f'service "nope" not found in namespace "{ns}"' in message


@pytest.mark.skipif(
    shutil.which("curl") is None, reason="needs curl, a client that understands CIDR in NO_PROXY"
)
def test_a_client_that_understands_the_cidr_entry_reaches_pod_ips_directly(
    cluster: ClusterHarness, web: tuple[str, str]
):
    ns, web_ip = web
    script = 'curl -sS "http://$WEB_IP:8080/hello.txt"; echo; curl -sS "http://web:8000/hello.txt"'
    before = proxy_counts(cluster)
    cluster.core.create_namespaced_pod(ns, client_pod("curl", ["sh", "-c", script], web_ip))
    assert finished_output(cluster, ns, "curl") == "hi\nhi"
    after = proxy_counts(cluster)
    assert after.get("relayed", 0) == before.get("relayed", 0)  # the pod IP request went direct
    assert after["service"] == before.get("service", 0) + 1


def test_proxy_variables_the_pod_sets_itself_are_kept(cluster: ClusterHarness, web: tuple[str, str]):
    ns, web_ip = web
    own = [{"name": "http_proxy", "value": "http://corporate:3128"}]
    script = python("""
        import json, os
        names = ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
        print(json.dumps({name: os.environ.get(name) for name in names}))
    """)
    cluster.core.create_namespaced_pod(ns, client_pod("own-proxy", script, web_ip, own))
    assert json.loads(finished_output(cluster, ns, "own-proxy")) == {
        "HTTP_PROXY": None,
        "http_proxy": "http://corporate:3128",
        "NO_PROXY": DIRECT,
        "no_proxy": DIRECT,
    }


def test_each_proxy_variable_pair_is_added_only_where_neither_spelling_is_set():
    proxy = "http://ns:pod@127.0.0.1:1"
    assert with_service_proxy({"A": "1"}, proxy, DIRECT) == {
        "A": "1",
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
        "NO_PROXY": DIRECT,
        "no_proxy": DIRECT,
    }
    assert with_service_proxy({"HTTP_PROXY": "x", "no_proxy": "y"}, proxy, DIRECT) == {
        "HTTP_PROXY": "x",
        "no_proxy": "y",
    }
