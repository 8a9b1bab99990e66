#!/usr/bin/env bash
# make kind-demo: `make demo` on a real Kubernetes cluster. Creates the kind cluster agent-supervisor-demo,
# builds both images from the Dockerfile and loads them into it, installs the chart, deploys the scripted model
# server, applies the one_for_all team example, kills one agent pod and shows how the supervisor reacts, then
# deletes the cluster.
#
# Needs a running Docker engine and kind on PATH; kubectl and helm come from .tools/bin (make tools).
# KEEP=1 keeps the cluster afterwards (also after a failure, to look around); delete it yourself with
#   kind delete cluster --name agent-supervisor-demo
set -euo pipefail

CLUSTER=agent-supervisor-demo
# No dirname: the prerequisite checks must work with nothing on PATH.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here=.
REPO="$(cd "$here/.." && pwd)"
TOOLS="$REPO/.tools/bin"
SYSTEM_NAMESPACE=agent-supervisor-system
NAMESPACE=default
RELEASE=agent-supervisor
TAG=kind-demo
OPERATOR_IMAGE="agent-supervisor-operator:$TAG"
AGENT_IMAGE="agent-supervisor-agent:$TAG"
EXAMPLE="$REPO/examples/one-for-all-team.yaml"
MODEL_SECRET="$REPO/examples/model-secret.yaml"
SUPERVISOR=team
CRASHED_CHILD=researcher
START_TIMEOUT=300
RESTART_TIMEOUT=180

die() {
  echo "kind-demo: $*" >&2
  exit 1
}

say() {
  printf '\n==> %s\n' "$*"
}

# with_timeout SECONDS PROGRAM ARGS...: `docker info` can hang on a daemon that accepts connections but does
# not answer. PROGRAM is resolved here: timeout(1) would search an unexported PATH (bash's default one).
with_timeout() {
  local seconds=$1 program
  program="$(command -v "$2")"
  shift 2
  if command -v timeout >/dev/null 2>&1; then
    timeout "$seconds" "$program" "$@"
  else
    "$program" "$@"
  fi
}

check_prerequisites() {
  command -v docker >/dev/null 2>&1 ||
    die "docker is not installed: install Docker Engine or Docker Desktop (https://docs.docker.com/get-docker/), start it, and run again"
  local out reason
  if ! out="$(with_timeout 30 docker info --format '{{.ServerVersion}}' 2>&1)"; then
    reason="$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 || true)"
    die "no running Docker engine (docker info: ${reason:-no answer}): start Docker (Docker Desktop, or sudo systemctl start docker) and run again"
  fi
  command -v kind >/dev/null 2>&1 ||
    die "kind is not on PATH: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) and run again"
  local tool
  for tool in kubectl helm; do
    [[ -x "$TOOLS/$tool" ]] || die "$tool is missing from $TOOLS: run make tools (bash scripts/fetch-tools.sh) and run again"
  done
}

kubectl() { "$TOOLS/kubectl" "$@"; }
helm() { "$TOOLS/helm" "$@"; }

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 2 s until it succeeds; fails naming WHAT at the end.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    ((SECONDS < deadline)) || die "timed out after ${limit}s waiting for $what"
    sleep 2
  done
}

cleanup() {
  local status=$?
  trap - EXIT
  if ((status != 0)) && [[ -s "$KUBECONFIG" ]]; then
    echo "kind-demo: failed; the cluster's pods and the operator's last log lines:" >&2
    kubectl get pods -A -o wide >&2 || true
    kubectl logs -n "$SYSTEM_NAMESPACE" "deployment/$RELEASE" --tail=30 >&2 || true
  fi
  if [[ "${KEEP:-0}" == 1 ]]; then
    say "KEEP=1: kind cluster $CLUSTER keeps running; to use it:"
    echo "    export KUBECONFIG=$KUBECONFIG PATH=$TOOLS:\$PATH"
    echo "    kubectl get otp,pods -A"
    echo "    kind delete cluster --name $CLUSTER   # when done"
  else
    say "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
    rm -rf "$WORK"
  fi
  exit "$status"
}

model_server_manifest() {
  # The local demo's model server (pod and Service model-server, port 8000), with the agent image's
  # entrypoint (agent-runtime) instead of a local command.
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: model-server
  namespace: $SYSTEM_NAMESPACE
  labels: {app: model-server}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: server
      image: $AGENT_IMAGE
      imagePullPolicy: Never
      args: ["model-server", "--host", "0.0.0.0", "--port", "8000"]
      ports:
        - {name: http, containerPort: 8000}
      readinessProbe:
        httpGet: {path: /v1/models, port: http}
        periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: model-server
  namespace: $SYSTEM_NAMESPACE
spec:
  selector: {app: model-server}
  ports:
    - {name: http, port: 8000, targetPort: http}
EOF
}

