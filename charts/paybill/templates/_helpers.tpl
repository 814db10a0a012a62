{{- define "paybill.fullname" -}}paybill-operator{{- end -}}
{{- define "paybill.labels" -}}
app.kubernetes.io/name: paybill
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "paybill.selectorLabels" -}}
app.kubernetes.io/name: paybill
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
