{{/*
Names. A component's objects are named <fullname>-<component>. The fullname is cut to 41
characters so that the longest, <fullname>-review-api, stays within 52: a StatefulSet's name
must leave room for the pod ordinal and the controller-revision-hash label (63 at most).
*/}}
{{- define "hitl-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hitl-gate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 41 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 41 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 41 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ctx: dict root name */}}
{{- define "hitl-gate.componentFullname" -}}
{{- printf "%s-%s" (include "hitl-gate.fullname" .root) .name -}}
{{- end -}}

{{/*
The four services: values key, component name, workload kind and where its /metrics is.
scorer, router and feedback are StatefulSets (stable per-replica transactional ids, see the
chart README); review-api is a Deployment.
*/}}
{{- define "hitl-gate.components" -}}
- {key: scorer, name: scorer, kind: StatefulSet, metricsPortName: metrics}
- {key: router, name: router, kind: StatefulSet, metricsPortName: metrics}
- {key: feedback, name: feedback, kind: StatefulSet, metricsPortName: metrics}
- {key: reviewApi, name: review-api, kind: Deployment, metricsPortName: http}
{{- end -}}

{{- define "hitl-gate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "hitl-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hitl-gate
{{- end -}}

{{/* ctx: dict root name */}}
{{- define "hitl-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hitl-gate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* ctx: dict root name */}}
{{- define "hitl-gate.componentLabels" -}}
{{ include "hitl-gate.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "hitl-gate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hitl-gate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ctx: dict root name svc. <registry>/<prefix><service>:<tag>, or @<digest> when pinned. */}}
{{- define "hitl-gate.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := .svc.image.repository | default (printf "%s%s" $img.repositoryPrefix .name) -}}
{{- if $img.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" $img.registry) $repo -}}
{{- end -}}
{{- if .svc.image.digest -}}
{{- printf "%s@%s" $repo .svc.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.svc.image.tag | default $img.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "hitl-gate.policyContent" -}}
{{- .Values.policy.content | default (.Files.Get "files/policy.yaml") -}}
{{- end -}}

{{- define "hitl-gate.policyConfigMap" -}}
{{- .Values.policy.existingConfigMap | default (printf "%s-policy" (include "hitl-gate.fullname" .)) -}}
{{- end -}}

{{- define "hitl-gate.policyKey" -}}
{{- if .Values.policy.existingConfigMap -}}{{ .Values.policy.existingConfigMapKey }}{{- else -}}policy.yaml{{- end -}}
{{- end -}}

{{/*
Environment of a service container: the pod's own name and namespace (for per-replica ids),
Kafka, the policy file, then the merged `env` maps (the service's wins). ctx: dict root name svc.
*/}}
{{- define "hitl-gate.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- $key := "" }}
{{- range fromYamlArray (include "hitl-gate.components" .root) }}
{{- if eq .name $.name }}{{ $key = .key }}{{ end }}
{{- end }}
{{ include "hitl-gate.kafkaEnv" (dict "root" .root "key" $key) }}
- name: HITL_POLICY_FILE
  value: /etc/hitl/policy/policy.yaml
{{- include "hitl-gate.signingEnv" . }}
{{- $env := merge (deepCopy (.svc.env | default dict)) (deepCopy (.root.Values.env | default dict)) }}
{{- range $k, $v := $env }}
- name: {{ $k }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end -}}

{{/*
Signed events, per component: the `signing` entry of the key it signs with (the topic it writes,
`signs`) and the `signing.verifyKeys` entries of the topics it reads (libs/runtime settings:
each service's `signs` and `verifies`).
*/}}
{{- define "hitl-gate.signingRoles" -}}
scorer: {reads: [scorerModels]}
router: {signs: router, topic: routerThresholds, reads: [decisions, routerThresholds]}
feedback: {signs: feedback, topic: scorerModels, reads: [decisions, scorerModels]}
review-api: {signs: reviewApi, topic: decisions, reads: [routerThresholds]}
{{- end -}}

{{/*
A service's signing settings: its private key only ever as a secretKeyRef, the public key maps
as JSON values. ctx: dict root name svc.
*/}}
{{- define "hitl-gate.signingEnv" -}}
{{- $s := .root.Values.signing -}}
{{- if $s.disabled }}
- name: HITL_SIGNING_DISABLED
  value: "true"
{{- else }}
{{- $role := index (fromYaml (include "hitl-gate.signingRoles" .root)) .name }}
{{- with $role.signs }}
{{- $key := index $s . }}
- name: HITL_SIGNING_KEY_ID
  value: {{ $key.keyId | quote }}
- name: HITL_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $key.existingSecret }}
      key: {{ $key.secretKey }}
{{- end }}
{{- range $role.reads }}
- name: {{ printf "HITL_%s_VERIFY_KEYS" (snakecase . | upper) }}
  value: {{ index $s.verifyKeys . | default dict | toJson | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Settings the chart itself sets from structured values: `env` maps may not set them. */}}
{{- define "hitl-gate.reservedEnv" -}}
- HITL_KAFKA_BOOTSTRAP
- HITL_KAFKA_SECURITY_PROTOCOL
- HITL_KAFKA_SASL_MECHANISM
- HITL_KAFKA_SASL_USERNAME
- HITL_KAFKA_SASL_PASSWORD
- HITL_KAFKA_SSL_CA_LOCATION
- HITL_TOPIC_PREFIX
- HITL_LOG_LEVEL
- HITL_LOG_FORMAT
- HITL_POLICY_FILE
- HITL_METRICS_PORT
- HITL_TRANSACTIONAL_ID
- HITL_INSTANCE_ID
- HITL_DATA_DIR
- HITL_RETRAIN_ENABLED
- HITL_HTTP_HOST
- HITL_HTTP_PORT
- HITL_DATABASE_URL
- HITL_WEBHOOK_URL
- HITL_WEBHOOK_SECRET
- HITL_SMTP_HOST
- HITL_SMTP_PORT
- HITL_SMTP_STARTTLS
- HITL_SMTP_USERNAME
- HITL_SMTP_PASSWORD
- HITL_SMTP_FROM
- HITL_SMTP_TO
- HITL_OIDC_JWKS_URL
- HITL_OIDC_ISSUER
- HITL_OIDC_AUDIENCE
- HITL_SIGNING_DISABLED
- HITL_SIGNING_KEY
- HITL_SIGNING_KEY_ID
- HITL_DECISIONS_VERIFY_KEYS
- HITL_SCORER_MODELS_VERIFY_KEYS
- HITL_ROUTER_THRESHOLDS_VERIFY_KEYS
{{- end -}}

{{/* ctx: the root context */}}
{{- define "hitl-gate.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: policy
  mountPath: /etc/hitl/policy
  readOnly: true
{{- if or .Values.kafka.tls.caSecret .Values.kafka.tls.caConfigMap }}
- name: kafka-ca
  mountPath: /etc/hitl/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* ctx: the root context */}}
{{- define "hitl-gate.kafkaCaVolume" -}}
{{- $tls := .Values.kafka.tls -}}
{{- if $tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $tls.caSecret }}
    items:
      - key: {{ $tls.caKey }}
        path: {{ $tls.caKey }}
{{- else if $tls.caConfigMap }}
- name: kafka-ca
  configMap:
    name: {{ $tls.caConfigMap }}
    items:
      - key: {{ $tls.caKey }}
        path: {{ $tls.caKey }}
{{- end }}
{{- end -}}

{{/* ctx: the root context */}}
{{- define "hitl-gate.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: policy
  configMap:
    name: {{ include "hitl-gate.policyConfigMap" . }}
    items:
      - key: {{ include "hitl-gate.policyKey" . }}
        path: policy.yaml
{{- include "hitl-gate.kafkaCaVolume" . }}
{{- end -}}

{{/*
Pod annotations: a checksum of the chart-rendered policy, so a policy change rolls the pods
(the services read the policy file at start only). ctx: dict root name svc.
*/}}
{{- define "hitl-gate.podAnnotations" -}}
{{- if not .root.Values.policy.existingConfigMap }}
checksum/policy: {{ include "hitl-gate.policyContent" .root | sha256sum }}
{{- end }}
{{- with merge (deepCopy (.svc.podAnnotations | default dict)) (deepCopy (.root.Values.podAnnotations | default dict)) }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Pod-level settings every service shares: identity, security, scheduling. ctx: dict root name svc.
The pods never call the Kubernetes API, so no service account token is mounted.
*/}}
{{- define "hitl-gate.podSpecCommon" -}}
serviceAccountName: {{ include "hitl-gate.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.svc.nodeSelector | default .root.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.svc.tolerations | default .root.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.svc.affinity | default .root.Values.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "hitl-gate.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Probe timing: the chart-wide `probes`, overridden by the service's own. ctx: dict root svc. */}}
{{- define "hitl-gate.probeTiming" -}}
{{- toYaml (mustMergeOverwrite (deepCopy .root.Values.probes) (deepCopy (.svc.probes | default dict))) -}}
{{- end -}}

{{/*
Checks that stop a render with a message naming the value and the fix, for mistakes that would
otherwise only show as a crash-looping pod.
*/}}
{{- define "hitl-gate.validate" -}}
{{- $v := .Values -}}
{{- if not $v.kafka.bootstrap -}}
{{- fail "kafka.bootstrap is empty: set it to your brokers' host:port list, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092" -}}
{{- end -}}
{{- if not (has $v.kafka.securityProtocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail (printf "kafka.securityProtocol %q: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- include "hitl-gate.validateSasl" . -}}
{{- if and $v.kafka.tls.caSecret $v.kafka.tls.caConfigMap -}}
{{- fail "set kafka.tls.caSecret or kafka.tls.caConfigMap, not both" -}}
{{- end -}}
{{- if and $v.policy.content $v.policy.existingConfigMap -}}
{{- fail "set policy.content or policy.existingConfigMap, not both" -}}
{{- end -}}
{{- if and (not $v.policy.existingConfigMap) (not (include "hitl-gate.policyContent" .)) -}}
{{- fail "the chart has no files/policy.yaml: run deploy/helm/sync-files.sh (or set policy.content)" -}}
{{- end -}}
{{- $reserved := fromYamlArray (include "hitl-gate.reservedEnv" .) -}}
{{- range $c := fromYamlArray (include "hitl-gate.components" .) -}}
{{- $svc := index $v $c.key -}}
{{- range $k, $_ := merge (deepCopy ($svc.env | default dict)) (deepCopy ($v.env | default dict)) -}}
{{- if has $k $reserved -}}
{{- fail (printf "%s is set by the chart from structured values (kafka.*, topicPrefix, log.*, policy.*, %s.*): set it there, not in an env map" $k $c.key) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $c.kind "StatefulSet") (not (gt (int $svc.metricsPort) 0)) -}}
{{- fail (printf "%s.metricsPort must be a port: the probes and Prometheus use /metrics" $c.key) -}}
{{- end -}}
{{- end -}}
{{- $api := $v.reviewApi -}}
{{- if and $api.enabled (not $api.database.existingSecret) (or (gt (int $api.replicas) 1) $api.autoscaling.enabled) -}}
{{- fail "reviewApi on SQLite (no reviewApi.database.existingSecret) runs one replica only: set a PostgreSQL URL Secret, or replicas 1 and autoscaling off" -}}
{{- end -}}
{{- if and $api.oidc.jwksUrl (or (not $api.oidc.issuer) (not $api.oidc.audience)) -}}
{{- fail "reviewApi.oidc.issuer and reviewApi.oidc.audience are required with reviewApi.oidc.jwksUrl" -}}
{{- end -}}
{{- if and $api.webhook.urlKey (not $api.webhook.existingSecret) -}}
{{- fail "reviewApi.webhook.urlKey reads the URL from reviewApi.webhook.existingSecret: set that Secret's name" -}}
{{- end -}}
{{- if not (has $v.feedback.retrain.mode (list "firstReplica" "all" "none")) -}}
{{- fail (printf "feedback.retrain.mode %q: use firstReplica, all or none" $v.feedback.retrain.mode) -}}
{{- end -}}
{{- include "hitl-gate.validateSigning" . -}}
{{- include "hitl-gate.validateAcls" . -}}
{{- end -}}

{{/*
Signing: every enabled writer has its key id and a Secret reference (the private key itself
never goes in values), its key id is among the public keys its readers trust, and every enabled
reader has the public keys of what it reads. The same rules the services apply at start.
*/}}
{{- define "hitl-gate.validateSigning" -}}
{{- $v := .Values -}}
{{- $s := $v.signing -}}
{{- $kidPattern := "^[A-Za-z0-9._-]{1,64}$" -}}
{{- $off := "or, for a local try-out only, signing.disabled=true" -}}
{{- $roles := fromYaml (include "hitl-gate.signingRoles" .) -}}
{{- range $topic, $keys := $s.verifyKeys -}}
{{- range $kid, $public := $keys -}}
{{- if not (regexMatch $kidPattern $kid) -}}
{{- fail (printf "signing.verifyKeys.%s: key id %q is not 1-64 letters, digits, '.', '_' or '-'" $topic $kid) -}}
{{- end -}}
{{- if ne (len (b64dec (toString $public))) 32 -}}
{{- fail (printf "signing.verifyKeys.%s.%s is not a base64 Ed25519 public key (32 bytes): use the JSON line `hitl-keys new` prints" $topic $kid) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $s.disabled -}}
{{- range $c := fromYamlArray (include "hitl-gate.components" .) -}}
{{- $svc := index $v $c.key -}}
{{- $role := index $roles $c.name -}}
{{- $topic := $role.topic | default "" -}}
{{- if and $svc.enabled $role.signs -}}
{{- $key := index $s $role.signs -}}
{{- range $field, $_ := $key -}}
{{- if not (has $field (list "keyId" "existingSecret" "secretKey")) -}}
{{- fail (printf "signing.%s.%s is not a setting: a private key never goes in values; store it in a Secret and set signing.%s.existingSecret and .secretKey (chart README, Signing keys)" $role.signs $field $role.signs) -}}
{{- end -}}
{{- end -}}
{{- $needed := not (and (eq $c.name "feedback") (eq $svc.retrain.mode "none")) -}}
{{- if and $needed (or (not $key.existingSecret) (not $key.secretKey)) -}}
{{- fail (printf "signing.%s.existingSecret and signing.%s.secretKey are required: %s signs every record it writes to %s with a private key read from that Secret. Fix: make a key pair with `uv run hitl-keys new --kid <id>`, create the Secret from it (chart README, Signing keys) and set signing.%s.existingSecret, .secretKey and .keyId; %s" $role.signs $role.signs $c.name (snakecase $topic | replace "_" "-") $role.signs $off) -}}
{{- end -}}
{{- if or $needed $key.existingSecret -}}
{{- if not (regexMatch $kidPattern ($key.keyId | default "" | toString)) -}}
{{- fail (printf "signing.%s.keyId %q: set the id of the key in signing.%s.existingSecret (the --kid given to hitl-keys), 1-64 letters, digits, '.', '_' or '-'" $role.signs ($key.keyId | default "" | toString) $role.signs) -}}
{{- end -}}
{{- $trusted := index $s.verifyKeys $topic | default dict -}}
{{- if and $trusted (not (hasKey $trusted (toString $key.keyId))) -}}
{{- fail (printf "signing.%s.keyId %q is not in signing.verifyKeys.%s: add its public key (the JSON line `hitl-keys new` printed) there, or the readers refuse everything %s signs" $role.signs (toString $key.keyId) $topic $c.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $c := fromYamlArray (include "hitl-gate.components" .) -}}
{{- $svc := index $v $c.key -}}
{{- $role := index $roles $c.name -}}
{{- $topic := $role.topic | default "" -}}
{{- if $svc.enabled -}}
{{- range $read := $role.reads -}}
{{- $readsIt := or (ne $c.name "feedback") (eq $read "decisions") (ne $svc.retrain.mode "none") -}}
{{- if and $readsIt (ne $read $topic) (not (index $s.verifyKeys $read)) -}}
{{- fail (printf "signing.verifyKeys.%s is empty: %s reads %s and accepts only records signed by a trusted key. Fix: set it to {\"<key id>\": \"<base64 public key>\"}, the writer's public keys (the JSON line `hitl-keys new` prints); %s" $read $c.name (snakecase $read | replace "_" "-") $off) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* acls.strimzi: what the KafkaUsers need to be applied (templates/kafkausers.yaml). */}}
{{- define "hitl-gate.validateAcls" -}}
{{- $acls := .Values.acls -}}
{{- if $acls.strimzi.enabled -}}
{{- if not $acls.strimzi.cluster -}}
{{- fail "acls.strimzi.cluster is required with acls.strimzi.enabled: the name of your Strimzi Kafka cluster (the strimzi.io/cluster label the User Operator watches)" -}}
{{- end -}}
{{- if not (has ($acls.strimzi.authentication | default "") (list "" "scram-sha-512" "tls" "tls-external")) -}}
{{- fail (printf "acls.strimzi.authentication %q: use scram-sha-512, tls, tls-external or \"\"" $acls.strimzi.authentication) -}}
{{- end -}}
{{- if and (include "hitl-gate.strimziScram" .) (not (hasPrefix "SASL_" .Values.kafka.securityProtocol)) -}}
{{- fail (printf "acls.strimzi.authentication scram-sha-512 makes SCRAM users, but kafka.securityProtocol is %s: the services would connect without signing in, and the KafkaUsers' ACLs would not apply to them. Fix: kafka.securityProtocol=SASL_SSL (or SASL_PLAINTEXT) on a listener with scram-sha-512 authentication, and kafka.sasl.mechanism=SCRAM-SHA-512" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- range $key, $principal := $acls.principals -}}
{{- if not (hasKey $acls.rules $key) -}}
{{- fail (printf "acls.rules.%s is missing: every principal in acls.principals needs its rules" $key) -}}
{{- end -}}
{{- range $rule := index $acls.rules $key -}}
{{- if not (has $rule.type (list "topic" "group" "transactionalId" "cluster")) -}}
{{- fail (printf "acls.rules.%s: type %q: use topic, group, transactionalId or cluster" $key $rule.type) -}}
{{- end -}}
{{- if not (has ($rule.patternType | default "literal") (list "literal" "prefixed")) -}}
{{- fail (printf "acls.rules.%s: patternType %q: use literal or prefixed" $key $rule.patternType) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
