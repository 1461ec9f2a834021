{{/* Kafka: who each client signs in as, its connection settings, and their checks. */}}

{{/*
The Kafka clients the chart runs that sign in: the four services (by values key) and the topic
Job, `topics`. Each may have a SASL user of its own under kafka.sasl.users.
*/}}
{{- define "hitl-gate.kafkaClients" -}}
- scorer
- router
- reviewApi
- feedback
- topics
{{- end -}}

{{/* "true" when the chart renders SCRAM-SHA-512 KafkaUsers (acls.strimzi). ctx: the root context. */}}
{{- define "hitl-gate.strimziScram" -}}
{{- $strimzi := .Values.acls.strimzi -}}
{{- if and $strimzi.enabled (eq ($strimzi.authentication | default "") "scram-sha-512") -}}true{{- end -}}
{{- end -}}

{{/*
The SASL user one Kafka client signs in as (chart README, Kafka users). ctx: dict root key, key
one of hitl-gate.kafkaClients. The first that applies wins:
1. kafka.sasl.users.<key>, when any of its fields is set;
2. for a service, when the chart renders SCRAM KafkaUsers (acls.strimzi): its principal
   acls.principals.<key> as user name, and the Secret Strimzi's User Operator makes for that
   KafkaUser (same name, the password under `password`). This beats the shared user, so turning
   the KafkaUsers on moves every service onto its own user and its own ACLs;
3. the shared kafka.sasl.username, .existingSecret, .passwordKey.
The topic Job has no KafkaUser: it creates topics, which no service's ACLs allow.
Output: YAML {username, existingSecret, passwordKey, from}, `from` the value it came from.
*/}}
{{- define "hitl-gate.saslUser" -}}
{{- $v := .root.Values -}}
{{- $sasl := $v.kafka.sasl -}}
{{- $own := index ($sasl.users | default dict) .key | default dict -}}
{{- if not (kindIs "map" $own) -}}{{- $own = dict -}}{{- end -}}
{{- $principal := "" -}}
{{- if ne .key "topics" -}}
{{- $principal = index ($v.acls.principals | default dict) .key | default "" -}}
{{- end -}}
{{- if or $own.username $own.existingSecret $own.passwordKey -}}
{{- dict "username" ($own.username | default "") "existingSecret" ($own.existingSecret | default "") "passwordKey" ($own.passwordKey | default "password") "from" (printf "kafka.sasl.users.%s" .key) | toYaml -}}
{{- else if and $principal (include "hitl-gate.strimziScram" .root) -}}
{{- dict "username" $principal "existingSecret" $principal "passwordKey" "password" "from" (printf "acls.principals.%s" .key) | toYaml -}}
{{- else -}}
{{- dict "username" ($sasl.username | default "") "existingSecret" ($sasl.existingSecret | default "") "passwordKey" ($sasl.passwordKey | default "password") "from" "kafka.sasl" | toYaml -}}
{{- end -}}
{{- end -}}

{{/*
Kafka connection settings (HITL_KAFKA_*, HITL_TOPIC_PREFIX) of one client, signing in as its own
SASL user (hitl-gate.saslUser). The SASL password is only ever a secretKeyRef.
ctx: dict root key, key one of hitl-gate.kafkaClients.
*/}}
{{- define "hitl-gate.kafkaEnv" -}}
{{- $v := .root.Values -}}
- name: HITL_KAFKA_BOOTSTRAP
  value: {{ $v.kafka.bootstrap | quote }}
- name: HITL_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- with $v.kafka.sasl.mechanism }}
- name: HITL_KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- $user := fromYaml (include "hitl-gate.saslUser" .) }}
{{- if $user.username }}
- name: HITL_KAFKA_SASL_USERNAME
  value: {{ $user.username | quote }}
{{- end }}
{{- if $user.existingSecret }}
- name: HITL_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user.existingSecret }}
      key: {{ $user.passwordKey }}
{{- end }}
{{- if or $v.kafka.tls.caSecret $v.kafka.tls.caConfigMap }}
- name: HITL_KAFKA_SSL_CA_LOCATION
  value: {{ printf "/etc/hitl/kafka-ca/%s" $v.kafka.tls.caKey | quote }}
{{- end }}
- name: HITL_TOPIC_PREFIX
  value: {{ $v.topicPrefix | quote }}
- name: HITL_LOG_LEVEL
  value: {{ $v.log.level | quote }}
- name: HITL_LOG_FORMAT
  value: {{ $v.log.format | quote }}
# Libraries that cache under $HOME write to the scratch volume: the root filesystem is read-only.
- name: HOME
  value: /tmp
{{- end -}}

