{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "dai-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name used for every object of the release. */}}
{{- define "dai-gateway.fullname" -}}
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

{{- define "dai-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dai-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dai-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "dai-gateway.labels" -}}
helm.sh/chart: {{ include "dai-gateway.chart" . }}
app.kubernetes.io/name: {{ include "dai-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dai-gateway
{{- end }}

{{- define "dai-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dai-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dai-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Trial Redis (in-chart) object names. */}}
{{- define "dai-gateway.redisTrialName" -}}
{{- printf "%s-redis-trial" (include "dai-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Secret holding the Redis password: the user's existing one or the chart's. */}}
{{- define "dai-gateway.redisPasswordSecret" -}}
{{- if .Values.redis.password.existingSecret }}
{{- .Values.redis.password.existingSecret }}
{{- else }}
{{- printf "%s-redis" (include "dai-gateway.fullname" .) }}
{{- end }}
{{- end }}

{{- define "dai-gateway.redisPasswordKey" -}}
{{- if .Values.redis.password.existingSecret }}
{{- .Values.redis.password.existingSecretKey }}
{{- else }}
{{- "redis-password" }}
{{- end }}
{{- end }}

{{- define "dai-gateway.redisPasswordEnabled" -}}
{{- if or .Values.redis.password.value .Values.redis.password.existingSecret }}true{{ end }}
{{- end }}

{{/* Redis URL without password: the trial Redis, else the external one. */}}
{{- define "dai-gateway.redisUrl" -}}
{{- if .Values.redisTrial.enabled }}
{{- printf "redis://%s:6379" (include "dai-gateway.redisTrialName" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{- define "dai-gateway.tlsSecret" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "dai-gateway.fullname" .) }}
{{- end }}
{{- end }}

{{- define "dai-gateway.tlsDir" -}}/etc/dai-gateway-tls{{- end }}

{{/*
The gateway's config.yaml: the `config` value passed through as is, plus what only the
chart knows (listen ports, Redis address, TLS file paths inside the pod).
*/}}
{{- define "dai-gateway.config" -}}
{{- $cfg := deepCopy (default (dict) .Values.config) }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.ports.grpc)) }}
{{- $_ := set $cfg "httpListen" (printf "0.0.0.0:%d" (int .Values.ports.http)) }}
{{- if or .Values.ports.v3Grpc .Values.ports.v3Http }}
{{- $v3 := deepCopy (default (dict) $cfg.v3) }}
{{- if .Values.ports.v3Grpc }}{{ $_ := set $v3 "listen" (printf "0.0.0.0:%d" (int .Values.ports.v3Grpc)) }}{{ end }}
{{- if .Values.ports.v3Http }}{{ $_ := set $v3 "httpListen" (printf "0.0.0.0:%d" (int .Values.ports.v3Http)) }}{{ end }}
{{- $_ := set $cfg "v3" $v3 }}
{{- end }}
{{- $url := include "dai-gateway.redisUrl" . }}
{{- if or $url .Values.redis.cluster .Values.redis.sentinel.name .Values.redis.keyPrefix }}
{{- $redis := dict }}
{{- if $url }}{{ $_ := set $redis "url" $url }}{{ end }}
{{- if .Values.redis.cluster }}{{ $_ := set $redis "cluster" .Values.redis.cluster }}{{ end }}
{{- if .Values.redis.sentinel.name }}{{ $_ := set $redis "sentinel" (dict "name" .Values.redis.sentinel.name "nodes" .Values.redis.sentinel.nodes) }}{{ end }}
{{- if .Values.redis.keyPrefix }}{{ $_ := set $redis "keyPrefix" .Values.redis.keyPrefix }}{{ end }}
{{- $_ := set $cfg "redis" $redis }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $dir := include "dai-gateway.tlsDir" . }}
{{- $tls := dict "cert" (printf "%s/tls.crt" $dir) "key" (printf "%s/tls.key" $dir) }}
{{- if .Values.tls.clientAuth }}{{ $_ := set $tls "clientCa" (printf "%s/ca.crt" $dir) }}{{ end }}
{{- $_ := set $cfg "tls" $tls }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
