{{- define "keyway.name" -}}keyway-controller{{- end -}}
{{- define "keyway.labels" -}}
app.kubernetes.io/name: {{ include "keyway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "keyway.selector" -}}
app.kubernetes.io/name: {{ include "keyway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "keyway.rules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
- apiGroups: ["secret-sync.x-k8s.io"]
  resources: ["secretsyncs"]
  verbs: ["list", "watch"]
- apiGroups: ["secret-sync.x-k8s.io"]
  resources: ["secretsyncs/status"]
  verbs: ["patch"]
- apiGroups: ["secrets-store.csi.x-k8s.io"]
  resources: ["secretproviderclasses"]
  verbs: ["list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
