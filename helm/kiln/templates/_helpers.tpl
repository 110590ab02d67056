{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "kiln.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; 35 characters leave room for "-worker-<pool name of up to 20>". */}}
{{- define "kiln.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 35 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 35 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 35 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kiln.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kiln
{{- end -}}

{{- define "kiln.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kiln.scheduler.name" -}}{{ include "kiln.fullname" . }}-scheduler{{- end -}}

{{/* The scheduler's gRPC address as workers and clients in the cluster dial it. */}}
{{- define "kiln.scheduler.address" -}}
{{ include "kiln.scheduler.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.scheduler.grpcPort }}
{{- end -}}

{{- define "kiln.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kiln.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag of an image value ({repository, tag, pullPolicy}). */}}
{{- define "kiln.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/*
A worker pool with workerDefaults filled in (pool keys win), as YAML.
Call: include "kiln.pool" (list $pool $root) | fromYaml
*/}}
{{- define "kiln.pool" -}}
{{- $pool := index . 0 -}}
{{- $root := index . 1 -}}
{{- /* Explicit merge: sprig's mergeOverwrite cannot override with false or 0. */ -}}
{{- $merged := deepCopy $pool -}}
{{- range $key, $default := $root.Values.workerDefaults -}}
{{- if not (hasKey $merged $key) -}}
{{- $_ := set $merged $key (deepCopy $default) -}}
{{- else if and (kindIs "map" $default) (kindIs "map" (get $merged $key)) -}}
{{- $own := get $merged $key -}}
{{- range $subkey, $subdefault := $default -}}
{{- if not (hasKey $own $subkey) -}}
{{- $_ := set $own $subkey $subdefault -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $merged.name -}}
{{- fail "workerPools: every pool needs a name" -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $merged.name) -}}
{{- fail (printf "workerPools: pool name %q must be a DNS label (lower-case letters, digits, '-')" $merged.name) -}}
{{- end -}}
{{- $gpus := int (default 0 $merged.gpus) -}}
{{- /* CPU slots: one by default for a pool without GPUs, none for a GPU pool. */ -}}
{{- if not (hasKey $merged "slots") -}}
{{- $_ := set $merged "slots" (ternary 0 1 (gt $gpus 0)) -}}
{{- end -}}
{{- $slots := int $merged.slots -}}
{{- if and (eq $gpus 0) (eq $slots 0) -}}
{{- fail (printf "workerPools[%s]: needs slots > 0 (CPU slots) or gpus > 0" $merged.name) -}}
{{- end -}}
{{- if not $merged.image -}}
{{- $_ := set $merged "image" (ternary $root.Values.images.workerCuda $root.Values.images.workerCpu (gt $gpus 0)) -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}