supervisor_field() {
  kubectl get agentsupervisor "$SUPERVISOR" -n "$NAMESPACE" -o "jsonpath=$1"
}

running_pod_of() {
  local names
  names="$(kubectl get pods -n "$NAMESPACE" -l "otp.agents.dev/agent=$SUPERVISOR-$1" \
    --field-selector=status.phase=Running -o 'jsonpath={.items[*].metadata.name}')"
  echo "${names%% *}"
}

show_state() {
  say "kubectl get otp"
  kubectl get otp -n "$NAMESPACE"
  say "kubectl get pods -L otp.agents.dev/child,otp.agents.dev/attempt"
  kubectl get pods -n "$NAMESPACE" -L otp.agents.dev/child,otp.agents.dev/attempt
}

recovered() {
  [[ "$(supervisor_field '{.status.restartsInWindow}')" != "$restarts_before" ]] || return 1
  local pod
  pod="$(running_pod_of "$CRASHED_CHILD")"
  [[ -n "$pod" && "$pod" != "$killed_pod" ]] || return 1
  [[ "$(supervisor_field '{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}')" == Running/True ]]
}

check_prerequisites

WORK="$(mktemp -d "${TMPDIR:-/tmp}/agent-supervisor-kind-demo.XXXXXX")"
export KUBECONFIG="$WORK/kubeconfig"
export KUBECACHEDIR="$WORK/kubecache"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

existing="$(kind get clusters 2>/dev/null || true)"
if grep -qx "$CLUSTER" <<<"$existing"; then
  say "reusing the existing kind cluster $CLUSTER"
else
  say "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 180s
fi
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"

for target in operator agent; do
  image="agent-supervisor-$target:$TAG"
  say "docker build --target $target -t $image ."
  docker build --target "$target" --tag "$image" "$REPO"
done
say "kind load docker-image $OPERATOR_IMAGE $AGENT_IMAGE"
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$AGENT_IMAGE"

say "helm install $RELEASE charts/agent-supervisor (namespace $SYSTEM_NAMESPACE)"
helm upgrade --install "$RELEASE" "$REPO/charts/agent-supervisor" \
  --namespace "$SYSTEM_NAMESPACE" --create-namespace \
  --set "image.repository=${OPERATOR_IMAGE%%:*}" --set "image.tag=$TAG" --set image.pullPolicy=Never \
  --set "agentImage.repository=${AGENT_IMAGE%%:*}" --set "agentImage.tag=$TAG" \
  --wait --timeout 5m

say "starting the scripted model server (pod model-server in $SYSTEM_NAMESPACE)"
model_server_manifest | kubectl apply -f -
kubectl wait pod/model-server -n "$SYSTEM_NAMESPACE" --for=condition=Ready --timeout=180s

say "kubectl apply -f ${MODEL_SECRET##*/} -f ${EXAMPLE##*/}"
kubectl apply -n "$NAMESPACE" -f "$MODEL_SECRET" -f "$EXAMPLE"
say "waiting for AgentSupervisor $SUPERVISOR to be Ready"
kubectl wait "agentsupervisor/$SUPERVISOR" -n "$NAMESPACE" --for=condition=Ready --timeout="${START_TIMEOUT}s"
show_state

restarts_before="$(supervisor_field '{.status.restartsInWindow}')"
killed_pod="$(running_pod_of "$CRASHED_CHILD")"
[[ -n "$killed_pod" ]] || die "no running pod for child $CRASHED_CHILD of $SUPERVISOR"
say "crashing agent $CRASHED_CHILD: deleting pod $killed_pod at once (--grace-period=0 --force)"
kubectl delete pod "$killed_pod" -n "$NAMESPACE" --grace-period=0 --force --wait=false
say "waiting for supervisor $SUPERVISOR to react (restarts before: $restarts_before)"
wait_until "$RESTART_TIMEOUT" "supervisor $SUPERVISOR to restart $CRASHED_CHILD and be Ready again" recovered
say "supervisor $SUPERVISOR restarted its children (restarts now: $(supervisor_field '{.status.restartsInWindow}'))"
show_state
say "kubectl get events --field-selector involvedObject.name=$SUPERVISOR"
kubectl get events -n "$NAMESPACE" --field-selector "involvedObject.name=$SUPERVISOR"

say "demo finished"
