{{/* Names, labels and the values the templates share. */}}

{{- define "agent-supervisor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The object name prefix; 63 characters at most because some Kubernetes name fields are DNS labels. */}}
{{- define "agent-supervisor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "agent-supervisor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades, because a Deployment's selector cannot change. */}}
{{- define "agent-supervisor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-supervisor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "agent-supervisor.labels" -}}
helm.sh/chart: {{ include "agent-supervisor.chart" . }}
{{ include "agent-supervisor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agent-supervisor
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "agent-supervisor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agent-supervisor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is given; the tag defaults to the appVersion. */}}
{{- define "agent-supervisor.imageRef" -}}
{{- $image := index . 0 -}}
{{- $appVersion := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $appVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "agent-supervisor.operatorImage" -}}
{{- include "agent-supervisor.imageRef" (list .Values.image .Chart.AppVersion) -}}
{{- end -}}

{{- define "agent-supervisor.agentImage" -}}
{{- include "agent-supervisor.imageRef" (list .Values.agentImage .Chart.AppVersion) -}}
{{- end -}}

{{/* The leader Lease's name is fixed in the operator (controller/leader.py LEASE_NAME). */}}
{{- define "agent-supervisor.leaseName" -}}
agent-supervisor-operator
{{- end -}}

{{/* The pod supervisors' control Secret's name is fixed in the operator (translate/labels.py CONTROL_SECRET). */}}
{{- define "agent-supervisor.controlSecretName" -}}
agent-supervisor-control
{{- end -}}

{{/* The port of the agents' HTTP API (messages, config reload): fixed in the operator (agent_pod.py). */}}
{{- define "agent-supervisor.agentPort" -}}
8080
{{- end -}}

{{/* The pod supervisor's control port (in-place restarts): agent_runtime/incarnation_protocol.py. */}}
{{- define "agent-supervisor.controlPort" -}}
8081
{{- end -}}

{{/* Namespaces that get the agent NetworkPolicies, one per line. */}}
{{- define "agent-supervisor.networkPolicyNamespaces" -}}
{{- $namespaces := .Values.networkPolicy.namespaces | default .Values.watchNamespaces | default (list .Release.Namespace) -}}
{{- range $namespaces }}
{{ . }}
{{- end -}}
{{- end -}}

{{/*
What the operator does to the resources of the namespaces it serves: the same rules in a ClusterRole
(all namespaces) or in a Role per watched namespace. Every verb is listed with the code that makes the call in
docs/operations.md ("RBAC rules"), a table tests/chart/test_rbac_doc.py keeps equal to what this renders.
kube.py names every resource the operator touches. Nothing cluster-wide beyond this: main.py disables kopf's
scanning, so kopf neither lists CRDs nor namespaces; the API group check in main.py is a discovery request,
which every authenticated client may make.
*/}}
{{- define "agent-supervisor.operatorRules" -}}
- apiGroups: ["otp.agents.dev"]
  resources: ["agents", "agentsupervisors"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["otp.agents.dev"]
  resources: ["agents/status", "agentsupervisors/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "create", "patch", "delete", "deletecollection"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "update", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* Configuration mistakes the schema cannot express; each message names the value and the fix. */}}
{{- define "agent-supervisor.validate" -}}
{{- if ge (int .Values.leaderElection.renewPeriodSeconds) (int .Values.leaderElection.leaseDurationSeconds) -}}
{{- fail (printf "leaderElection.renewPeriodSeconds (%v) must be shorter than leaderElection.leaseDurationSeconds (%v)" .Values.leaderElection.renewPeriodSeconds .Values.leaderElection.leaseDurationSeconds) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes the metrics Service" -}}
{{- end -}}
{{- end -}}

{{/* The Observer's labels: the chart's, with component observer (the operator's selector must not match it). */}}
{{- define "agent-supervisor.observerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-supervisor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: observer
{{- end -}}

{{- define "agent-supervisor.observerLabels" -}}
helm.sh/chart: {{ include "agent-supervisor.chart" . }}
{{ include "agent-supervisor.observerSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agent-supervisor
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The namespaces the Observer watches: its own list, else the operator's, else every namespace (empty). */}}
{{- define "agent-supervisor.observerNamespaces" -}}
{{- toJson (default .Values.watchNamespaces .Values.observer.namespaces) -}}
{{- end -}}

{{/* What the Observer may read: get, list and watch, no Secrets anywhere (docs/operations.md, "Observer").
The services/proxy get reaches the agents' token-free /v1/summary through the API server. */}}
{{- define "agent-supervisor.observerRules" -}}
- apiGroups: ["otp.agents.dev"]
  resources: ["agents", "agentsupervisors"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods", "events"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log", "services/proxy"]
  verbs: ["get"]
{{- end -}}
