"""`agent-supervisor operator`: run the operator (kopf underneath) until SIGTERM or loss of leadership.

Start-up order: health and metrics endpoints first (a follower is alive too), then the Lease; only the Lease
holder starts kopf and the reconcile workers. Losing the Lease stops everything at once and exits with
EXIT_LEADERSHIP_LOST so that the pod restarts as a follower.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Iterable, Sequence
from typing import Final

import kopf

from agent_supervisor.api import GROUP, VERSION
from agent_supervisor.controller import handlers, metrics
from agent_supervisor.controller.control_token import ControlTokenError, control_token, token_sha256
from agent_supervisor.controller.kube import ApiError, KubeClient
from agent_supervisor.controller.leader import LeaderElector, LeadershipLostError, LeaseSettings
from agent_supervisor.controller.reconciler import Controller
from agent_supervisor.controller.resync import Resync
from agent_supervisor.translate import labels
from agent_supervisor.translate.policy import Policy, parse_endpoint_prefix, parse_label
from agent_supervisor.translate.runtime_config import DEFAULT_PEER_TEMPLATE
from agent_supervisor.translate.settings import OperatorSettings

log = logging.getLogger("agent_supervisor.operator")

EXIT_LEADERSHIP_LOST: Final = 3
EXIT_SETUP_FAILED: Final = 2
DEFAULT_IMAGE: Final = "ghcr.io/agent-supervisor/agent-supervisor-agent:0.1.0"


class SetupError(Exception):
    """The operator cannot start; the message says what to fix."""


def _otlp_endpoint(value: str) -> str:
    if not re.match(r"^https?://[^\s/?#]+(/[^\s]*)?$", value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an http(s) URL: give the collector's OTLP/HTTP base URL, e.g. "
            "http://otel-collector.observability:4318"
        )
    return value.rstrip("/")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agent-supervisor operator",
        description="Run the operator that turns Agents and AgentSupervisors into supervised pods.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch this namespace (repeatable); default: all namespaces",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    parser.add_argument("--default-image", default=DEFAULT_IMAGE, help="agent image when a spec sets none")
    parser.add_argument(
        "--metrics-port", type=int, default=8080, help="port of /metrics, /healthz and /readyz"
    )
    parser.add_argument(
        "--metrics-host",
        # The pod's own address when it is known: on the local cluster pods share the host's network.
        default=os.environ.get("POD_IP") or "0.0.0.0",
        help="address of the metrics endpoint (default: $POD_IP, else all interfaces)",
    )
    parser.add_argument(
        "--peer-template",
        default=DEFAULT_PEER_TEMPLATE,
        help="base URL agents use to reach a peer, with {name}, {namespace} and {api} placeholders "
        f"(default {DEFAULT_PEER_TEMPLATE})",
    )
    parser.add_argument(
        "--peers-via-api-server",
        action="store_true",
        help="the peer template goes through the API server's service proxy (e.g. on the local cluster)",
    )
    parser.add_argument(
        "--pod-api-url",
        default=None,
        help="the API server URL as seen from agent pods (default: their in-cluster environment)",
    )
    parser.add_argument(
        "--otlp-endpoint",
        type=_otlp_endpoint,
        default=None,
        help="OTLP/HTTP endpoint agent pods send their traces to, e.g. "
        "http://otel-collector.observability:4318 (sets OTEL_EXPORTER_OTLP_ENDPOINT in new agent pods; an "
        "agent's own env wins)",
    )
    parser.add_argument(
        "--lease-namespace",
        default=None,
        help="namespace of the leader Lease (default: the operator's own namespace, else 'default')",
    )
    parser.add_argument(
        "--id", dest="identity", default=None, help="this replica's identity (default: hostname-pid)"
    )
    parser.add_argument("--lease-duration", type=float, default=15.0, help="Lease duration in seconds")
    parser.add_argument("--lease-renew", type=float, default=5.0, help="Lease renew period in seconds")
    parser.add_argument(
        "--start-deadline",
        type=int,
        default=120,
        help="seconds a new agent pod may take to become Ready before its start counts as failed",
    )
    parser.add_argument(
        "--resync-period",
        type=float,
        default=60.0,
        help="seconds between LISTs that find objects deleted while a watch was down; 0 turns it off",
    )
    parser.add_argument(
        "--finished-pod-ttl",
        type=float,
        default=60.0,
        help="seconds the finished pod of a replaced incarnation is kept (for kubectl logs) before it is "
        "deleted in a batch; 0 deletes it as soon as its replacement is decided",
    )
    parser.add_argument(
        "--in-place-restarts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="new agent pods run a pod supervisor, and a restart whose pod is healthy is a new process in "
        "that pod instead of a new pod (default: on)",
    )
    parser.add_argument(
        "--allow-test-tools",
        action="store_true",
        help="accept test-only tools (crash) in Agent specs; for tests and demos only",
    )
    _policy_args(parser)
    parser.add_argument("--workers", type=int, default=8, help="concurrent reconciles")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logs")
    args = parser.parse_args(list(argv))
    if args.resync_period < 0:
        parser.error("--resync-period must not be negative")
    if args.finished_pod_ttl < 0:
        parser.error("--finished-pod-ttl must not be negative (0 deletes replaced pods at once)")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if not 0 < args.lease_renew < args.lease_duration:
        parser.error("--lease-renew must be positive and shorter than --lease-duration")
    try:
        args.policy = _policy(args)
    except ValueError as error:
        parser.error(str(error))
    return args


def _policy_args(parser: argparse.ArgumentParser) -> None:
    """The admission policy (translate/policy.py, docs/operations.md "Trust model"); each flag repeatable,
    none given: no restriction."""
    group = parser.add_argument_group("policy", "what Agents and AgentSupervisors may use; each repeatable")
    group.add_argument(
        "--allowed-model-endpoint",
        action="append",
        default=[],
        metavar="URL",
        help="a model.endpoint must lie under one of these URLs (same scheme, host and port; path below)",
    )
    group.add_argument(
        "--allowed-image",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a spec's image and a worker's image must match one of these shell patterns "
        "(the default agent image is always allowed)",
    )
    group.add_argument(
        "--allowed-service-account",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a serviceAccountName must match one of these shell patterns (none: the agent's own account)",
    )
    group.add_argument(
        "--secret-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="every Secret a spec references must carry these labels",
    )


def _policy(args: argparse.Namespace) -> Policy:
    endpoints = []
    for value in args.allowed_model_endpoint:
        try:
            endpoints.append(parse_endpoint_prefix(value))
        except ValueError as error:
            raise ValueError(f"--allowed-model-endpoint: {error}") from None
    secret_labels = {}
    for value in args.secret_label:
        try:
            key, label = parse_label(value)
        except ValueError as error:
            raise ValueError(f"--secret-label: {error}") from None
        secret_labels[key] = label
    return Policy(
        model_endpoints=tuple(endpoints),
        images=tuple(args.allowed_image),
        service_accounts=tuple(args.allowed_service_account),
        secret_labels=secret_labels,
    )


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: kopf computes one for every watch event (a deep copy of the object), but only its
    on-create/update/resume handlers read it, and the operator registers none. At the width of a large
    supervisor that copy was a tenth of the operator's CPU during a group restart."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def kopf_settings() -> kopf.OperatorSettings:
    """kopf as a thin event source: it watches and indexes; the operator's own code writes everything."""
    settings = kopf.OperatorSettings()
    # Our Lease election decides who acts; kopf's peering would need its own CRDs.
    settings.peering.standalone = True
    # Handlers are only on-event and indexing handlers, which keep no state on the objects; should kopf ever
    # store something, it stays under the project's own, short prefix.
    prefix = f"kopf.{GROUP}"
    settings.persistence.finalizer = f"{GROUP}/kopf"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
    settings.persistence.diffbase_storage = NoDiffBase()
    # Events are posted by the operator itself (after its status writes, throttled); not by kopf's logging.
    settings.posting.enabled = False
    # Serve the resources present at start-up: no namespace/CRD watching, and so no RBAC for them.
    settings.scanning.disabled = True
    settings.watching.label_selectors[handlers.POD_SELECTOR] = labels.MANAGED_SELECTOR
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    return settings


