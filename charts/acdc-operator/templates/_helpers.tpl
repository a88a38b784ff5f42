{{/* Release-scoped name, capped at the 63 characters Kubernetes allows in names and labels. */}}
{{- define "acdc-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "acdc-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "acdc-operator.labels" -}}
{{ include "acdc-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "acdc-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "acdc-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "acdc-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* kopf peering object shared by the replicas of this release (KopfPeering or ClusterKopfPeering). */}}
{{- define "acdc-operator.peeringName" -}}
{{- include "acdc-operator.fullname" . -}}
{{- end -}}

{{/* Namespaces a namespaced install watches, as JSON: watchNamespaces, else the release's own. */}}
{{- define "acdc-operator.namespaces" -}}
{{- if and .Values.clusterWide .Values.watchNamespaces -}}
{{- fail "set either clusterWide or watchNamespaces, not both" -}}
{{- end -}}
{{- default (list .Release.Namespace) .Values.watchNamespaces | toJson -}}
{{- end -}}
