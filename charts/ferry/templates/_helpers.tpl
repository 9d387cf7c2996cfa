{{/* Names, labels and small computed values shared by the templates. */}}

{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferry.fullname" -}}
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

{{- define "ferry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ferry.labels" -}}
helm.sh/chart: {{ include "ferry.chart" . }}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferry
{{- end }}

{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ferry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
"true" when an entry of operator.watchNamespaces is a kopf pattern (glob *, ?, negation !, or a
comma-separated list) rather than one exact namespace name; empty otherwise.
*/}}
{{- define "ferry.watchPatterns" -}}
{{- range .Values.operator.watchNamespaces }}
{{- if regexMatch "[*?!,]" . }}true{{ end }}
{{- end }}
{{- end }}

{{- define "ferry.clusterName" -}}
{{- default .Release.Name .Values.cluster.name }}
{{- end }}

{{/*
The StorageNodes to render, as a JSON list of {name, state, rmUserData, skipRebalance, forceRemove}:
cluster.nodes when given, else cluster.nodeCount nodes named <cluster>-node-<i>; cluster.nodeStates
overrides the state by name.
*/}}
{{- define "ferry.nodes" -}}
{{- $cluster := include "ferry.clusterName" . }}
{{- $nodes := list }}
{{- if .Values.cluster.nodes }}
{{- range .Values.cluster.nodes }}
{{- $nodes = append $nodes (deepCopy .) }}
{{- end }}
{{- else }}
{{- range $i := until (int .Values.cluster.nodeCount) }}
{{- $nodes = append $nodes (dict "name" (printf "%s-node-%d" $cluster (add1 $i))) }}
{{- end }}
{{- end }}
{{- $seen := dict }}
{{- $out := list }}
{{- range $nodes }}
{{- if hasKey $seen .name }}
{{- fail (printf "cluster.nodes: node %q is listed twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $state := default "online" .state }}
{{- if hasKey $.Values.cluster.nodeStates .name }}
{{- $state = get $.Values.cluster.nodeStates .name }}
{{- end }}
{{- $out = append $out (dict "name" .name "state" $state "rmUserData" (default false .rmUserData) "skipRebalance" (default false .skipRebalance) "forceRemove" (default false .forceRemove)) }}
{{- end }}
{{- range $name, $_ := .Values.cluster.nodeStates }}
{{- if not (hasKey $seen $name) }}
{{- fail (printf "cluster.nodeStates: %q is not one of this release's nodes (%s)" $name (keys $seen | sortAlpha | join ", ")) }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* Labels of a monitoring object: the chart's, monitoring.labels, then the object's own `labels`. */}}
{{- define "ferry.monitoringLabels" -}}
{{ include "ferry.labels" .root }}
{{- with .root.Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- with .own }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The PodMonitor's namespaceSelector: monitoring.podMonitor.namespaceSelector when given, else the watched
namespaces when they are all exact names, else any namespace.
*/}}
{{- define "ferry.podMonitorNamespaces" -}}
{{- if .Values.monitoring.podMonitor.namespaceSelector }}
{{- toYaml .Values.monitoring.podMonitor.namespaceSelector }}
{{- else if and .Values.operator.watchNamespaces (not (include "ferry.watchPatterns" .)) }}
matchNames:
{{- toYaml .Values.operator.watchNamespaces | nindent 2 }}
{{- else }}
any: true
{{- end }}
{{- end }}