async def _check_crds(kube: KubeClient) -> None:
    try:
        await kube.get_path(f"/apis/{GROUP}/{VERSION}")
    except ApiError as error:
        if error.status == 0:
            raise SetupError(f"cannot reach the Kubernetes API server: {error.message}") from error
        raise SetupError(
            f"the API group {GROUP}/{VERSION} is not served ({error.status} {error.reason}): install the "
            "CRDs first (kubectl apply -f crds/)"
        ) from error


def _lease_namespace(args: argparse.Namespace, kube: KubeClient) -> str:
    if args.lease_namespace:
        return str(args.lease_namespace)
    if args.namespace:
        return str(args.namespace[0])
    return kube.default_namespace or "default"


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    identity = args.identity or f"{socket.gethostname()}-{os.getpid()}"
    async with KubeClient(on_response=metrics.count_api_response) as kube:
        await _check_crds(kube)
        health = metrics.HealthServer(args.metrics_host, args.metrics_port, ready=lambda: True)
        await health.start()
        lease = LeaseSettings(
            namespace=_lease_namespace(args, kube),
            identity=identity,
            duration_seconds=args.lease_duration,
            renew_seconds=args.lease_renew,
        )
        elector = LeaderElector(kube, lease)
        try:
            return await _lead(args, kube, elector, identity, stop)
        finally:
            metrics.LEADER.set(0)
            await elector.release()
            await health.stop()


