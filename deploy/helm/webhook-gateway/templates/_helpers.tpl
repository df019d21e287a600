{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "webhook-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the chart name.
*/}}
{{- define "webhook-gateway.fullname" -}}
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

{{/*
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "webhook-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels shared by every resource.
*/}}
{{- define "webhook-gateway.labels" -}}
helm.sh/chart: {{ include "webhook-gateway.chart" . }}
{{ include "webhook-gateway.instanceLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webhook-gateway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The release's pods of any component (gateway, topics Job, re-drive Job): used by the
NetworkPolicy.
*/}}
{{- define "webhook-gateway.instanceLabels" -}}
app.kubernetes.io/name: {{ include "webhook-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector of the gateway pods (Deployment, Services, PDB, spread constraints). The
component label keeps the Jobs' pods out of the Services.
*/}}
{{- define "webhook-gateway.selectorLabels" -}}
{{ include "webhook-gateway.instanceLabels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{/*
Name of the admin Service (also the Prometheus `job` label of the scraped metrics).
*/}}
{{- define "webhook-gateway.adminServiceName" -}}
{{- printf "%s-admin" (include "webhook-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "webhook-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "webhook-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "webhook-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Whether the chart creates the Secret: no existingSecret, and at least one inline value.
Returns "true" or "".
*/}}
{{- define "webhook-gateway.createSecret" -}}
{{- $s := .Values.secrets }}
{{- $definitions := false }}
{{- range include "webhook-gateway.definitionSecrets" . | fromJsonArray }}
{{- if .inline }}
{{- $definitions = true }}
{{- end }}
{{- end }}
{{- if and (not $s.existingSecret) (or $s.inline.m2mWebhookSecret $s.inline.transfersSignatureToken $s.inline.kafkaSaslPassword $definitions) -}}
true
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the provider secrets (existing or chart-created).
*/}}
{{- define "webhook-gateway.secretName" -}}
{{- default (include "webhook-gateway.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
The providers file (GATEWAY_PROVIDERS_FILE): providers.definitions as written, under
`providers:`. Both ConfigMaps carrying it and the checksum that rolls the pods use this.
*/}}
{{- define "webhook-gateway.providersFile" -}}
{{ dict "providers" .Values.providers.definitions | toYaml }}
{{- end }}

{{/*
Directory the providers file is mounted in; the file is providers.yaml there.
*/}}
{{- define "webhook-gateway.providersDir" -}}
/etc/webhook-gateway
{{- end }}

{{/*
Name of the ConfigMap holding the providers file for the gateway pods.
*/}}
{{- define "webhook-gateway.providersConfigMap" -}}
{{- printf "%s-providers" (include "webhook-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the copy the topics Job mounts: a pre-install hook runs before the release's
own ConfigMap exists, and a pre-upgrade hook must see the new definitions, not the old.
*/}}
{{- define "webhook-gateway.topicsProvidersConfigMap" -}}
{{- printf "%s-topics-providers" (include "webhook-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Where each configured provider's secret comes from, as a JSON list of
{name, env, secret, key, own, inline}: `secret` is the Secret's name and `key` the key
in it (providers.secrets.<name>, else secrets.existingSecret or the chart's Secret and
<name>-webhook-secret); `own` is true for a provider with its own existingSecret;
`inline` is true when the chart's Secret carries secrets.inline.providers.<name>. The
value itself is not in the list. Every template reads the secrets through this.
*/}}
{{- define "webhook-gateway.definitionSecrets" -}}
{{- $out := list }}
{{- $refs := .Values.providers.secrets | default dict }}
{{- $inline := .Values.secrets.inline.providers | default dict }}
{{- range .Values.providers.definitions }}
{{- $ref := get $refs .name | default dict }}
{{- $own := $ref.existingSecret | default "" }}
{{- /* A public-key provider's variable is its `key` (the same mounting as a secret). */}}
{{- $entry := dict "name" .name "env" (coalesce .secret .key).env "own" (ne $own "") }}
{{- $_ := set $entry "secret" ($own | default (include "webhook-gateway.secretName" $)) }}
{{- $_ := set $entry "key" ($ref.key | default (printf "%s-webhook-secret" .name)) }}
{{- $_ := set $entry "inline" (and (not $own) (not $.Values.secrets.existingSecret) (ne (get $inline .name | default "") "")) }}
{{- $out = append $out $entry }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
Validates the values the schema cannot (relations between keys). Renders nothing.
*/}}
{{- define "webhook-gateway.validate" -}}
{{- $g := .Values.gateway }}
{{- if le (int64 $g.shutdownGraceSecs) (int64 $g.shutdownDelaySecs) }}
{{- fail "gateway.shutdownGraceSecs must be larger than gateway.shutdownDelaySecs" }}
{{- end }}
{{- $s := .Values.secrets }}
{{- if not $s.existingSecret }}
{{- if and .Values.providers.m2m.enabled (not $s.inline.m2mWebhookSecret) }}
{{- fail "providers.m2m.enabled needs secrets.existingSecret, or secrets.inline.m2mWebhookSecret for development (or set providers.m2m.enabled=false)" }}
{{- end }}
{{- if and .Values.providers.transfers.enabled (not $s.inline.transfersSignatureToken) }}
{{- fail "providers.transfers.enabled needs secrets.existingSecret, or secrets.inline.transfersSignatureToken for development (or set providers.transfers.enabled=false)" }}
{{- end }}
{{- if and .Values.kafka.saslPassword.enabled (not .Values.kafka.saslPassword.existingSecret) (not $s.inline.kafkaSaslPassword) }}
{{- fail "kafka.saslPassword.enabled needs secrets.existingSecret, kafka.saslPassword.existingSecret, or secrets.inline.kafkaSaslPassword for development" }}
{{- end }}
{{- end }}
{{- range $property, $_ := .Values.kafka.config }}
{{- if has $property (list "bootstrap.servers" "sasl.password" "message.timeout.ms" "delivery.timeout.ms") }}
{{- fail (printf "kafka.config.%s: set it with kafka.bootstrapServers, kafka.saslPassword or gateway.publishTimeoutMs instead" $property) }}
{{- end }}
{{- end }}
{{- include "webhook-gateway.validateDefinitions" . }}
{{- include "webhook-gateway.validateRedrive" . }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled needs at least one host in ingress.hosts" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.kafka.cidrs) (not .Values.networkPolicy.kafka.peers) }}
{{- fail "networkPolicy.enabled needs networkPolicy.kafka.cidrs or networkPolicy.kafka.peers, or the gateway cannot reach Kafka" }}
{{- end }}
{{- end }}

{{/*
The configured providers' rules that span keys or providers: unique names and secret
variables (two `_FILE` variables of one name would leave one provider without its
secret), a secret source for each, providers.secrets / secrets.inline.providers
naming only defined providers (a misspelt name would silently leave a provider
disabled), and one inline value per key of the chart's Secret. Renders nothing.
*/}}
{{- define "webhook-gateway.validateDefinitions" -}}
{{- $names := list }}
{{- $envs := list "M2M_WEBHOOK_SECRET" "M2M_WEBHOOK_SECRET_FILE" "TRANSFERS_SIGNATURE_TOKEN" "TRANSFERS_SIGNATURE_TOKEN_FILE" }}
{{- range .Values.providers.definitions }}
{{- if has .name $names }}
{{- fail (printf "providers.definitions: the name %s is defined twice" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- $env := (coalesce .secret .key).env }}
{{- $file := printf "%s_FILE" $env }}
{{- if or (has $env $envs) (has $file $envs) }}
{{- fail (printf "providers.definitions: %s: secret.env %s (or %s) is already another provider's variable" .name $env $file) }}
{{- end }}
{{- $envs = concat $envs (list $env $file) }}
{{- end }}
{{- range $section, $map := dict "providers.secrets" .Values.providers.secrets "secrets.inline.providers" .Values.secrets.inline.providers }}
{{- range $name, $_ := $map }}
{{- if not (has $name $names) }}
{{- fail (printf "%s.%s: no provider of that name in providers.definitions" $section $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- $chartKeys := list }}
{{- if include "webhook-gateway.createSecret" . }}
{{- $s := .Values.secrets }}
{{- if $s.inline.m2mWebhookSecret }}
{{- $chartKeys = append $chartKeys $s.keys.m2mWebhookSecret }}
{{- end }}
{{- if $s.inline.transfersSignatureToken }}
{{- $chartKeys = append $chartKeys $s.keys.transfersSignatureToken }}
{{- end }}
{{- if $s.inline.kafkaSaslPassword }}
{{- $chartKeys = append $chartKeys $s.keys.kafkaSaslPassword }}
{{- end }}
{{- end }}
{{- range include "webhook-gateway.definitionSecrets" . | fromJsonArray }}
{{- if and (not .own) (not $.Values.secrets.existingSecret) (not .inline) }}
{{- fail (printf "providers.definitions: %s needs a secret: secrets.existingSecret, providers.secrets.%s.existingSecret, or secrets.inline.providers.%s for development" .name .name .name) }}
{{- end }}
{{- if .inline }}
{{- if has .key $chartKeys }}
{{- fail (printf "secrets.inline.providers.%s: the key %s of the chart's Secret already holds another secret (set providers.secrets.%s.key)" .name .key .name) }}
{{- end }}
{{- $chartKeys = append $chartKeys .key }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The re-drive Job's values that the schema cannot check: `from` (again, for a render
without the schema), since and reset together (the command refuses both), and a
provider that is defined (the command exits 64 on any other, after the upgrade).
Only when the Job is enabled. Renders nothing.
*/}}
{{- define "webhook-gateway.validateRedrive" -}}
{{- $job := .Values.redriveJob }}
{{- if $job.enabled }}
{{- if not (has $job.from (list "unrouted" "deadletter")) }}
{{- fail (printf "redriveJob.from must be unrouted or deadletter, not %v" $job.from) }}
{{- end }}
{{- if and $job.since $job.reset }}
{{- fail "redriveJob.since and redriveJob.reset both set where the re-drive starts: set one of them" }}
{{- end }}
{{- with $job.provider }}
{{- $names := list "m2m" "transfers" }}
{{- range $.Values.providers.definitions }}
{{- $names = append $names .name }}
{{- end }}
{{- if not (has . $names) }}
{{- fail (printf "redriveJob.provider: no provider named %s (m2m, transfers, or a name in providers.definitions)" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the re-drive Job (NOTES.txt names it for `kubectl logs`).
*/}}
{{- define "webhook-gateway.redriveJobName" -}}
{{- printf "%s-redrive" (include "webhook-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The re-drive Job's arguments, a YAML list: `redrive` and a flag for each value set.
*/}}
{{- define "webhook-gateway.redriveArgs" -}}
{{- $job := .Values.redriveJob -}}
- redrive
- --from
- {{ $job.from | quote }}
{{- with $job.since }}
- --since
- {{ . | quote }}
{{- end }}
{{- with $job.until }}
- --until
- {{ . | quote }}
{{- end }}
{{- with $job.provider }}
- --provider
- {{ . | quote }}
{{- end }}
{{- if $job.reset }}
- --reset
{{- end }}
{{- if $job.dryRun }}
- --dry-run
{{- end }}
{{- if gt (int64 $job.rate) 0 }}
- --rate
- {{ int64 $job.rate | quote }}
{{- end }}
{{- with $job.group }}
- --group
- {{ . | quote }}
{{- end }}
{{- if $job.json }}
- --json
{{- end }}
{{- end }}

{{/*
Plain (non-secret) environment of the gateway as a YAML map of strings: the data of the
ConfigMap, and the explicit env of the Jobs (the topics Job runs before the ConfigMap exists).
Numbers go through int64 so that large values never print in exponent form.
*/}}
{{- define "webhook-gateway.configEnv" -}}
{{- $g := .Values.gateway -}}
GATEWAY_LISTEN_ADDR: {{ printf "%s:%d" $g.bindAddress (int64 .Values.containerPorts.http) | quote }}
GATEWAY_ADMIN_ADDR: {{ printf "%s:%d" $g.bindAddress (int64 .Values.containerPorts.admin) | quote }}
GATEWAY_MAX_BODY_BYTES: {{ int64 $g.maxBodyBytes | quote }}
GATEWAY_MAX_BUFFERED_BYTES: {{ int64 $g.maxBufferedBytes | quote }}
GATEWAY_PUBLISH_TIMEOUT_MS: {{ int64 $g.publishTimeoutMs | quote }}
GATEWAY_MAX_INFLIGHT: {{ int64 $g.maxInflight | quote }}
GATEWAY_MAX_CONNECTIONS: {{ int64 $g.maxConnections | quote }}
GATEWAY_TOPIC_PREFIX: {{ $g.topicPrefix | quote }}
{{- with $g.topicOverrides }}
{{- $pairs := list }}
{{- range $type := keys . | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%s" $type (get $g.topicOverrides $type)) }}
{{- end }}
GATEWAY_TOPIC_OVERRIDES: {{ join "," $pairs | quote }}
{{- end }}
GATEWAY_REPLAY_TOLERANCE_SECS: {{ int64 $g.replayToleranceSecs | quote }}
GATEWAY_HEADER_TIMEOUT_SECS: {{ int64 $g.headerTimeoutSecs | quote }}
GATEWAY_BODY_TIMEOUT_MS: {{ int64 $g.bodyTimeoutMs | quote }}
GATEWAY_SECRET_RELOAD_SECS: {{ int64 $g.secretReloadSecs | quote }}
GATEWAY_SHUTDOWN_DELAY_SECS: {{ int64 $g.shutdownDelaySecs | quote }}
GATEWAY_SHUTDOWN_GRACE_SECS: {{ int64 $g.shutdownGraceSecs | quote }}
LOG_FORMAT: {{ $g.logFormat | quote }}
RUST_LOG: {{ $g.logLevel | quote }}
{{- if .Values.providers.definitions }}
GATEWAY_PROVIDERS_FILE: {{ printf "%s/providers.yaml" (include "webhook-gateway.providersDir" .) | quote }}
{{- end }}
KAFKA_BOOTSTRAP_SERVERS: {{ .Values.kafka.bootstrapServers | quote }}
{{- range $property := keys .Values.kafka.config | sortAlpha }}
{{- $value := get $.Values.kafka.config $property }}
{{- if and (kindIs "float64" $value) (eq (float64 (int64 $value)) $value) }}
{{- $value = int64 $value }}
{{- end }}
{{ printf "KAFKA_%s" ($property | upper | replace "." "_") }}: {{ toString $value | quote }}
{{- end }}
{{- end }}

{{/*
The *_FILE variables pointing at the mounted secret files (paths, not secrets).
*/}}
{{- define "webhook-gateway.secretFileEnv" -}}
{{- $dir := .Values.secrets.mountPath | trimSuffix "/" }}
{{- if .Values.providers.m2m.enabled }}
- name: M2M_WEBHOOK_SECRET_FILE
  value: {{ printf "%s/m2m-webhook-secret" $dir | quote }}
{{- end }}
{{- if .Values.providers.transfers.enabled }}
- name: TRANSFERS_SIGNATURE_TOKEN_FILE
  value: {{ printf "%s/transfers-signature-token" $dir | quote }}
{{- end }}
{{- with include "webhook-gateway.kafkaSecretFileEnv" . }}
{{ . | trim }}
{{- end }}
{{- range include "webhook-gateway.definitionSecrets" . | fromJsonArray }}
- name: {{ printf "%s_FILE" .env }}
  value: {{ printf "%s/providers/%s" $dir .name | quote }}
{{- end }}
{{- end }}

{{/*
KAFKA_SASL_PASSWORD_FILE alone: the only secret file of the re-drive Job, which reads
no provider secret.
*/}}
{{- define "webhook-gateway.kafkaSecretFileEnv" -}}
{{- if .Values.kafka.saslPassword.enabled }}
- name: KAFKA_SASL_PASSWORD_FILE
  value: {{ printf "%s/kafka-sasl-password" (.Values.secrets.mountPath | trimSuffix "/") | quote }}
{{- end }}
{{- end }}

{{/*
Whether any secret file is mounted. Returns "true" or "".
*/}}
{{- define "webhook-gateway.hasSecretFiles" -}}
{{- if or .Values.providers.m2m.enabled .Values.providers.transfers.enabled .Values.kafka.saslPassword.enabled .Values.providers.definitions -}}
true
{{- end }}
{{- end }}

{{/*
The pod's volumes, for the gateway and the Jobs: dict "root" (the top context),
"providersConfigMap" (the ConfigMap with the providers file) and, for the re-drive Job,
"kafkaSecretOnly" (true: of the secret files only the Kafka password, no provider's).
The projected volume holds the secret files. Files keep fixed names whatever the keys in
the Secret are called (a configured provider's is providers/<name>, so no provider name
can meet a built-in's file); no subPath, so a rotated Secret reaches the running pods.
*/}}
{{- define "webhook-gateway.volumes" -}}
{{- $kafkaOnly := .kafkaSecretOnly }}
{{- $defs := list }}
{{- if not $kafkaOnly }}
{{- $defs = include "webhook-gateway.definitionSecrets" .root | fromJsonArray }}
{{- end }}
{{- $shared := list }}
{{- $own := dict }}
{{- range $defs }}
{{- if .own }}
{{- $_ := set $own .secret (append (get $own .secret | default (list)) .) }}
{{- else }}
{{- $shared = append $shared . }}
{{- end }}
{{- end }}
{{- with .root }}
{{- $m2m := and (not $kafkaOnly) .Values.providers.m2m.enabled }}
{{- $transfers := and (not $kafkaOnly) .Values.providers.transfers.enabled }}
{{- if include "webhook-gateway.mountsSecrets" (dict "root" . "kafkaSecretOnly" $kafkaOnly) }}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      {{- if or $m2m $transfers (and .Values.kafka.saslPassword.enabled (not .Values.kafka.saslPassword.existingSecret)) $shared }}
      - secret:
          name: {{ include "webhook-gateway.secretName" . }}
          items:
            {{- if $m2m }}
            - key: {{ .Values.secrets.keys.m2mWebhookSecret }}
              path: m2m-webhook-secret
            {{- end }}
            {{- if $transfers }}
            - key: {{ .Values.secrets.keys.transfersSignatureToken }}
              path: transfers-signature-token
            {{- end }}
            {{- if and .Values.kafka.saslPassword.enabled (not .Values.kafka.saslPassword.existingSecret) }}
            - key: {{ .Values.secrets.keys.kafkaSaslPassword }}
              path: kafka-sasl-password
            {{- end }}
            {{- range $shared }}
            - key: {{ .key }}
              path: {{ printf "providers/%s" .name }}
            {{- end }}
      {{- end }}
      {{- if and .Values.kafka.saslPassword.enabled .Values.kafka.saslPassword.existingSecret }}
      - secret:
          name: {{ .Values.kafka.saslPassword.existingSecret }}
          items:
            - key: {{ .Values.secrets.keys.kafkaSaslPassword }}
              path: kafka-sasl-password
      {{- end }}
      {{- range $name := keys $own | sortAlpha }}
      - secret:
          name: {{ $name }}
          items:
            {{- range get $own $name }}
            - key: {{ .key }}
              path: {{ printf "providers/%s" .name }}
            {{- end }}
      {{- end }}
{{- end }}
{{- if .Values.providers.definitions }}
- name: providers
  configMap:
    name: {{ $.providersConfigMap }}
    defaultMode: 0444
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Whether the pod mounts the secrets volume: dict "root" and "kafkaSecretOnly" as for
webhook-gateway.volumes. Returns "true" or "".
*/}}
{{- define "webhook-gateway.mountsSecrets" -}}
{{- if .kafkaSecretOnly }}
{{- if .root.Values.kafka.saslPassword.enabled -}}
true
{{- end }}
{{- else }}
{{- include "webhook-gateway.hasSecretFiles" .root }}
{{- end }}
{{- end }}

{{/*
Volume mounts of the gateway container and the Jobs': dict "root" and
"kafkaSecretOnly" as for webhook-gateway.volumes.
*/}}
{{- define "webhook-gateway.volumeMounts" -}}
{{- with .root }}
{{- if include "webhook-gateway.mountsSecrets" (dict "root" . "kafkaSecretOnly" $.kafkaSecretOnly) }}
- name: secrets
  mountPath: {{ .Values.secrets.mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.providers.definitions }}
- name: providers
  mountPath: {{ include "webhook-gateway.providersDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: longer than the shutdown delay plus the drain grace.
*/}}
{{- define "webhook-gateway.terminationGracePeriodSeconds" -}}
{{- $g := .Values.gateway }}
{{- add (int64 $g.shutdownDelaySecs) (int64 $g.shutdownGraceSecs) (int64 $g.terminationGraceMarginSecs) }}
{{- end }}
