{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "ferrimq-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects, overridable with fullnameOverride. */}}
{{- define "ferrimq-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels every object of the release carries. */}}
{{- define "ferrimq-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ferrimq-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferrimq
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "ferrimq-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrimq-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "ferrimq-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferrimq-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespace watched when watch.scope is namespace. */}}
{{- define "ferrimq-operator.watchNamespace" -}}
{{- default .Release.Namespace .Values.watch.namespace }}
{{- end }}

{{/* The operator image reference. */}}
{{- define "ferrimq-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Exactly what the controller touches (operator/src/reconcile.rs, children.rs): it watches
BrokerClusters, patches their finalizer and status (server-side apply), applies, lists, watches
and prunes its children, deletes broker claims on clean-up (reclaimOnScaleIn: Delete) and
publishes events. Pods are never read. `brokerclusters/finalizers` lets owner references with
blockOwnerDeletion pass the OwnerReferencesPermissionEnforcement admission plugin.
*/}}
{{- define "ferrimq-operator.controllerRules" -}}
- apiGroups: ["ferrimq.io"]
  resources: ["brokerclusters"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ferrimq.io"]
  resources: ["brokerclusters/status"]
  verbs: ["get", "patch"]
- apiGroups: ["ferrimq.io"]
  resources: ["brokerclusters/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["list", "deletecollection"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