async def _lead(
    args: argparse.Namespace, kube: KubeClient, elector: LeaderElector, identity: str, stop: asyncio.Event
) -> int:
    acquiring = asyncio.create_task(elector.acquire())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        acquiring.cancel()
        return 0
    metrics.LEADER.set(1)
    # Pods made with in-place restarts are controlled with the token whatever this run's flag says.
    try:
        token = await control_token(kube, _lease_namespace(args, kube))
    except (ControlTokenError, ApiError) as error:
        raise SetupError(f"in-place restarts: {error}") from error
    settings = OperatorSettings(
        default_image=args.default_image,
        start_deadline_seconds=args.start_deadline,
        peer_template=args.peer_template,
        peers_via_api_server=args.peers_via_api_server,
        api_url_for_pods=args.pod_api_url,
        otlp_endpoint=args.otlp_endpoint,
        control_token_sha256=token_sha256(token) if args.in_place_restarts else None,
        allow_test_tools=args.allow_test_tools,
        policy=args.policy,
    )
    controller = Controller(
        kube, settings, identity=identity, finished_pod_ttl=args.finished_pod_ttl, control_token=token
    )
    metrics.register_phases(controller.phases)
    metrics.register_budgets(controller.budgets)
    # Long-lived tasks first: kopf treats tasks created after it started as its own, waits for them when it
    # stops and cancels them.
    controller.start(args.workers)
    if args.resync_period:
        controller.run(Resync(controller, args.namespace, args.resync_period).run(), name="resync")
    if controller.finished.enabled:
        controller.run(controller.sweep_finished_pods(), name="finished-pods")
    holding = asyncio.create_task(elector.hold())
    operator = asyncio.create_task(
        kopf.operator(
            registry=handlers.build_registry(controller),
            settings=kopf_settings(),
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
        )
    )
    done, _ = await asyncio.wait({operator, holding, stopping}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if holding in done and isinstance(holding.exception(), LeadershipLostError):
        log.error(
            "leadership lost: %s; exiting so that this replica restarts as a follower", holding.exception()
        )
        code = EXIT_LEADERSHIP_LOST
    # Stop acting first (on SIGTERM kopf's cleanup handler has done it already), then kopf (it handles
    # SIGTERM itself, or is cancelled here).
    await controller.stop()
    holding.cancel()
    stopping.cancel()
    operator.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await operator
    if not operator.cancelled() and operator.exception() is not None:
        log.error("kopf stopped with an error: %s", operator.exception())
        code = code or 1
    return code


def configure_logging(verbose: bool) -> None:
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON)
    if not verbose:
        # kopf reports every handled watch event at INFO; with thousands of pods that is noise.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.verbose)
    # Everything imported so far (about 130,000 objects: modules, functions, types) lives as long as the
    # process. Frozen, it is left out of every later garbage collection, which then scans only what the
    # operator holds for its agents: full collections, which stall every reconcile, get shorter.
    gc.collect()
    gc.freeze()
    try:
        return asyncio.run(run(args))
    except (kopf.LoginError, SetupError) as error:
        log.error("%s", error)
        return EXIT_SETUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
