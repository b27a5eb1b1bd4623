{{/* Names, labels and shared pieces of the chart's objects. */}}

{{- define "logsentinel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: <release> when it already contains the chart's name. */}}
{{- define "logsentinel.fullname" -}}
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

{{/* A component's object name: <fullname>-<component>. */}}
{{- define "logsentinel.component" -}}
{{- printf "%s-%s" (include "logsentinel.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A cluster-scoped object's name: <fullname>-<component>-<namespace>, so that releases in
two namespaces (or the repository's own operator-clusterrole.yaml applied by hand) never clash. */}}
{{- define "logsentinel.clusterComponent" -}}
{{- printf "%s-%s" (include "logsentinel.component" .) .root.Release.Namespace | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{- define "logsentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "logsentinel.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "logsentinel.labels" -}}
{{ include "logsentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: logsentinel
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "logsentinel.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret and key holding the database URL. */}}
{{- define "logsentinel.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.database.url -}}
{{- include "logsentinel.component" (dict "root" . "component" "database") -}}
{{- else -}}
{{- fail "set database.url (a PostgreSQL URL) or database.existingSecret (a Secret holding it)" -}}
{{- end -}}
{{- end -}}

{{- define "logsentinel.databaseKey" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.existingSecretKey }}{{- else -}}url{{- end -}}
{{- end -}}

{{/* The Secret with the API's JWT key and bootstrap admin password. */}}
{{- define "logsentinel.apiSecret" -}}
{{- default (include "logsentinel.component" (dict "root" . "component" "api")) .Values.api.existingSecret -}}
{{- end -}}

{{- define "logsentinel.databaseEnv" -}}
- name: LOGSENTINEL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "logsentinel.databaseSecret" . }}
      key: {{ include "logsentinel.databaseKey" . }}
{{- end -}}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "logsentinel.tmpVolume" -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- end -}}

{{- define "logsentinel.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
