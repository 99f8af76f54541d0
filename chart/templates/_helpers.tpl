{{- define "wxauth.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wxauth.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wxauth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wxauth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wxauth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "wxauth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "wxauth.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "wxauth.fullname" .) -}}
{{- end -}}

{{- define "wxauth.signingKeysSecretName" -}}
{{- .Values.signingKeys.existingSecret | default (printf "%s-signing-keys" (include "wxauth.fullname" .)) -}}
{{- end -}}

{{/* Above SHUTDOWN_TIMEOUT_MS and the preStop pause, so Kubernetes never kills a draining instance. */}}
{{- define "wxauth.terminationGracePeriodSeconds" -}}
{{- $shutdownMs := int (.Values.config.SHUTDOWN_TIMEOUT_MS | default "10000") -}}
{{- add (div (add $shutdownMs 999) 1000) (int .Values.preStopSleepSeconds) (int .Values.terminationGraceExtraSeconds) -}}
{{- end -}}
