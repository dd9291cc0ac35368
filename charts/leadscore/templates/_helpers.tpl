{{/* Chart name. */}}
{{- define "leadscore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Chart label value. */}}
{{- define "leadscore.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "name"). */}}
{{- define "leadscore.labels" -}}
app.kubernetes.io/name: {{ include "leadscore.name" .ctx }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/part-of: leadscore
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ include "leadscore.chart" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels; call with (dict "ctx" $ "component" "name"). */}}
{{- define "leadscore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leadscore.name" .ctx }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{/* Image reference; call with (dict "ctx" $ "image" "predictor"). */}}
{{- define "leadscore.image" -}}
{{- $v := .ctx.Values.image -}}
{{- $override := index $v.overrides .image -}}
{{- if $override -}}
{{- $override -}}
{{- else -}}
{{- printf "%s/%s:%s" $v.registry (index $v.names .image) $v.tag -}}
{{- end -}}
{{- end -}}

{{/* Pod security context (restricted). */}}
{{- define "leadscore.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* Container security context (restricted). */}}
{{- define "leadscore.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* Broker ingress URL of this namespace. */}}
{{- define "leadscore.brokerUrl" -}}
{{- printf "http://broker-ingress.knative-eventing.svc.cluster.local/%s/%s" .Release.Namespace .Values.eventing.broker.name -}}
{{- end -}}

{{/* MLflow tracking URI (deployed server or the external one). */}}
{{- define "leadscore.mlflowUri" -}}
{{- if .Values.mlflow.enabled -}}
{{- printf "http://leadscore-mlflow.%s.svc.cluster.local:5000" .Release.Namespace -}}
{{- else -}}
{{- .Values.mlflow.externalTrackingUri -}}
{{- end -}}
{{- end -}}

{{/* Redis host:port for the rate limiter. */}}
{{- define "leadscore.redisAddress" -}}
{{- if .Values.redis.enabled -}}
{{- printf "leadscore-redis.%s.svc.cluster.local:6379" .Release.Namespace -}}
{{- else -}}
{{- required "redis.externalAddress is required when redis.enabled=false" .Values.redis.externalAddress -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block. */}}
{{- define "leadscore.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}
