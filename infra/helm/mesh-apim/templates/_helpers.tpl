{{/* Names and labels shared by every template. */}}
{{- define "mesh-apim.labels" -}}
app.kubernetes.io/part-of: mesh-apim
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mesh-apim.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{/* envFrom of every component: the shared ConfigMap, then the credentials Secret (optional). */}}
{{- define "mesh-apim.envFrom" -}}
- configMapRef:
    name: mesh-apim-config
- secretRef:
    name: {{ .Values.credentialsSecret }}
    optional: true
{{- end -}}

{{/* A component Deployment's pod-level boilerplate (securityContext, pull secrets). */}}
{{- define "mesh-apim.podSpecCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