{{/*
SASL users (hitl-gate.saslUser): the mechanism fits the protocol; every kafka.sasl.users entry
names a client the chart runs, has only the fields of a user reference and is whole; with a SASL
protocol (but OAUTHBEARER, which has no password) every enabled service and the topic Job end up
with a user name and a password Secret; users taken from the KafkaUsers sign in with SCRAM-SHA-512.
*/}}
{{- define "hitl-gate.validateSasl" -}}
{{- $v := .Values -}}
{{- $sasl := $v.kafka.sasl -}}
{{- $protocol := $v.kafka.securityProtocol -}}
{{- $isSasl := hasPrefix "SASL_" $protocol -}}
{{- $clients := fromYamlArray (include "hitl-gate.kafkaClients" .) -}}
{{- $strimzi := include "hitl-gate.strimziScram" . -}}
{{- if $isSasl -}}
{{- if not (has $sasl.mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512" "OAUTHBEARER")) -}}
{{- fail (printf "kafka.sasl.mechanism must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER with kafka.securityProtocol %s" $protocol) -}}
{{- end -}}
{{- else if $sasl.mechanism -}}
{{- fail (printf "kafka.sasl.mechanism is set but kafka.securityProtocol is %s: use SASL_SSL (or SASL_PLAINTEXT)" $protocol) -}}
{{- end -}}
{{- range $key, $entry := $sasl.users | default dict -}}
{{- if not (has $key $clients) -}}
{{- fail (printf "kafka.sasl.users.%s: the chart runs no such Kafka client; use scorer, router, reviewApi, feedback or topics (the topic Job)" $key) -}}
{{- end -}}
{{- if not (kindIs "map" ($entry | default dict)) -}}
{{- fail (printf "kafka.sasl.users.%s must be a map: {username: <user>, existingSecret: <Secret with the password>, passwordKey: <its key, default password>}" $key) -}}
{{- end -}}
{{- $entry = $entry | default dict -}}
{{- range $field, $_ := $entry -}}
{{- if not (has $field (list "username" "existingSecret" "passwordKey")) -}}
{{- fail (printf "kafka.sasl.users.%s.%s is not a setting: use username, existingSecret and passwordKey (a password never goes in values; it is read from the Secret existingSecret names)" $key $field) -}}
{{- end -}}
{{- end -}}
{{- if or $entry.username $entry.existingSecret $entry.passwordKey -}}
{{- if not $isSasl -}}
{{- fail (printf "kafka.sasl.users.%s is set but kafka.securityProtocol is %s: use SASL_SSL (or SASL_PLAINTEXT), or remove kafka.sasl.users" $key $protocol) -}}
{{- end -}}
{{- if or (not $entry.username) (not $entry.existingSecret) -}}
{{- $fallback := "the shared kafka.sasl.username" -}}
{{- if and (eq $strimzi "true") (ne $key "topics") (index ($v.acls.principals | default dict) $key) -}}
{{- $fallback = printf "its KafkaUser, acls.principals.%s" $key -}}
{{- end -}}
{{- fail (printf "kafka.sasl.users.%s is incomplete: set both kafka.sasl.users.%s.username and kafka.sasl.users.%s.existingSecret (the Secret with its password under .passwordKey, default password), or remove the entry to sign in as %s (chart README, Kafka users)" $key $key $key $fallback) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $isSasl (ne $sasl.mechanism "OAUTHBEARER") -}}
{{- if and (or $sasl.username $sasl.existingSecret) (or (not $sasl.username) (not $sasl.existingSecret)) -}}
{{- fail "kafka.sasl.username and kafka.sasl.existingSecret go together (the shared user, and the Secret with its password under kafka.sasl.passwordKey): set both, or neither when every client has a user of its own" -}}
{{- end -}}
{{- range $c := fromYamlArray (include "hitl-gate.components" .) -}}
{{- if (index $v $c.key).enabled -}}
{{- $user := fromYaml (include "hitl-gate.saslUser" (dict "root" $ "key" $c.key)) -}}
{{- if not (and $user.username $user.existingSecret) -}}
{{- $hint := ternary (printf "acls.principals.%s (the name of its KafkaUser)" $c.key) "acls.strimzi.enabled=true with acls.strimzi.authentication=scram-sha-512 (each service then signs in as its own KafkaUser)" (eq $strimzi "true") -}}
{{- fail (printf "%s has no SASL user with kafka.securityProtocol %s and mechanism %s. Fix: set its own kafka.sasl.users.%s.username and .existingSecret (the Secret with its password under .passwordKey), or the shared kafka.sasl.username and kafka.sasl.existingSecret, or %s" $c.name $protocol $sasl.mechanism $c.key $hint) -}}
{{- end -}}
{{- if and (hasPrefix "acls.principals." $user.from) (ne $sasl.mechanism "SCRAM-SHA-512") -}}
{{- fail (printf "%s signs in as its KafkaUser %s (acls.strimzi.authentication scram-sha-512), a SCRAM-SHA-512 user, but kafka.sasl.mechanism is %s: set kafka.sasl.mechanism=SCRAM-SHA-512, or give it kafka.sasl.users.%s" $c.name $user.username $sasl.mechanism $c.key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $v.topics.create -}}
{{- $user := fromYaml (include "hitl-gate.saslUser" (dict "root" $ "key" "topics")) -}}
{{- if not (and $user.username $user.existingSecret) -}}
{{- $why := ternary " (the chart's KafkaUsers may not create topics, and the Job runs before they exist)" "" (eq $strimzi "true") -}}
{{- fail (printf "the topic Job (topics.create) has no SASL user with kafka.securityProtocol %s%s. Fix: set kafka.sasl.users.topics.username and .existingSecret, an admin user allowed to Create and Describe the topics under topicPrefix, or the shared kafka.sasl.username and kafka.sasl.existingSecret; or topics.create=false and create the topics another way (chart README, Kafka users)" $protocol $why) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
