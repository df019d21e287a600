#!/usr/bin/env python3
"""Lints, renders and checks the webhook-gateway Helm chart with Helm's own library.

Helm runs in-process through helm-python-sdk (`helm_python`, Helm v4's Go SDK behind a C
ABI): no helm binary and no cluster. The chart is linted (strict) and rendered in six
scenarios: default values, every optional feature on, an existing Secret (with
distinctive inline values that must not leak), inline development secrets, and two
configured providers (providers.definitions) with their secrets from an existing Secret
and from the chart's own; the re-drive Job is on in two of them (every argument set, and
the defaults). Every
rendered core Kubernetes object is validated against the pinned Kubernetes version's
OpenAPI schemas (kubernetes-validate, strict: unknown fields fail); the Prometheus
Operator resources are checked structurally. Then the chart's invariants are asserted.

Each check prints `PASS name` or `FAIL name: reason`. With --counts FILE the numbers of
passed and failed checks are written there (for deploy/check.sh's summary); without it
the summary line is printed here. Exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any, Callable

import helm_python
import kubernetes_validate
import yaml

from managed_kafka import PASSWORD, USER, ManagedKafka, Workload, free_port

# The Kubernetes version the rendered objects are validated against (and lint's
# .Capabilities.KubeVersion). Chart.yaml's kubeVersion is >=1.27.
KUBE_VERSION = "1.33.0"
CHART = Path(__file__).resolve().parent / "helm" / "webhook-gateway"
RELEASE = "wg"
NAMESPACE = "payments"
FULLNAME = f"{RELEASE}-webhook-gateway"
ADMIN_SERVICE = f"{FULLNAME}-admin"
TOPICS_JOB = f"{FULLNAME}-topics"
REDRIVE_JOB = f"{FULLNAME}-redrive"
HTTP_PORT = 8080
ADMIN_PORT = 9090
REPO = CHART.parents[2]
# The runbooks: each alert's runbook_url points at its heading here.
OPERATIONS = REPO / "docs" / "operations.md"
# promtool unit tests of the alerts: hand-written, run against the rendered rules (rules.yaml).
RULE_TESTS = REPO / "deploy" / "prometheus" / "tests"

# Distinctive inline values: they must never appear when existingSecret is set.
LEAK_M2M = "leak-canary-m2m-3f9a1c"
LEAK_TRANSFERS = "leak-canary-transfers-7b2e4d"
LEAK_KAFKA = "leak-canary-kafka-c81d55"
LEAK_ACME = "leak-canary-acme-5d0e92"
LEAK_LEDGER = "leak-canary-ledger-a4f713"

# Two configured providers, as a Helm user writes them: one on a preset (with a null
# that removes a preset key, which must reach the file), one hand-defined hex scheme.
# Values YAML would mangle if re-typed on the way (" ", "{...}", "200", "") are on purpose.
ACME = {
    "name": "acme",
    "preset": "standard-webhooks",
    "secret": {"env": "ACME_WEBHOOK_SECRET"},
    "event": {"time": None},
    "events": [
        {"name": "invoice.paid", "type": "acme.invoice.paid", "subject": "/data/invoiceId"},
        {"name": "invoice.voided", "type": "acme.invoice.voided", "subject": "/data/invoiceId", "topic": "billing.invoices"},
    ],
}
LEDGER = {
    "name": "ledger",
    "secret": {"env": "LEDGER_SIGNING_KEY", "encoding": "text"},
    "signature": {
        "header": "x-ledger-signature",
        "algorithm": "sha512",
        "encoding": "hex",
        "prefix": "sha512=",
        "separator": " ",
        "signed": "{timestamp}.{body}",
    },
    "timestamp": {"source": {"header": "x-ledger-timestamp"}, "format": "unix_ms", "tolerance_secs": 600},
    "id": {"source": "/id"},
    "event": {"name": "/kind", "data": "", "user": {"header": "x-ledger-account"}},
    "unrouted_subject": ["/entryId", "/accountId"],
    "sample": '{"kind":"entry.posted","id":"e-1","entryId":"en-1","status":"200"}',
    # Per replica: passed through as written, like every key.
    "limits": {"rate": 50, "burst": 100, "in_flight": 16},
    "events": [
        {"name": "entry.posted", "when": {"/status": "200"}, "type": "ledger.entry.posted", "subject": "/entryId"},
    ],
    # A handshake's reply template and charset, braces and "" included, reach the file as written.
    "handshakes": [
        {"name": "verify", "method": "GET", "query": {"challenge": ""},
         "values": {"charset": "A-Za-z0-9_-", "max_len": 64},
         "reply": {"content_type": "application/json", "body": '{"challenge":"{query:challenge}"}'}},
    ],
}
DEFINITIONS = [ACME, LEDGER]
PROVIDERS_CONFIGMAP = f"{FULLNAME}-providers"
TOPICS_PROVIDERS_CONFIGMAP = f"{FULLNAME}-topics-providers"
SECRETS_DIR = "/var/run/secrets/webhook-gateway"

# Metric names the gateway exports (the dashboard and alerts may use only these).
GATEWAY_METRICS = {
    "webhook_requests_total",
    "webhook_request_duration_seconds_bucket",
    "webhook_signature_failures_total",
    "webhook_capacity_refusals_total",
    "webhook_events_published_total",
    "kafka_publish_duration_seconds_bucket",
    "kafka_publish_errors_total",
    "kafka_producer_replacements_total",
    "webhook_inflight_requests",
    "kafka_producer_queue_messages",
    "kafka_producer_queue_bytes",
    "kafka_broker_rtt_seconds",
    "kafka_topic_available",
    "webhook_gateway_build_info",
}
# Series from elsewhere that the alerts may use.
EXTERNAL_METRICS = {"up", "kube_deployment_status_replicas_available"}

EXPECTED_ALERTS = {
    "WebhookGatewayHighUnavailableRatio",
    "WebhookGatewaySignatureFailureSpike",
    "WebhookGatewayProviderStarved",
    "WebhookGatewayUnroutedEvents",
    "WebhookGatewayDeadletteredEvents",
    "WebhookGatewayProducerReplaced",
    "WebhookGatewayPublishLatencyHigh",
    "WebhookGatewayTopicUnavailable",
    "WebhookGatewayNoReadyReplicas",
    "WebhookGatewayMetricsAbsent",
}

EXPECTED_PANELS = {
    "Request rate by outcome",
    "Request latency p50 / p99",
    "Publish latency p50 / p99",
    "Publish errors by reason",
    "In-flight requests",
    "Producer queue depth",
    "Topic availability",
}

SCENARIOS: dict[str, dict[str, Any]] = {
    # What a plain `helm install` gets: an existing Secret `webhook-gateway`, kafka:9092.
    "default": {},
    # Every optional feature on.
    "all-features": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": ["hooks.example.com", "hooks.example.net"],
        },
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
            "prometheusRule": {"enabled": True, "alertLabels": {"team": "payments"}},
            "dashboard": {"enabled": True},
        },
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12},
        "networkPolicy": {
            "enabled": True,
            "kafka": {
                "cidrs": ["10.20.0.0/16"],
                "peers": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}],
            },
        },
        "topicsJob": {"enabled": True, "create": True, "partitions": 12, "replicationFactor": 3},
        # Every argument the re-drive takes (reset excluded: not with since).
        "redriveJob": {
            "enabled": True,
            "from": "deadletter",
            "since": "2026-11-24T10:00:00Z",
            "until": "1h",
            "provider": "m2m",
            "dryRun": True,
            "rate": 50,
            "group": "webhooks.misc.redrive.manual",
            "json": True,
            "serviceAccountName": "kafka-redrive",
        },
        "kafka": {
            "bootstrapServers": "b-1.kafka.internal:9096,b-2.kafka.internal:9096",
            "config": {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "webhook-gateway",
                "message.max.bytes": 2000000,
                "linger.ms": 2,
                "enable.ssl.certificate.verification": True,
            },
            "saslPassword": {"enabled": True, "existingSecret": "kafka-user-webhook-gateway"},
        },
        "gateway": {"topicOverrides": {"unrouted": "webhooks.misc", "m2m.link.opened": "links.opened"}},
        "topologySpread": {"topologyKeys": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]},
        "extraVolumes": [{"name": "kafka-ca", "configMap": {"name": "kafka-ca"}}],
        "extraVolumeMounts": [{"name": "kafka-ca", "mountPath": "/etc/kafka-ca", "readOnly": True}],
    },
    # Production secrets, with inline values set too: they must be ignored, not rendered.
    "existing-secret": {
        "secrets": {
            "existingSecret": "gateway-secrets",
            "keys": {"m2mWebhookSecret": "m2m", "transfersSignatureToken": "transfers", "kafkaSaslPassword": "kafka"},
            "inline": {
                "m2mWebhookSecret": LEAK_M2M,
                "transfersSignatureToken": LEAK_TRANSFERS,
                "kafkaSaslPassword": LEAK_KAFKA,
            },
        },
        "kafka": {"saslPassword": {"enabled": True}},
        "topicsJob": {"enabled": True},
    },
    # Development: the chart creates the Secret from inline values.
    "inline-secret": {
        "secrets": {
            "existingSecret": "",
            "inline": {
                "m2mWebhookSecret": "dev-m2m-secret",
                "transfersSignatureToken": "dev-transfers-token",
                "kafkaSaslPassword": "dev-kafka-password",
            },
        },
        "kafka": {"saslPassword": {"enabled": True}, "config": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "dev"}},
        "topicsJob": {"enabled": True},
        "replicaCount": 1,
    },
    # Two configured providers: acme's secret in the release's Secret (secrets.existingSecret),
    # ledger's in a Secret of its own. An inline value must not leak.
    "definitions": {
        "providers": {
            "definitions": DEFINITIONS,
            "secrets": {"ledger": {"existingSecret": "ledger-hmac", "key": "signing-key"}},
        },
        "secrets": {"inline": {"providers": {"acme": LEAK_ACME}}},
        "topicsJob": {"enabled": True},
        # The re-drive with its defaults, reading the release's providers file.
        "redriveJob": {"enabled": True},
    },
    # The same providers in development: acme's secret in the Secret the chart creates,
    # ledger's still in its own Secret (so its inline value must not be rendered).
    "definitions-inline": {
        "providers": {
            "definitions": DEFINITIONS,
            "secrets": {"ledger": {"existingSecret": "ledger-hmac"}},
        },
        "secrets": {
            "existingSecret": "",
            "inline": {
                "m2mWebhookSecret": "dev-m2m-secret",
                "transfersSignatureToken": "dev-transfers-token",
                "providers": {"acme": "whsec_ZGV2LWFjbWUtc2VjcmV0", "ledger": LEAK_LEDGER},
            },
        },
        "topicsJob": {"enabled": True},
    },
}


class Failure(Exception):
    pass


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise Failure(message)


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except Failure as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            return False
        except Exception as e:  # an unexpected error fails the check, not the run
            self.failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {name}: {detail}", flush=True)
            return False
        self.passed += 1
        print(f"PASS {name}", flush=True)
        return True

    def skip(self, name: str, why: str) -> None:
        """Not run here, said so on its own line; counts neither way."""
        print(f"SKIP {name}: {why}", flush=True)


# ---------------------------------------------------------------------------- helpers


def render(values: dict[str, Any], name: str = RELEASE) -> dict[str, str]:
    with helm_python.Chart.load(CHART) as chart:
        return chart.render(values=values, name=name, namespace=NAMESPACE, is_install=True)


def objects(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object rendered, NOTES.txt excluded."""
    out = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            expect(isinstance(doc, dict), f"{path}: a document is not a mapping")
            doc["__source__"] = path
            out.append(doc)
    return out


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "__source__"}


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objs, kind, name)
    expect(len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
    return found[0]


def is_custom(obj: dict[str, Any]) -> bool:
    return obj.get("apiVersion", "").startswith("monitoring.coreos.com/")


def lint_ok(values: dict[str, Any] | None) -> None:
    report = helm_python.lint(CHART, values=values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    expect(not report.get("errors") and not problems, f"lint: {report.get('errors') or problems}")


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    containers = pod_template(workload)["containers"]
    if name is None:
        expect(len(containers) == 1, f"expected one container, found {len(containers)}")
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def resolve_container_port(c: dict[str, Any], port: Any) -> int:
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise Failure(f"container {c['name']} has no port named {port!r}")


def env_map(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def deployment_env(objs: list[dict[str, Any]]) -> dict[str, str]:
    """The gateway container's effective plain environment: ConfigMap envFrom plus env."""
    return workload_env(objs, one(objs, "Deployment", FULLNAME))


def workload_env(objs: list[dict[str, Any]], workload: dict[str, Any]) -> dict[str, str]:
    """A workload's one container's effective plain environment: ConfigMap envFrom plus env."""
    c = container(workload)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        ref = source.get("configMapRef")
        expect(ref, "envFrom other than a configMapRef")
        env.update(one(objs, "ConfigMap", ref["name"])["data"])
    env.update(env_map(c))
    return env


def helm_value(values: dict[str, Any], dotted: str) -> Any:
    with helm_python.Chart.load(CHART) as chart:
        merged = chart.merge_values(values)
    for part in dotted.split("."):
        merged = merged[part]
    return merged


# ----------------------------------------------------------------------- assertions


def assert_probes(dep: dict[str, Any]) -> None:
    c = container(dep)
    expected = {"startupProbe": "/readyz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        spec = c.get(probe)
        expect(spec, f"{probe} missing")
        get = spec.get("httpGet")
        expect(get, f"{probe} is not an httpGet probe")
        expect(get.get("path") == path, f"{probe} path {get.get('path')!r}, want {path!r}")
        port = resolve_container_port(c, get.get("port"))
        expect(port == ADMIN_PORT, f"{probe} on port {port}, want the admin port {ADMIN_PORT}")
    startup = c["startupProbe"]
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    expect(budget >= 120, f"startupProbe allows only {budget}s for the broker connection")


def assert_security(workload: dict[str, Any]) -> None:
    pod = pod_template(workload)
    psc = pod.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True, "pod runAsNonRoot is not true")
    expect(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, "pod runAsUser is not a non-zero number")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile is not RuntimeDefault")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        expect(sc.get("runAsNonRoot") is True, f"{c['name']}: runAsNonRoot is not true")
        expect(isinstance(sc.get("runAsUser"), int) and sc["runAsUser"] > 0, f"{c['name']}: runAsUser is not a non-zero number")
        expect(sc.get("readOnlyRootFilesystem") is True, f"{c['name']}: readOnlyRootFilesystem is not true")
        expect(sc.get("allowPrivilegeEscalation") is False, f"{c['name']}: allowPrivilegeEscalation is not false")
        expect("ALL" in sc.get("capabilities", {}).get("drop", []), f"{c['name']}: capabilities do not drop ALL")
        expect(not sc.get("capabilities", {}).get("add"), f"{c['name']}: capabilities added")
        expect(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{c['name']}: seccompProfile is not RuntimeDefault")
        expect(not sc.get("privileged"), f"{c['name']}: privileged")


def assert_grace(dep: dict[str, Any], env: dict[str, str]) -> None:
    delay = int(env["GATEWAY_SHUTDOWN_DELAY_SECS"])
    grace = int(env["GATEWAY_SHUTDOWN_GRACE_SECS"])
    tgps = pod_template(dep).get("terminationGracePeriodSeconds")
    expect(isinstance(tgps, int), "terminationGracePeriodSeconds is not set")
    expect(tgps > delay + grace, f"terminationGracePeriodSeconds {tgps} <= delay {delay} + grace {grace}")


def assert_no_secret_literal(rendered: dict[str, str], objs: list[dict[str, Any]], literals: list[str]) -> None:
    text = "\n".join(rendered.values())
    for literal in literals:
        encodings = [literal, base64.b64encode(literal.encode()).decode()]
        for enc in encodings:
            expect(enc not in text, f"secret literal (or its base64) found in the rendered output")
    for s in find(objs, "Secret"):
        expect(not s.get("data") and not s.get("stringData"), f"Secret {s['metadata']['name']} with data rendered")


def assert_service_links(workload: dict[str, Any]) -> None:
    expect(pod_template(workload).get("enableServiceLinks") is False, "enableServiceLinks is not false")


def provider_secret_workloads(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workloads that mount the provider secrets: the gateway and the topics Job
    (the re-drive Job reads none)."""
    return find(objs, "Deployment") + find(objs, "Job", TOPICS_JOB)


def assert_secret_files(objs: list[dict[str, Any]], secret_name: str, keys: dict[str, str], mount: str) -> None:
    """*_FILE vars point into the mounted projected volume; items map the configured keys."""
    for workload in provider_secret_workloads(objs):
        c = container(workload)
        env = env_map(c)
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        expect("secrets" in mounts and mounts["secrets"]["mountPath"] == mount and mounts["secrets"].get("readOnly"),
               f"{workload['kind']}: secrets not mounted read-only at {mount}")
        expect(not mounts["secrets"].get("subPath"), "a subPath mount would stop secret rotation")
        volumes = {v["name"]: v for v in pod_template(workload).get("volumes", [])}
        sources = volumes["secrets"]["projected"]["sources"]
        items = {}
        for src in sources:
            for item in src["secret"].get("items", []):
                items[item["path"]] = (src["secret"]["name"], item["key"])
        for var, file in (("M2M_WEBHOOK_SECRET_FILE", "m2m-webhook-secret"),
                          ("TRANSFERS_SIGNATURE_TOKEN_FILE", "transfers-signature-token")):
            expect(env.get(var) == f"{mount}/{file}", f"{workload['kind']}: {var}={env.get(var)!r}")
            expect(items.get(file, (None,))[0] == secret_name, f"{workload['kind']}: {file} not from Secret {secret_name}")
        expect(items["m2m-webhook-secret"][1] == keys["m2m"], "m2m key mismatch")
        expect(items["transfers-signature-token"][1] == keys["transfers"], "transfers key mismatch")
        for name in env:
            expect(name not in ("M2M_WEBHOOK_SECRET", "TRANSFERS_SIGNATURE_TOKEN", "KAFKA_SASL_PASSWORD"),
                   f"{workload['kind']}: inline secret variable {name} set")



def without_provider_secrets(env: dict[str, str]) -> dict[str, str]:
    """The environment less the providers' secret files (<secret.env>_FILE, never
    GATEWAY_* or KAFKA_*): what a workload that reads no provider secret gets."""
    return {k: v for k, v in env.items() if not (k.endswith("_FILE") and not k.startswith(("GATEWAY_", "KAFKA_")))}


def assert_redrive_alike(objs: list[dict[str, Any]], configmap: str) -> None:
    """The re-drive Job runs as the gateway does, less the provider secrets: the same
    pod and container security contexts, nodeSelector and tolerations, the same mounts
    and volumes but for the secrets volume, which holds at most the Kafka password (from
    the same Secret and key as the gateway's), and the release's providers ConfigMap."""
    job = one(objs, "Job", REDRIVE_JOB)
    dep = one(objs, "Deployment", FULLNAME)
    jpod, dpod = pod_template(job), pod_template(dep)
    for key in ("securityContext", "nodeSelector", "tolerations", "imagePullSecrets"):
        expect(jpod.get(key) == dpod.get(key), f"pod {key} differs from the gateway's")
    jc, dc = container(job), container(dep)
    expect(jc["image"] == dc["image"] and jc.get("securityContext") == dc.get("securityContext"), "image or securityContext differ")
    expect(jpod.get("automountServiceAccountToken") is False, "a ServiceAccount token is mounted")
    expect(jpod["restartPolicy"] == "Never", "restartPolicy")
    jvols = {v["name"]: v for v in jpod.get("volumes", [])}
    dvols = {v["name"]: v for v in dpod.get("volumes", [])}
    expect(set(jvols) <= set(dvols), f"volumes the gateway does not have: {sorted(set(jvols) - set(dvols))}")
    for name, volume in jvols.items():
        if name == "secrets":
            continue
        expect(volume == dvols[name], f"volume {name} differs from the gateway's")
    dmounts = [m for m in dc.get("volumeMounts", []) if m["name"] in jvols]
    expect(jc.get("volumeMounts", []) == dmounts, f"mounts {jc.get('volumeMounts')} are not the gateway's {dmounts}")
    expect(set(dvols) - set(jvols) <= {"secrets"}, f"gateway volumes missing: {sorted(set(dvols) - set(jvols))}")
    env = env_map(jc)
    secret_env = sorted(k for k in env if k.endswith("_FILE") and not k.startswith("GATEWAY_"))
    if "secrets" in jvols:
        expect(projected_items(job) == {"kafka-sasl-password": projected_items(dep).get("kafka-sasl-password")},
               f"secret files {projected_items(job)}: only the Kafka password, from the gateway's source")
        expect(secret_env == ["KAFKA_SASL_PASSWORD_FILE"], f"secret file variables {secret_env}")
    else:
        expect("kafka-sasl-password" not in projected_items(dep), "the gateway has the Kafka password, the Job not")
        expect(not secret_env, f"secret file variables {secret_env}")
    if "providers" in jvols:
        expect(env.get("GATEWAY_PROVIDERS_FILE") == mounted_providers_file(job, configmap),
               f"GATEWAY_PROVIDERS_FILE={env.get('GATEWAY_PROVIDERS_FILE')!r} is not {configmap}'s providers.yaml")


def projected_items(workload: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """File path in the secrets volume -> (Secret name, key)."""
    volumes = {v["name"]: v for v in pod_template(workload).get("volumes", [])}
    expect("secrets" in volumes, f"{workload['kind']}: no secrets volume")
    items: dict[str, tuple[str, str]] = {}
    for src in volumes["secrets"]["projected"]["sources"]:
        for item in src["secret"].get("items", []):
            expect(item["path"] not in items, f"{workload['kind']}: two sources for {item['path']}")
            items[item["path"]] = (src["secret"]["name"], item["key"])
    return items


def assert_definition_secrets(objs: list[dict[str, Any]], want: dict[str, tuple[str, str, str]]) -> None:
    """Each configured provider's <secret.env>_FILE is a file of the mounted secrets
    volume, projected from the expected Secret and key, in the gateway and the Job.
    want: provider name -> (secret.env, Secret name, key)."""
    workloads = provider_secret_workloads(objs)
    expect(find(objs, "Job", TOPICS_JOB), "no topics Job rendered")
    for workload in workloads:
        c = container(workload)
        env = env_map(c)
        mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
        expect(mounts.get("secrets", {}).get("mountPath") == SECRETS_DIR, f"{workload['kind']}: secrets not at {SECRETS_DIR}")
        items = projected_items(workload)
        for name, (var, secret, key) in want.items():
            path = env.get(f"{var}_FILE", "")
            expect(path.startswith(SECRETS_DIR + "/"), f"{workload['kind']}: {var}_FILE={path!r}")
            rel = path[len(SECRETS_DIR) + 1:]
            expect(items.get(rel) == (secret, key),
                   f"{workload['kind']}: {name}'s file {rel} comes from {items.get(rel)}, want {(secret, key)}")
            expect(var not in env, f"{workload['kind']}: {var} set as a plain variable")


def providers_file(objs: list[dict[str, Any]], name: str) -> Any:
    cm = one(objs, "ConfigMap", name)
    expect(set(cm["data"]) == {"providers.yaml"}, f"ConfigMap {name} keys {sorted(cm['data'])}")
    return yaml.safe_load(cm["data"]["providers.yaml"])


def gateway_binary() -> Path | None:
    """A built webhook-gateway: $WEBHOOK_GATEWAY_BIN, else the debug build that
    scripts/test.sh's cargo test leaves in the target directory."""
    if os.environ.get("WEBHOOK_GATEWAY_BIN"):
        return Path(os.environ["WEBHOOK_GATEWAY_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = target / "debug" / "webhook-gateway"
    return binary if binary.is_file() else None


# A broker address nothing listens on: a re-drive whose arguments and settings are
# accepted fails there with exit 1 (after its 15 s metadata timeout); a bad argument or
# setting exits 64 before it.
UNREACHABLE_BROKER = "127.0.0.1:1"


def start_redrive(binary: Path, args: list[str], env: dict[str, str],
                  files: dict[str, str] | None = None) -> Callable[[], subprocess.CompletedProcess[str]]:
    """Starts `webhook-gateway <args>` with `env` (KAFKA_BOOTSTRAP_SERVERS pointing
    nowhere) and each of `files` (variable -> content) written to a file the variable
    names. Returns the wait for its result: the runs go in parallel and are judged at the
    end, so their broker timeouts cost the checks once."""
    work = Path(tempfile.mkdtemp(prefix="webhook-gateway-redrive-"))
    run_env = {"PATH": os.environ.get("PATH", ""), **env, "KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE_BROKER}
    for var, content in (files or {}).items():
        path = work / var.lower()
        path.write_text(content)
        run_env[var] = str(path)
    proc = subprocess.Popen([str(binary), *args], env=run_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait() -> subprocess.CompletedProcess[str]:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise Failure(f"{' '.join(args)}: still running after 120 s")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    return wait


def expect_accepted(run: subprocess.CompletedProcess[str]) -> None:
    """The command took its arguments and settings and failed only at the broker."""
    args = " ".join(run.args[1:])
    expect(run.returncode == 1 and "broker" in run.stderr and "configuration error" not in run.stderr,
           f"`{args}` exited {run.returncode}, want 1 at the unreachable broker: {run.stderr.strip()}")


def redrive_job_run(binary: Path, objs: list[dict[str, Any]]) -> Callable[[], subprocess.CompletedProcess[str]]:
    """The rendered re-drive Job's container, run here: its args and env, with the
    mounted files it names (the providers file from its ConfigMap, a Kafka password)."""
    job = one(objs, "Job", REDRIVE_JOB)
    c = container(job)
    env = env_map(c)
    files = {}
    if "GATEWAY_PROVIDERS_FILE" in env:
        files["GATEWAY_PROVIDERS_FILE"] = one(objs, "ConfigMap", PROVIDERS_CONFIGMAP)["data"]["providers.yaml"]
    if "KAFKA_SASL_PASSWORD_FILE" in env:
        files["KAFKA_SASL_PASSWORD_FILE"] = "not-a-password\n"
    return start_redrive(binary, c["args"], {k: v for k, v in env.items() if k not in files}, files)


def mounted_providers_file(workload: dict[str, Any], configmap: str) -> str:
    """Where providers.yaml of `configmap` appears in the workload's container."""
    c = container(workload)
    volumes = {v["name"]: v for v in pod_template(workload).get("volumes", [])}
    backing = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == configmap]
    expect(len(backing) == 1, f"{workload['kind']}: {len(backing)} volumes of ConfigMap {configmap}")
    mounts = [m for m in c.get("volumeMounts", []) if m["name"] == backing[0]]
    expect(len(mounts) == 1 and mounts[0].get("readOnly"), f"{workload['kind']}: ConfigMap {configmap} not mounted read-only once")
    expect(not mounts[0].get("subPath"), f"{workload['kind']}: a subPath mount of the providers file")
    items = volumes[backing[0]]["configMap"].get("items")
    file = "providers.yaml"
    if items is not None:
        paths = [i["path"] for i in items if i["key"] == "providers.yaml"]
        expect(len(paths) == 1, f"{workload['kind']}: providers.yaml not projected")
        file = paths[0]
    return f"{mounts[0]['mountPath'].rstrip('/')}/{file}"


# ------------------------------------------------------------------- managed Kafka


def on_managed_kafka(binary: Path) -> None:
    """What the chart renders for a managed Kafka, run here as the kubelet would run it
    (deploy/managed_kafka.py): the topics Job creates the topics over SASL_SSL, then the
    gateway becomes ready and acknowledges a signed webhook, the password never printed."""
    m2m_secret = "chart-m2m-secret"
    with ManagedKafka() as kafka:
        values = {
            "kafka": {
                "bootstrapServers": kafka.bootstrap,
                "config": {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                           "sasl.username": USER, "ssl.ca.location": "/etc/kafka-ca/ca.crt"},
                "saslPassword": {"enabled": True},
            },
            "extraVolumes": [{"name": "kafka-ca", "secret": {"secretName": "kafka-ca"}}],
            "extraVolumeMounts": [{"name": "kafka-ca", "mountPath": "/etc/kafka-ca", "readOnly": True}],
            "topicsJob": {"enabled": True, "create": True, "partitions": 3, "replicationFactor": 1},
        }
        objs = objects(render(values))
        files = {
            ("secrets", "m2m-webhook-secret"): m2m_secret + "\n",
            ("secrets", "transfers-signature-token"): "chart-transfers-token\n",
            ("secrets", "kafka-sasl-password"): PASSWORD + "\n",
            ("kafka-ca", "ca.crt"): kafka.ca,
        }
        root = Path(tempfile.mkdtemp(prefix="webhook-gateway-chart-run-"))
        gateway = None
        try:
            job_obj = one(objs, "Job", TOPICS_JOB)
            job = Workload(job_obj, workload_env(objs, job_obj), objs, files, root)
            expect(job.env().get("KAFKA_SASL_PASSWORD_FILE", "").startswith(str(root)), "the Job reads no mounted password")
            created = job.run(binary, {})
            expect(created.returncode == 0 and PASSWORD not in created.stdout + created.stderr,
                   f"topics Job exited {created.returncode}: {created.stdout[-2000:]} {created.stderr[-2000:]}")
            expect("webhooks.m2m.operation.created" in created.stdout, f"topics Job: {created.stdout[-2000:]}")

            dep_obj = one(objs, "Deployment", FULLNAME)
            deployment = Workload(dep_obj, workload_env(objs, dep_obj), objs, files, root)
            public, admin = free_port(), free_port()
            gateway = deployment.start(binary, {"GATEWAY_LISTEN_ADDR": f"127.0.0.1:{public}",
                                                "GATEWAY_ADMIN_ADDR": f"127.0.0.1:{admin}"})
            deadline = time.monotonic() + 60
            while True:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2).status == 200:
                        break
                except OSError:
                    pass
                expect(gateway.poll() is None, f"the gateway exited {gateway.returncode}")
                expect(time.monotonic() < deadline, "the gateway was not ready within 60 s")
                time.sleep(0.2)
            body = b'{"event":"operation.created","data":{"operationId":"chart-op-1","referenceId":"u-1"}}'
            stamp = str(int(time.time()))
            signature = hmac.new(m2m_secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            req = urllib.request.Request(f"http://127.0.0.1:{public}/webhooks/m2m", data=body, method="POST", headers={
                "content-type": "application/json", "x-m2m-timestamp": stamp, "x-m2m-signature": signature})
            with urllib.request.urlopen(req, timeout=30) as answer:
                expect(answer.status == 200, f"the webhook was answered {answer.status}")
        finally:
            if gateway is not None:
                gateway.terminate()
                try:
                    _, logs = gateway.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    gateway.kill()
                    _, logs = gateway.communicate()
                expect(PASSWORD not in logs, "a gateway log line holds the password")
            shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------- alerts, promtool


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def doc_sections(doc: Path) -> dict[str, str]:
    """A Markdown document's sections by anchor: the text under each heading up to the
    next heading (lines in fenced code blocks are text, never headings)."""
    sections: dict[str, str] = {}
    anchor = None
    fenced = False
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            anchor = github_anchor(m.group(1))
            sections[anchor] = ""
        elif anchor is not None:
            sections[anchor] += line + "\n"
    return sections


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_checks(r: Runner) -> None:
    """The PrometheusRule's groups through Prometheus's own tools: `promtool check rules`
    and the unit tests in deploy/prometheus/tests (each alert fired by input series
    and kept quiet by others), plus each alert's runbook in docs/operations.md."""
    rule = one(objects(render({"metrics": {"prometheusRule": {"enabled": True}}})), "PrometheusRule")
    groups = rule["spec"]["groups"]
    alerts = {x["alert"]: x for g in groups for x in g["rules"] if "alert" in x}
    work = Path(tempfile.mkdtemp(prefix="webhook-gateway-rules-"))
    (work / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))

    def installed() -> None:
        expect(shutil.which("promtool"), "promtool not found: install Debian's prometheus package "
                                         "(bash scripts/test.sh does)")
        version = subprocess.run(["promtool", "--version"], capture_output=True, text=True)
        expect(version.returncode == 0, f"promtool --version: {version.stderr}")

    if not r.check("[alerts] promtool is installed", installed):
        return

    def check_rules() -> None:
        out = promtool("check", "rules", "rules.yaml", cwd=work)
        expect(out.returncode == 0, f"{out.stdout}{out.stderr}")
        expect(f"SUCCESS: {len(alerts)} rules found" in out.stdout, out.stdout)

    r.check("[alerts] promtool check rules: the PrometheusRule's groups", check_rules)

    tests = sorted(RULE_TESTS.glob("*.yaml"))
    for path in tests:
        def unit(path: Path = path) -> None:
            shutil.copy(path, work / path.name)
            out = promtool("test", "rules", path.name, cwd=work)
            expect(out.returncode == 0, f"\n{out.stdout}{out.stderr}")

        r.check(f"[alerts] promtool test rules {path.relative_to(REPO)}", unit)

    def every_alert_tested_both_ways() -> None:
        firing: set[str] = set()
        quiet: set[str] = set()
        for path in tests:
            doc = yaml.safe_load(path.read_text())
            expect(doc.get("rule_files") == ["rules.yaml"], f"{path.name}: rule_files must be [rules.yaml]")
            for test in doc["tests"]:
                for case in test.get("alert_rule_test", []):
                    name = case["alertname"]
                    expect(name in alerts, f"{path.name}: tests unknown alert {name}")
                    (firing if case.get("exp_alerts") else quiet).add(name)
        expect(not set(alerts) - firing, f"alerts never fired by a test: {sorted(set(alerts) - firing)}")
        expect(not set(alerts) - quiet, f"alerts without a must-not-fire case: {sorted(set(alerts) - quiet)}")

    r.check("[alerts] every alert has input series that fire it and series that must not", every_alert_tested_both_ways)

    def runbooks() -> None:
        doc = OPERATIONS.relative_to(REPO).as_posix()
        sections = doc_sections(OPERATIONS)
        base = helm_value({}, "metrics.prometheusRule.runbookBaseUrl")
        expect(base == doc, f"metrics.prometheusRule.runbookBaseUrl defaults to {base!r}, not {doc}")
        for name, alert in alerts.items():
            url = alert.get("annotations", {}).get("runbook_url", "")
            expect(url == f"{base}#{name.lower()}", f"{name}: runbook_url {url!r}")
            section = sections.get(name.lower())
            expect(section is not None, f"{name}: {doc} has no heading {name}")
            expect("**Means:**" in section and "**First:**" in section,
                   f"{name}: the runbook in {doc} lacks **Means:** or **First:**")

    r.check("[alerts] every alert's runbook_url is a runbook in docs/operations.md (what it means, the first thing to do)", runbooks)

    def runbook_base() -> None:
        base = "https://git.example/platform/webhook-gateway/blob/main/docs/operations.md"
        pr = one(objects(render({"metrics": {"prometheusRule": {"enabled": True, "runbookBaseUrl": base}}})), "PrometheusRule")
        for g in pr["spec"]["groups"]:
            for x in g["rules"]:
                expect(x["annotations"]["runbook_url"] == f"{base}#{x['alert'].lower()}", f"{x['alert']}: {x['annotations']}")

    r.check("[alerts] metrics.prometheusRule.runbookBaseUrl sets every runbook_url", runbook_base)

    def monitor_selects_only_its_release() -> None:
        values = {"metrics": {"serviceMonitor": {"enabled": True}}}
        ours = objects(render(values))
        theirs = objects(render(values, name="other"))
        sm = one(ours, "ServiceMonitor", FULLNAME)
        sel = sm["spec"]["selector"]["matchLabels"]
        services = find(ours, "Service") + find(theirs, "Service")
        selected = [s["metadata"]["name"] for s in services
                    if all(s["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
        expect(selected == [ADMIN_SERVICE], f"the ServiceMonitor selects {selected}")
        # The alerts and dashboard match job = the admin Service's name: what the scrape gives.
        expect(f'job="{ADMIN_SERVICE}"' in alerts["WebhookGatewayHighUnavailableRatio"]["expr"], "alerts' job")
        expect(not sm["spec"]["endpoints"][0].get("relabelings") and not sm["spec"].get("jobLabel"),
               "a jobLabel or relabeling would change job from the Service's name")

    r.check("[alerts] ServiceMonitor selects its own admin Service only (not another release's), job = its name",
            monitor_selects_only_its_release)

    def dashboard_sidecar_labels() -> None:
        default = one(objects(render({"metrics": {"dashboard": {"enabled": True}}})), "ConfigMap", f"{FULLNAME}-dashboard")
        expect(default["metadata"]["labels"].get("grafana_dashboard") == "1", "default sidecar label grafana_dashboard: \"1\"")
        expect(all(k.endswith(".json") for k in default["data"]), "the sidecar imports *.json keys")
        custom = one(objects(render({"metrics": {"dashboard": {"enabled": True, "labels": {
            "grafana_dashboard": None, "grafana-dashboards": "webhooks"}}}})), "ConfigMap", f"{FULLNAME}-dashboard")
        labels = custom["metadata"]["labels"]
        expect(labels.get("grafana-dashboards") == "webhooks" and "grafana_dashboard" not in labels,
               f"a custom sidecar label: {labels}")
        dash = json.loads(default["data"]["webhook-gateway.json"])
        uids = {t.get("datasource", {}).get("uid") for p in dash["panels"] for t in p.get("targets", [])}
        uids |= {p.get("datasource", {}).get("uid") for p in dash["panels"]}
        expect(uids <= {"${datasource}", None}, f"panels pinned to a data source: {uids}")

    r.check("[alerts] dashboard ConfigMap: the sidecar's label (configurable), *.json, the data source variable",
            dashboard_sidecar_labels)

    shutil.rmtree(work, ignore_errors=True)

# --------------------------------------------------------------------------- checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", help="write 'PASSED FAILED' to this file instead of printing the summary")
    args = parser.parse_args()
    r = Runner()
    print(f"helm-python-sdk {helm_python.__version__} (Helm {helm_python.helm_sdk_version()}), "
          f"kubernetes-validate {kubernetes_validate.__version__ if hasattr(kubernetes_validate, '__version__') else ''}, "
          f"Kubernetes schemas v{KUBE_VERSION}", flush=True)

    # --- the re-drive's arguments through the command itself: started first, judged at
    # the end (each accepted run waits 15 s for the unreachable broker, all at once,
    # while the other checks run)
    later: list[tuple[str, Callable[[], None]]] = []
    binary = gateway_binary()
    accepts_name = "`webhook-gateway redrive` accepts the rendered re-drive Jobs' args and env"
    times_name = "schema's redriveJob.since/until forms are the ones `webhook-gateway redrive --since` accepts"
    if binary is None:
        for name in (accepts_name, times_name):
            r.skip(name, "no built binary (cargo build, or set WEBHOOK_GATEWAY_BIN)")
    else:
        def start_jobs() -> dict[str, Callable[[], subprocess.CompletedProcess[str]]]:
            rendered = {scenario: objects(render(SCENARIOS[scenario])) for scenario in ("all-features", "definitions")}
            runs = {scenario: redrive_job_run(binary, objs) for scenario, objs in rendered.items()}
            values = copy.deepcopy(SCENARIOS["definitions"])
            values["redriveJob"] = {"enabled": True, "from": "deadletter", "provider": "ledger", "reset": True,
                                    "until": "2026-11-24 10:00:00+01:00", "rate": 1, "json": False, "group": "ledger-fix"}
            runs["definitions, provider ledger, reset"] = redrive_job_run(binary, objects(render(values)))
            # The control: what the check must catch, a provider the file does not define.
            job = one(rendered["definitions"], "Job", REDRIVE_JOB)
            files = {"GATEWAY_PROVIDERS_FILE": one(rendered["definitions"], "ConfigMap", PROVIDERS_CONFIGMAP)["data"]["providers.yaml"]}
            runs["control"] = start_redrive(binary, container(job)["args"] + ["--provider", "nope"], {}, files)
            return runs

        def start_times() -> tuple[dict[str, Callable[[], subprocess.CompletedProcess[str]]], ...]:
            good = ["2h", "0h", "45s", "7d", "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.250Z",
                    "2026-11-24T10:00:00+01:00", "2026-11-24t10:00:00z", "2026-11-24 10:00:00Z"]
            bad = ["2", "2w", "-2h", "yesterday", "2026-11-24", "2026-11-24T10:00:00", "2026-11-24T10:00Z"]
            with helm_python.Chart.load(CHART) as chart:
                for t in good:
                    chart.validate_schema({"redriveJob": {"since": t}})
            started = {}
            for t in good + bad:
                started[t] = start_redrive(binary, ["redrive", "--from", "unrouted", "--since", t], {})
            return started, good, bad

        try:
            job_runs = start_jobs()
            job_error = None
        except Exception as e:  # reported by the check, not the run
            job_runs, job_error = {}, e
        try:
            time_runs, good_times, bad_times = start_times()
            times_error = None
        except Exception as e:
            time_runs, good_times, bad_times, times_error = {}, [], [], e

        def judge_jobs() -> None:
            results = {name: wait() for name, wait in job_runs.items()}
            if job_error is not None:
                raise job_error
            control = results.pop("control")
            expect(control.returncode == 64 and "no provider named `nope`" in control.stderr,
                   f"the control (--provider nope) exited {control.returncode}: {control.stderr.strip()}")
            expect(len(results) == 3, f"runs {sorted(results)}")
            for name, run in results.items():
                try:
                    expect_accepted(run)
                except Failure as e:
                    raise Failure(f"[{name}] {e}")

        later.append((f"{accepts_name} (all-features, definitions, and provider/reset/until/rate/group; a bad "
                      f"provider exits 64): exit 1 at an unreachable broker, never 64 ({binary})", judge_jobs))

        def judge_times() -> None:
            results = {t: wait() for t, wait in time_runs.items()}
            if times_error is not None:
                raise times_error
            for t in good_times:
                expect_accepted(results[t])
            for t in bad_times:
                run = results[t]
                expect(run.returncode == 64, f"--since {t!r}: exit {run.returncode}, want 64: {run.stderr.strip()}")

        later.append((f"{times_name} (and rejects what the schema rejects) ({binary})", judge_times))

    # --- static files
    def values_commented() -> None:
        lines = (CHART / "values.yaml").read_text().splitlines()
        missing = []
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)([A-Za-z0-9_./-]+):(\s|$)", line)
            if not m:
                continue
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            prev = lines[j].strip() if j >= 0 else ""
            if not prev.startswith("#") and "#" not in line.split(":", 1)[1]:
                missing.append(f"line {i + 1}: {m.group(2)}")
        expect(not missing, f"keys without a comment: {', '.join(missing)}")

    r.check("values.yaml: every key has a comment", values_commented)

    def chart_metadata() -> None:
        meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
        expect(meta["apiVersion"] == "v2", "Chart apiVersion is not v2")
        expect(meta["version"] == "0.1.0", "chart version is not 0.1.0")
        expect(meta["appVersion"] == "0.1.0" and isinstance(meta["appVersion"], str), "appVersion is not the string 0.1.0")
        cargo = (CHART.parents[2] / "Cargo.toml").read_text()
        m = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.M)
        expect(m and m.group(1) == meta["appVersion"], f"appVersion {meta['appVersion']} != Cargo.toml version {m and m.group(1)}")

    r.check("Chart.yaml: apiVersion v2, version 0.1.0, appVersion matches Cargo.toml", chart_metadata)

    def dashboard_json() -> None:
        dash = json.loads((CHART / "dashboards" / "webhook-gateway.json").read_text())
        titles = {p["title"] for p in dash["panels"]}
        expect(EXPECTED_PANELS <= titles, f"dashboard lacks panels {EXPECTED_PANELS - titles}")
        for p in dash["panels"]:
            for t in p.get("targets", []):
                names = set(re.findall(r"\b([a-z_]+)\{", t["expr"]))
                unknown = names - GATEWAY_METRICS
                expect(not unknown, f"panel {p['title']!r} uses unknown metrics {unknown}")
        ids = [p["id"] for p in dash["panels"]]
        expect(len(ids) == len(set(ids)), "duplicate panel ids")

    r.check("dashboard JSON: required panels, only gateway metrics", dashboard_json)

    # --- schema
    def schema_rejects(values: dict[str, Any], what: str) -> Callable[[], None]:
        def run() -> None:
            with helm_python.Chart.load(CHART) as chart:
                try:
                    chart.validate_schema(values)
                except helm_python.HelmValuesError:
                    pass
                else:
                    raise Failure(f"schema accepted {what}")
            try:
                render(values)
            except helm_python.HelmError:
                return
            raise Failure(f"render accepted {what}")
        return run

    def schema_knows_every_preset() -> None:
        # The presets compiled into the binary, as src/definitions/load.rs lists them.
        load = (REPO / "src/definitions/load.rs").read_text()
        gateway = re.findall(r'include_str!\("presets/([a-z0-9-]+)\.yaml"\)', load)
        schema = json.loads((CHART / "values.schema.json").read_text())
        enum = schema["definitions"]["providerDefinition"]["properties"]["preset"]["enum"]
        expect(gateway and [p for p in enum if p is not None] == gateway,
               f"the schema's presets {enum} are not the gateway's {gateway}")

    r.check("schema: providers.definitions[].preset is exactly the gateway's presets", schema_knows_every_preset)

    def schema_knows_every_key() -> None:
        # The keys a provider takes, as src/definitions/definition.rs's RawProvider has them.
        source = (REPO / "src/definitions/definition.rs").read_text()
        raw = source.split("pub struct RawProvider {", 1)[1].split("\n}", 1)[0]
        gateway = sorted(re.findall(r"^    pub ([a-z_]+):", raw, re.M))
        schema = json.loads((CHART / "values.schema.json").read_text())
        keys = sorted(schema["definitions"]["providerDefinition"]["properties"])
        expect(gateway and keys == gateway,
               f"the schema's provider keys {keys} are not the gateway's {gateway}")

    r.check("schema: providers.definitions[] takes exactly the gateway's provider keys", schema_knows_every_key)
    r.check("schema rejects replicaCount: \"three\"", schema_rejects({"replicaCount": "three"}, "a string replica count"))
    r.check("schema rejects an unknown top-level key", schema_rejects({"replicas": 3}, "an unknown key"))
    r.check("schema rejects a nested wrong type (gateway.maxInflight: \"many\")",
            schema_rejects({"gateway": {"maxInflight": "many"}}, "a string maxInflight"))
    r.check("schema rejects an unknown nested key (gateway.maxInFlight)",
            schema_rejects({"gateway": {"maxInFlight": 10}}, "a misspelt gateway key"))
    r.check("schema rejects gateway.logFormat: xml", schema_rejects({"gateway": {"logFormat": "xml"}}, "logFormat xml"))
    r.check("schema rejects kafka.config with a non-scalar value",
            schema_rejects({"kafka": {"config": {"security.protocol": ["SSL"]}}}, "a list value"))

    def with_definition(**changes: Any) -> dict[str, Any]:
        """Values with ACME changed key by key (a None value deletes the key)."""
        acme = copy.deepcopy(ACME)
        for key, value in changes.items():
            if value is None:
                acme.pop(key, None)
            else:
                acme[key] = value
        return {"providers": {"definitions": [acme]}}

    r.check("schema rejects a provider name outside [a-z][a-z0-9-]{0,31} (Acme)",
            schema_rejects(with_definition(name="Acme"), "the name Acme"))
    r.check("schema rejects a provider name longer than 32 characters",
            schema_rejects(with_definition(name="a" * 33), "a 33-character name"))
    r.check("schema rejects a reserved provider name (unknown, m2m)",
            lambda: (schema_rejects(with_definition(name="unknown"), "the name unknown")(),
                     schema_rejects(with_definition(name="m2m"), "the name m2m")()))
    r.check("schema rejects a definition without secret.env",
            schema_rejects(with_definition(secret={"encoding": "whsec"}), "a secret without env"))
    r.check("schema rejects a definition without secret",
            schema_rejects(with_definition(secret=None), "a definition without secret"))
    r.check("schema rejects secret.env GATEWAY_* or KAFKA_*",
            lambda: (schema_rejects(with_definition(secret={"env": "GATEWAY_ACME"}), "secret.env GATEWAY_ACME")(),
                     schema_rejects(with_definition(secret={"env": "KAFKA_ACME"}), "secret.env KAFKA_ACME")()))
    r.check("schema rejects an unknown key in a definition (signatures)",
            schema_rejects(with_definition(signatures={"header": "x"}), "an unknown key"))
    r.check("schema rejects an unknown nested key in a definition (signature.algo)",
            schema_rejects(with_definition(signature={"algo": "sha256"}), "an unknown nested key"))
    r.check("schema rejects an unknown preset",
            schema_rejects(with_definition(preset="pagerduty"), "preset pagerduty"))
    r.check("schema rejects a definition without preset, signature.header, event or event.data",
            lambda: (schema_rejects(with_definition(preset=None), "no preset and no signature")(),
                     schema_rejects({"providers": {"definitions": [dict(LEDGER, signature={"encoding": "hex"})]}},
                                    "no preset and no signature.header")(),
                     schema_rejects({"providers": {"definitions": [{k: v for k, v in LEDGER.items() if k != "event"}]}},
                                    "no preset and no event")(),
                     schema_rejects({"providers": {"definitions": [dict(LEDGER, event={"name": "/kind"})]}},
                                    "no preset and no event.data")()))
    r.check("schema rejects a source that is neither a pointer, {header} nor {field}",
            lambda: (schema_rejects({"providers": {"definitions": [dict(LEDGER, event={"name": "kind", "data": ""})]}},
                                    "a pointer without /")(),
                     schema_rejects({"providers": {"definitions": [dict(LEDGER, event={"name": {"query": "k"}, "data": ""})]}},
                                    "a {query} source")()))
    r.check("schema rejects a `when` value that is not a string",
            schema_rejects({"providers": {"definitions": [dict(LEDGER, events=[dict(LEDGER["events"][0], when={"/status": 200})])]}},
                           "when: {/status: 200}"))
    r.check("schema rejects providers.secrets with an unknown key or a bad provider name",
            lambda: (schema_rejects({"providers": {"secrets": {"acme": {"secretName": "x"}}}}, "secretName")(),
                     schema_rejects({"providers": {"secrets": {"Acme": {}}}}, "a bad name")()))

    def accepts_definitions() -> None:
        values = {"providers": {"definitions": [ACME, LEDGER, {"name": "gh", "preset": "github", "secret": {"env": "GH_SECRET"}}]}}
        with helm_python.Chart.load(CHART) as chart:
            chart.validate_schema(values)

    r.check("schema accepts a preset definition with no signature or event, and a hand-defined one", accepts_definitions)

    def accepts_global() -> None:
        values = {"global": {"imageRegistry": "registry.example", "anything": {"nested": True}}}
        with helm_python.Chart.load(CHART) as chart:
            chart.validate_schema(values)
        render(values)

    r.check("schema accepts a `global` key (works as a subchart)", accepts_global)

    def lint_rejects_bad_values() -> None:
        report = helm_python.lint(CHART, values={"replicaCount": "three"}, strict=True, kube_version=f"v{KUBE_VERSION}")
        expect(report.get("errors"), "lint passed with replicaCount: \"three\"")

    r.check("lint fails on values the schema rejects", lint_rejects_bad_values)

    def render_fails(values: dict[str, Any], needle: str) -> Callable[[], None]:
        def run() -> None:
            try:
                render(values)
            except helm_python.HelmError as e:
                expect(needle in str(e), f"failed, but without {needle!r}: {e}")
                return
            raise Failure("rendered")
        return run

    r.check("render refuses shutdownGraceSecs <= shutdownDelaySecs",
            render_fails({"gateway": {"shutdownDelaySecs": 30, "shutdownGraceSecs": 30}}, "shutdownGraceSecs"))
    r.check("render refuses kafka.config bootstrap.servers (use kafka.bootstrapServers)",
            render_fails({"kafka": {"config": {"bootstrap.servers": "x:9092"}}}, "kafka.bootstrapServers"))
    r.check("render refuses an enabled provider without any secret source",
            render_fails({"secrets": {"existingSecret": ""}}, "providers.m2m.enabled"))
    r.check("render refuses a NetworkPolicy that would cut Kafka off",
            render_fails({"networkPolicy": {"enabled": True}}, "networkPolicy.kafka"))
    r.check("render refuses a provider defined twice",
            render_fails({"providers": {"definitions": [ACME, dict(LEDGER, name="acme")]}}, "defined twice"))
    r.check("render refuses two providers with one secret variable (a built-in's too)",
            lambda: (render_fails({"providers": {"definitions": [ACME, dict(LEDGER, secret={"env": "ACME_WEBHOOK_SECRET"})]}},
                                  "ACME_WEBHOOK_SECRET")(),
                     render_fails({"providers": {"definitions": [dict(ACME, secret={"env": "M2M_WEBHOOK_SECRET"})]}},
                                  "M2M_WEBHOOK_SECRET")()))
    r.check("render refuses providers.secrets / secrets.inline.providers naming no provider",
            lambda: (render_fails({"providers": {"definitions": [ACME], "secrets": {"acme2": {"key": "k"}}}}, "providers.secrets.acme2")(),
                     render_fails({"providers": {"definitions": [ACME]}, "secrets": {"inline": {"providers": {"acmee": "s"}}}},
                                  "secrets.inline.providers.acmee")()))
    r.check("render refuses two inline values under one key of the chart's Secret",
            render_fails({"providers": {"definitions": [ACME], "secrets": {"acme": {"key": "m2m-webhook-secret"}}},
                          "secrets": {"existingSecret": "", "inline": {"m2mWebhookSecret": "m", "transfersSignatureToken": "t",
                                                                       "providers": {"acme": "a"}}}},
                         "the key m2m-webhook-secret"))
    r.check("render refuses a configured provider without any secret source",
            render_fails({"providers": {"definitions": [ACME]},
                          "secrets": {"existingSecret": "", "inline": {"m2mWebhookSecret": "m", "transfersSignatureToken": "t"}}},
                         "secrets.inline.providers.acme"))

    # --- the re-drive Job's values
    def redrive(**values: Any) -> dict[str, Any]:
        return {"redriveJob": {"enabled": True, **values}}

    r.check("schema and render refuse redriveJob.from other than unrouted or deadletter",
            lambda: (schema_rejects(redrive(**{"from": "replay"}), "from: replay")(),
                     render_fails(redrive(**{"from": "Unrouted"}), "redriveJob/from")()))

    def redrive_from_without_schema() -> None:
        work = Path(tempfile.mkdtemp(prefix="webhook-gateway-chart-"))
        try:
            chart_dir = work / CHART.name
            shutil.copytree(CHART, chart_dir)
            (chart_dir / "values.schema.json").unlink()
            with helm_python.Chart.load(chart_dir) as chart:
                try:
                    chart.render(values=redrive(**{"from": "replay"}), name=RELEASE, namespace=NAMESPACE, is_install=True)
                except helm_python.HelmError as e:
                    expect("redriveJob.from must be unrouted or deadletter, not replay" in str(e), f"failed otherwise: {e}")
                    return
            raise Failure("rendered from: replay")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    r.check("render refuses a bad redriveJob.from with its own message without the schema too (--skip-schema-validation)",
            redrive_from_without_schema)
    r.check("render refuses redriveJob.since with redriveJob.reset (the command refuses both)",
            render_fails(redrive(since="2h", reset=True), "redriveJob.since and redriveJob.reset"))
    r.check("render refuses a redriveJob.provider that no definition names (the command would exit 64 after the upgrade)",
            lambda: (render_fails(redrive(provider="acme"), "redriveJob.provider: no provider named acme")(),
                     render(dict(redrive(provider="acme"), providers={"definitions": [ACME]}))))

    def redrive_times() -> None:
        # The forms of the command's own unit test (positions::parse_time), and a few more.
        good = ["", "2h", "30m", "7d", "45s", "0h", "2026-11-24T10:00:00Z", "2026-11-24T10:00:00.250Z",
                "2026-11-24T10:00:00+01:00", "2026-11-24t10:00:00z"]
        bad = ["2", "h", "2w", "-2h", "yesterday", "2026-11-24", "2026-11-24T10:00:00", "2026-11-24T10:00Z"]
        with helm_python.Chart.load(CHART) as chart:
            for key in ("since", "until"):
                for t in good:
                    chart.validate_schema(redrive(**{key: t}))
                for t in bad:
                    try:
                        chart.validate_schema(redrive(**{key: t}))
                    except helm_python.HelmValuesError:
                        continue
                    raise Failure(f"schema accepted {key}: {t!r}")

    r.check("schema takes redriveJob.since/until as RFC 3339 or an age (2h, 30m, 7d), as the command does", redrive_times)
    r.check("schema rejects redriveJob.rate -1, a misspelt redriveJob key (dryrun)",
            lambda: (schema_rejects(redrive(rate=-1), "rate -1")(), schema_rejects(redrive(dryrun=True), "dryrun")()))

    def redrive_off_by_default() -> None:
        for values in ({}, {"topicsJob": {"enabled": True}}, {"redriveJob": {"enabled": False, "from": "deadletter"}}):
            rendered = render(values)
            expect(not find(objects(rendered), "Job", REDRIVE_JOB), f"re-drive Job rendered with {values}")
            expect("Re-drive" not in rendered["webhook-gateway/templates/NOTES.txt"], f"NOTES.txt names a re-drive with {values}")
        rendered = render(redrive())
        one(objects(rendered), "Job", REDRIVE_JOB)
        expect(f"kubectl -n {NAMESPACE} logs job/{REDRIVE_JOB}" in rendered["webhook-gateway/templates/NOTES.txt"],
               "NOTES.txt does not say where the re-drive's summary is")

    r.check("re-drive Job rendered only with redriveJob.enabled (not by default, not with the topics Job); NOTES.txt names its log",
            redrive_off_by_default)

    def redrive_reset_args() -> None:
        job = one(objects(render(redrive(reset=True, json=False, rate=0, **{"from": "deadletter"}))), "Job", REDRIVE_JOB)
        expect(container(job)["args"] == ["redrive", "--from", "deadletter", "--reset"], f"args {container(job)['args']}")

    r.check("re-drive Job: reset becomes --reset; rate 0 and json false add no flag", redrive_reset_args)

    # --- per scenario: lint, render, validate, invariants
    rendered_by: dict[str, dict[str, str]] = {}
    objs_by: dict[str, list[dict[str, Any]]] = {}
    for scenario, values in SCENARIOS.items():
        r.check(f"[{scenario}] helm lint --strict (kube v{KUBE_VERSION})", lambda v=values: lint_ok(v))

        def do_render(s: str = scenario, v: dict[str, Any] = values) -> None:
            rendered_by[s] = render(v)
            objs_by[s] = objects(rendered_by[s])
            expect(objs_by[s], "nothing rendered")

        if not r.check(f"[{scenario}] render", do_render):
            continue
        objs = objs_by[scenario]
        for obj in objs:
            label = f"[{scenario}] {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            if is_custom(obj):
                continue
            r.check(f"{label} valid against Kubernetes v{KUBE_VERSION} schema (strict)",
                    lambda o=obj: kubernetes_validate.validate(strip(o), KUBE_VERSION, strict=True))

        def every_object_namespaced_and_labelled(o: list[dict[str, Any]] = objs) -> None:
            for obj in o:
                meta = obj["metadata"]
                expect(meta.get("namespace") == NAMESPACE, f"{obj['kind']}/{meta['name']} lacks namespace")
                labels = meta.get("labels", {})
                for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "helm.sh/chart", "app.kubernetes.io/managed-by"):
                    expect(key in labels, f"{obj['kind']}/{meta['name']} lacks label {key}")

        r.check(f"[{scenario}] every object has the namespace and standard labels", every_object_namespaced_and_labelled)

        def workload_invariants(o: list[dict[str, Any]] = objs) -> None:
            dep = one(o, "Deployment", FULLNAME)
            env = deployment_env(o)
            assert_probes(dep)
            assert_grace(dep, env)
            assert_service_links(dep)
            assert_security(dep)
            expect(env["GATEWAY_ADMIN_ADDR"].endswith(f":{ADMIN_PORT}"), "GATEWAY_ADMIN_ADDR is not the admin port")
            expect(env["GATEWAY_LISTEN_ADDR"].endswith(f":{HTTP_PORT}"), "GATEWAY_LISTEN_ADDR is not the public port")
            expect(env["LOG_FORMAT"] == "json", "LOG_FORMAT is not json")
            expect("KAFKA_BOOTSTRAP_SERVERS" in env, "KAFKA_BOOTSTRAP_SERVERS unset")
            ann = dep["spec"]["template"]["metadata"].get("annotations", {})
            expect(re.fullmatch(r"[0-9a-f]{64}", ann.get("checksum/config", "")), "checksum/config annotation missing")
            spread = pod_template(dep).get("topologySpreadConstraints", [])
            expect(any(t["topologyKey"] == "kubernetes.io/hostname" and t["whenUnsatisfiable"] == "ScheduleAnyway" for t in spread),
                   "no ScheduleAnyway spread across kubernetes.io/hostname")
            res = container(dep).get("resources", {})
            expect(res.get("requests", {}).get("cpu") and res.get("limits", {}).get("memory"), "resources not set")
            for job in find(o, "Job"):
                assert_service_links(job)
                assert_security(job)
                jenv = env_map(container(job))
                want = env if job["metadata"]["name"] == TOPICS_JOB else without_provider_secrets(env)
                for k, v in want.items():
                    expect(jenv.get(k) == v, f"{job['metadata']['name']} env {k}={jenv.get(k)!r}, gateway has {v!r}")
                expect(set(jenv) <= set(want), f"{job['metadata']['name']} env beyond the gateway's: {sorted(set(jenv) - set(want))}")

        r.check(f"[{scenario}] Deployment: admin-port probes, grace, enableServiceLinks, securityContext, env", workload_invariants)

        def services(o: list[dict[str, Any]] = objs) -> None:
            public = one(o, "Service", FULLNAME)
            dep = one(o, "Deployment", FULLNAME)
            c = container(dep)
            targets = [resolve_container_port(c, p["targetPort"]) for p in public["spec"]["ports"]]
            expect(targets == [HTTP_PORT], f"public Service targets {targets}, want only {HTTP_PORT}")
            admin = one(o, "Service", ADMIN_SERVICE)
            targets = [resolve_container_port(c, p["targetPort"]) for p in admin["spec"]["ports"]]
            expect(targets == [ADMIN_PORT], f"admin Service targets {targets}")
            expect(admin["spec"].get("type", "ClusterIP") == "ClusterIP", "admin Service is not ClusterIP")
            pod_labels = dep["spec"]["template"]["metadata"]["labels"]
            for svc in (public, admin):
                sel = svc["spec"]["selector"]
                expect(all(pod_labels.get(k) == v for k, v in sel.items()), f"{svc['metadata']['name']} does not select the pods")
            for job in find(o, "Job"):
                jl = job["spec"]["template"]["metadata"]["labels"]
                for svc in (public, admin):
                    expect(not all(jl.get(k) == v for k, v in svc["spec"]["selector"].items()),
                           f"Service {svc['metadata']['name']} selects the pod of Job {job['metadata']['name']}")

        r.check(f"[{scenario}] Services: public Service only on 8080, admin Service only on 9090", services)

    # --- scenario-specific invariants
    if "default" in objs_by:
        o, text = objs_by["default"], rendered_by["default"]

        def default_install() -> None:
            env = deployment_env(o)
            expect(env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", "default bootstrap servers")
            dep = one(o, "Deployment", FULLNAME)
            expect(container(dep)["image"] == "webhook-gateway:0.1.0", f"image {container(dep)['image']}")
            expect(pod_template(dep)["terminationGracePeriodSeconds"] == 40, "default terminationGracePeriodSeconds is not 40")
            expect(dep["spec"]["replicas"] == 2, "default replicas")
            for kind in ("Ingress", "ServiceMonitor", "PrometheusRule", "HorizontalPodAutoscaler", "NetworkPolicy", "Job", "Secret"):
                expect(not find(o, kind), f"{kind} rendered by default")
            one(o, "PodDisruptionBudget", FULLNAME)
            expect(not find(o, "ConfigMap", f"{FULLNAME}-dashboard"), "dashboard rendered by default")
            assert_secret_files(o, "webhook-gateway", {"m2m": "m2m-webhook-secret", "transfers": "transfers-signature-token"},
                                "/var/run/secrets/webhook-gateway")

        r.check("[default] installs as is: existing Secret webhook-gateway, kafka:9092, optional features off, PDB on", default_install)

        def notes() -> None:
            n = text[f"webhook-gateway/templates/NOTES.txt"]
            for needle in ("webhook-gateway sign m2m --secret-file /var/run/secrets/webhook-gateway/m2m-webhook-secret",
                           "webhook-gateway sign transfers", "kubectl -n payments exec -i deploy/wg-webhook-gateway",
                           "/metrics", f"svc/{ADMIN_SERVICE}"):
                expect(needle in n, f"NOTES.txt lacks {needle!r}")

        r.check("[default] NOTES.txt: signed test webhook and metrics", notes)

    if "all-features" in objs_by:
        o = objs_by["all-features"]

        def ingress() -> None:
            ing = one(o, "Ingress", FULLNAME)
            dep = one(o, "Deployment", FULLNAME)
            svc = one(o, "Service", FULLNAME)
            spec = ing["spec"]
            expect(spec.get("defaultBackend") is None, "Ingress has a defaultBackend")
            hosts = set()
            for rule in spec["rules"]:
                hosts.add(rule["host"])
                for p in rule["http"]["paths"]:
                    expect(p["path"] == "/webhooks/" and p["pathType"] == "Prefix", f"path {p['path']} ({p['pathType']})")
                    backend = p["backend"]["service"]
                    expect(backend["name"] == FULLNAME, f"backend Service {backend['name']}")
                    port = backend["port"]
                    sp = next((x for x in svc["spec"]["ports"]
                               if x.get("name") == port.get("name") or x["port"] == port.get("number")), None)
                    expect(sp is not None, f"backend port {port} is not a port of Service {FULLNAME}")
                    expect(resolve_container_port(container(dep), sp["targetPort"]) == HTTP_PORT, "backend is not the public port")
            expect(hosts == {"hooks.example.com", "hooks.example.net"}, f"hosts {hosts}")
            tls = spec.get("tls", [])
            expect(tls and set(tls[0]["hosts"]) == hosts and tls[0].get("secretName"), "TLS does not cover every host")

        r.check("[all-features] Ingress: only /webhooks/ (Prefix) to the public port, TLS on every host", ingress)

        def service_monitor() -> None:
            sm = one(o, "ServiceMonitor", FULLNAME)
            expect(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
            spec = sm["spec"]
            expect(spec.get("selector", {}).get("matchLabels"), "ServiceMonitor without selector.matchLabels")
            expect(spec.get("endpoints"), "ServiceMonitor without endpoints")
            expect(sm["metadata"]["labels"].get("release") == "kube-prometheus-stack", "extra labels missing")
            selected = [s for s in find(o, "Service")
                        if all(s["metadata"]["labels"].get(k) == v for k, v in spec["selector"]["matchLabels"].items())]
            expect([s["metadata"]["name"] for s in selected] == [ADMIN_SERVICE], f"selects Services {[s['metadata']['name'] for s in selected]}")
            admin = selected[0]
            dep = one(o, "Deployment", FULLNAME)
            for ep in spec["endpoints"]:
                expect(ep.get("path") == "/metrics", f"endpoint path {ep.get('path')}")
                sp = next((p for p in admin["spec"]["ports"] if p.get("name") == ep.get("port")), None)
                expect(sp is not None, f"endpoint port {ep.get('port')!r} is not a port of {ADMIN_SERVICE}")
                expect(resolve_container_port(container(dep), sp["targetPort"]) == ADMIN_PORT, "endpoint is not the admin port")
                for key in ("interval", "scrapeTimeout"):
                    expect(re.fullmatch(r"([0-9]+(ms|s|m|h))+", ep.get(key, "")), f"bad {key}")
            expect(spec.get("namespaceSelector", {}).get("matchNames") == [NAMESPACE], "namespaceSelector")

        r.check("[all-features] ServiceMonitor: structure, admin Service, admin port, /metrics", service_monitor)

        def prometheus_rule() -> None:
            pr = one(o, "PrometheusRule", FULLNAME)
            expect(pr["apiVersion"] == "monitoring.coreos.com/v1", "PrometheusRule apiVersion")
            groups = pr["spec"]["groups"]
            expect(isinstance(groups, list) and groups, "no rule groups")
            names = set()
            for g in groups:
                expect(isinstance(g.get("name"), str) and g["name"], "group without name")
                expect(isinstance(g.get("rules"), list) and g["rules"], f"group {g.get('name')} without rules")
                for rule in g["rules"]:
                    expect(set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"},
                           f"unknown rule fields {set(rule)}")
                    expect(("alert" in rule) != ("record" in rule), "a rule needs exactly one of alert/record")
                    expr = rule.get("expr")
                    expect(isinstance(expr, str) and expr.strip(), f"{rule.get('alert')}: empty expr")
                    expect(expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"),
                           f"{rule.get('alert')}: unbalanced expr")
                    used = set(re.findall(r"\b([a-z_]+)\{", expr))
                    expect(not used - GATEWAY_METRICS - EXTERNAL_METRICS, f"{rule['alert']}: unknown metrics {used - GATEWAY_METRICS - EXTERNAL_METRICS}")
                    if "for" in rule:
                        expect(re.fullmatch(r"([0-9]+(ms|s|m|h|d|w|y))+", rule["for"]), f"{rule['alert']}: bad for")
                    expect(rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), f"{rule['alert']}: severity")
                    expect(rule.get("labels", {}).get("team") == "payments", f"{rule['alert']}: alertLabels not applied")
                    expect(rule.get("annotations", {}).get("summary") and rule["annotations"].get("description"),
                           f"{rule['alert']}: summary/description")
                    expect("{{ $" in rule["annotations"]["description"] or rule["alert"] in ("WebhookGatewayMetricsAbsent",),
                           f"{rule['alert']}: description does not template the alert's labels/value")
                    names.add(rule["alert"])
            expect(EXPECTED_ALERTS <= names, f"missing alerts {EXPECTED_ALERTS - names}")
            unavailable = next(r_ for g in groups for r_ in g["rules"] if r_["alert"] == "WebhookGatewayHighUnavailableRatio")
            expect('outcome=~"unavailable|overloaded"' in unavailable["expr"], "503 ratio does not count the 503 outcomes")
            expect(f'job="{ADMIN_SERVICE}"' in unavailable["expr"], "alerts not scoped to this release's job")

        r.check("[all-features] PrometheusRule: structure and the required alerts", prometheus_rule)

        def hpa_and_pdb() -> None:
            hpa = one(o, "HorizontalPodAutoscaler", FULLNAME)
            expect(hpa["apiVersion"] == "autoscaling/v2", "HPA apiVersion")
            expect(hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}, "scaleTargetRef")
            metrics = hpa["spec"]["metrics"]
            expect(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics), "no CPU metric")
            expect(hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] == 12, "replica bounds")
            dep = one(o, "Deployment", FULLNAME)
            expect("replicas" not in dep["spec"], "Deployment sets replicas while the HPA owns them")
            pdb = one(o, "PodDisruptionBudget", FULLNAME)
            expect(pdb["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(),
                   "PDB does not select the gateway pods")

        r.check("[all-features] HPA (autoscaling/v2, CPU) owns replicas; PDB selects the pods", hpa_and_pdb)

        def network_policy() -> None:
            np = one(o, "NetworkPolicy", FULLNAME)
            spec = np["spec"]
            expect(set(spec["policyTypes"]) == {"Ingress", "Egress"}, "policyTypes")
            dep = one(o, "Deployment", FULLNAME)
            c = container(dep)
            ingress_ports = {}
            for rule in spec["ingress"]:
                expect(rule.get("from"), "an ingress rule allows every source")
                for peer in rule["from"]:
                    expect("namespaceSelector" in peer and "ipBlock" not in peer, "ingress from something other than a namespace")
                for p in rule["ports"]:
                    ingress_ports[resolve_container_port(c, p["port"])] = rule["from"][0]["namespaceSelector"]
            expect(set(ingress_ports) == {HTTP_PORT, ADMIN_PORT}, f"ingress ports {set(ingress_ports)}")
            expect(ingress_ports[HTTP_PORT]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}, "public port source")
            expect(ingress_ports[ADMIN_PORT]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}, "admin port source")
            egress_ports = set()
            for rule in spec["egress"]:
                for p in rule["ports"]:
                    egress_ports.add((p["port"], p.get("protocol", "TCP")))
                if any(p["port"] != 53 for p in rule["ports"]):
                    expect(rule.get("to"), "Kafka egress open to everyone")
                    expect({"ipBlock": {"cidr": "10.20.0.0/16"}} in rule["to"], "Kafka CIDR missing")
            expect(egress_ports == {(9092, "TCP"), (9093, "TCP"), (53, "UDP"), (53, "TCP")}, f"egress ports {egress_ports}")
            pod_labels = dep["spec"]["template"]["metadata"]["labels"]
            expect(spec["podSelector"]["matchLabels"].items() <= pod_labels.items(), "does not select the gateway pods")
            for name in (TOPICS_JOB, REDRIVE_JOB):
                job = one(o, "Job", name)
                expect(spec["podSelector"]["matchLabels"].items() <= job["spec"]["template"]["metadata"]["labels"].items(),
                       f"does not select the pod of Job {name}")

        r.check("[all-features] NetworkPolicy: public port from ingress ns, admin from monitoring, egress Kafka + DNS only; "
                "selects the gateway and both Jobs", network_policy)

        def topics_job() -> None:
            job = one(o, "Job", TOPICS_JOB)
            ann = job["metadata"]["annotations"]
            expect(set(ann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}, "hook phases")
            expect("before-hook-creation" in ann.get("helm.sh/hook-delete-policy", ""), "hook delete policy")
            c = container(job)
            expect(c["args"] == ["topics", "create", "--partitions", "12", "--replication-factor", "3"], f"args {c['args']}")
            expect(pod_template(job)["restartPolicy"] == "Never", "restartPolicy")
            expect(not c.get("envFrom"), "the Job must not depend on the (not yet created) ConfigMap")
            expect(not pod_template(job).get("serviceAccountName"), "the Job must not use the (not yet created) ServiceAccount")
            dep = one(o, "Deployment", FULLNAME)
            expect(pod_template(job)["volumes"] == pod_template(dep)["volumes"], "Job volumes differ from the gateway's")
            expect(c["volumeMounts"] == container(dep)["volumeMounts"], "Job mounts differ from the gateway's")

        r.check("[all-features] topics Job: pre-install/pre-upgrade hook, topics create, same env and mounts", topics_job)

        def redrive_job_hook() -> None:
            job = one(o, "Job", REDRIVE_JOB)
            ann = job["metadata"]["annotations"]
            expect(set(ann["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"},
                   f"hook phases {ann['helm.sh/hook']} (it must read the definitions just installed)")
            expect(ann.get("helm.sh/hook-delete-policy") == "before-hook-creation",
                   f"hook delete policy {ann.get('helm.sh/hook-delete-policy')!r}: the finished Job must stay for its log")
            spec = job["spec"]
            expect((spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (2, 1800, 86400),
                   f"backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished: {spec}")
            rules = spec["podFailurePolicy"]["rules"]
            expect({"action": "FailJob", "onExitCodes": {"containerName": "redrive", "operator": "In", "values": [64]}} in rules,
                   f"exit 64 (bad arguments) does not fail the Job at once: {rules}")
            expect(container(job)["name"] == "redrive", "container name (podFailurePolicy names it)")
            expect(job["metadata"]["labels"]["app.kubernetes.io/component"] == "redrive-job", "component label")

        r.check("[all-features] re-drive Job: post-install/post-upgrade hook, kept after it ends (before-hook-creation), "
                "retries, deadline, TTL, exit 64 fails at once", redrive_job_hook)

        def redrive_job_args() -> None:
            job = one(o, "Job", REDRIVE_JOB)
            want = ["redrive", "--from", "deadletter", "--since", "2026-11-24T10:00:00Z", "--until", "1h", "--provider", "m2m",
                    "--dry-run", "--rate", "50", "--group", "webhooks.misc.redrive.manual", "--json"]
            expect(container(job)["args"] == want, f"args {container(job)['args']}")
            expect(pod_template(job)["serviceAccountName"] == "kafka-redrive", "redriveJob.serviceAccountName not used")

        r.check("[all-features] re-drive Job: every value becomes its flag (from, since, until, provider, dry-run, rate, group, json)",
                redrive_job_args)

        def redrive_job_alike() -> None:
            assert_redrive_alike(o, PROVIDERS_CONFIGMAP)
            volumes = {v["name"]: v for v in pod_template(one(o, "Job", REDRIVE_JOB))["volumes"]}
            expect(projected_items(one(o, "Job", REDRIVE_JOB)) == {"kafka-sasl-password": ("kafka-user-webhook-gateway", "kafka-sasl-password")},
                   "the Kafka password from kafka.saslPassword.existingSecret")
            expect("kafka-ca" in volumes, "extraVolumes missing")

        r.check("[all-features] re-drive Job: the gateway's env, mounts and security contexts, the Kafka password file, "
                "no provider secret", redrive_job_alike)

        def kafka_env() -> None:
            env = deployment_env(o)
            want = {
                "KAFKA_BOOTSTRAP_SERVERS": "b-1.kafka.internal:9096,b-2.kafka.internal:9096",
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": "webhook-gateway",
                "KAFKA_MESSAGE_MAX_BYTES": "2000000",
                "KAFKA_LINGER_MS": "2",
                "KAFKA_ENABLE_SSL_CERTIFICATE_VERIFICATION": "true",
                "KAFKA_SASL_PASSWORD_FILE": "/var/run/secrets/webhook-gateway/kafka-sasl-password",
                "GATEWAY_TOPIC_OVERRIDES": "m2m.link.opened=links.opened,unrouted=webhooks.misc",
            }
            for k, v in want.items():
                expect(env.get(k) == v, f"{k}={env.get(k)!r}, want {v!r}")
            dep = one(o, "Deployment", FULLNAME)
            sources = pod_template(dep)["volumes"][0]["projected"]["sources"]
            kafka = [s["secret"] for s in sources if any(i["path"] == "kafka-sasl-password" for i in s["secret"]["items"])]
            expect(kafka == [{"name": "kafka-user-webhook-gateway", "items": [{"key": "kafka-sasl-password", "path": "kafka-sasl-password"}]}],
                   f"kafka password source {kafka}")
            expect(any(m["mountPath"] == "/etc/kafka-ca" for m in container(dep)["volumeMounts"]), "extraVolumeMounts missing")

        r.check("[all-features] kafka.config maps to KAFKA_* (security.protocol -> KAFKA_SECURITY_PROTOCOL), password as a file", kafka_env)

        def dashboard() -> None:
            cm = one(o, "ConfigMap", f"{FULLNAME}-dashboard")
            expect(cm["metadata"]["labels"].get("grafana_dashboard") == "1", "grafana_dashboard label")
            dash = json.loads(cm["data"]["webhook-gateway.json"])
            expect(EXPECTED_PANELS <= {p["title"] for p in dash["panels"]}, "panels missing")

        r.check("[all-features] Grafana dashboard ConfigMap with the sidecar label", dashboard)

        def zone_spread() -> None:
            dep = one(o, "Deployment", FULLNAME)
            keys = [t["topologyKey"] for t in pod_template(dep)["topologySpreadConstraints"]]
            expect(keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], f"keys {keys}")

        r.check("[all-features] topologySpread keys are configurable", zone_spread)

    if "existing-secret" in objs_by:
        o, text = objs_by["existing-secret"], rendered_by["existing-secret"]
        r.check("[existing-secret] no inline secret literal (plain or base64) and no Secret with data rendered",
                lambda: assert_no_secret_literal(text, o, [LEAK_M2M, LEAK_TRANSFERS, LEAK_KAFKA]))
        r.check("[existing-secret] secret files mounted from the existing Secret with the configured keys",
                lambda: assert_secret_files(o, "gateway-secrets", {"m2m": "m2m", "transfers": "transfers"},
                                            "/var/run/secrets/webhook-gateway"))

        def kafka_password_key() -> None:
            dep = one(o, "Deployment", FULLNAME)
            items = pod_template(dep)["volumes"][0]["projected"]["sources"][0]["secret"]["items"]
            expect({"key": "kafka", "path": "kafka-sasl-password"} in items, f"items {items}")
            expect(env_map(container(dep)).get("KAFKA_SASL_PASSWORD_FILE") == "/var/run/secrets/webhook-gateway/kafka-sasl-password",
                   "KAFKA_SASL_PASSWORD_FILE")

        r.check("[existing-secret] Kafka SASL password from the Secret as KAFKA_SASL_PASSWORD_FILE", kafka_password_key)

        def no_checksum_secret() -> None:
            dep = one(o, "Deployment", FULLNAME)
            expect("checksum/secret" not in dep["spec"]["template"]["metadata"]["annotations"],
                   "checksum/secret with an existing Secret (rotation is by file reload)")

        r.check("[existing-secret] no checksum/secret annotation (files rotate without a restart)", no_checksum_secret)

    if "inline-secret" in objs_by:
        o = objs_by["inline-secret"]

        def inline_secret() -> None:
            s = one(o, "Secret", FULLNAME)
            data = {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
            expect(data == {"m2m-webhook-secret": "dev-m2m-secret", "transfers-signature-token": "dev-transfers-token",
                            "kafka-sasl-password": "dev-kafka-password"}, f"Secret keys {sorted(data)}")
            expect(s["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade",
                   "with the topics Job on, the Secret must exist before it (hook)")
            expect(int(s["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(one(o, "Job", TOPICS_JOB)["metadata"]["annotations"]["helm.sh/hook-weight"]),
                   "Secret hook weight must be lower than the Job's")
            assert_secret_files(o, FULLNAME, {"m2m": "m2m-webhook-secret", "transfers": "transfers-signature-token"},
                                "/var/run/secrets/webhook-gateway")
            dep = one(o, "Deployment", FULLNAME)
            expect(re.fullmatch(r"[0-9a-f]{64}", dep["spec"]["template"]["metadata"]["annotations"].get("checksum/secret", "")),
                   "checksum/secret missing")

        r.check("[inline-secret] chart-created Secret holds the inline values, mounted as files, checksum/secret", inline_secret)

        def no_pdb_single_replica() -> None:
            expect(not find(o, "PodDisruptionBudget"), "a PDB with one replica would block node drains")

        r.check("[inline-secret] no PodDisruptionBudget with replicaCount 1", no_pdb_single_replica)

        def inline_without_job() -> None:
            values = copy.deepcopy(SCENARIOS["inline-secret"])
            values["topicsJob"] = {"enabled": False}
            s = one(objects(render(values)), "Secret", FULLNAME)
            expect("helm.sh/hook" not in s["metadata"].get("annotations", {}), "Secret is a hook without the topics Job")

        r.check("[inline-secret] without the topics Job the Secret is an ordinary release resource", inline_without_job)

    if "definitions" in objs_by:
        o, text = objs_by["definitions"], rendered_by["definitions"]

        def definitions_file() -> None:
            expect(providers_file(o, PROVIDERS_CONFIGMAP) == {"providers": DEFINITIONS},
                   f"the providers file is not providers.definitions: {one(o, 'ConfigMap', PROVIDERS_CONFIGMAP)['data']}")

        r.check("[definitions] ConfigMap providers.yaml parses back to exactly providers.definitions (nulls kept)", definitions_file)

        def gateway_reads_it() -> None:
            dep = one(o, "Deployment", FULLNAME)
            env = deployment_env(o)
            expect(env.get("GATEWAY_PROVIDERS_FILE") == mounted_providers_file(dep, PROVIDERS_CONFIGMAP),
                   f"GATEWAY_PROVIDERS_FILE={env.get('GATEWAY_PROVIDERS_FILE')!r} is not the mounted providers.yaml")
            ann = dep["spec"]["template"]["metadata"]["annotations"]
            expect(re.fullmatch(r"[0-9a-f]{64}", ann.get("checksum/providers", "")), "checksum/providers annotation missing")

        r.check("[definitions] Deployment mounts the ConfigMap, GATEWAY_PROVIDERS_FILE names it, checksum/providers", gateway_reads_it)

        def checksum_follows_definitions() -> None:
            def checksum(definitions: list[dict[str, Any]]) -> str:
                values = copy.deepcopy(SCENARIOS["definitions"])
                values["providers"]["definitions"] = definitions
                names = {d["name"] for d in definitions}
                values["providers"]["secrets"] = {k: v for k, v in values["providers"]["secrets"].items() if k in names}
                dep = one(objects(render(values)), "Deployment", FULLNAME)
                return dep["spec"]["template"]["metadata"]["annotations"]["checksum/providers"]
            base = checksum(DEFINITIONS)
            expect(base == checksum(copy.deepcopy(DEFINITIONS)), "checksum/providers is not stable")
            changed = copy.deepcopy(DEFINITIONS)
            changed[1]["events"][0]["when"] = {"/status": "201"}
            expect(checksum(changed) != base, "changing a definition keeps checksum/providers (the pods would not roll)")
            expect(checksum(DEFINITIONS[:1]) != base, "removing a provider keeps checksum/providers")

        r.check("[definitions] checksum/providers changes with the definitions (rolls the pods), stable otherwise",
                checksum_follows_definitions)

        r.check("[definitions] each provider's secret mounted as a file, <ENV>_FILE set: acme from the release's Secret, "
                "ledger from its own (gateway and Job)",
                lambda: assert_definition_secrets(o, {
                    "acme": ("ACME_WEBHOOK_SECRET", "webhook-gateway", "acme-webhook-secret"),
                    "ledger": ("LEDGER_SIGNING_KEY", "ledger-hmac", "signing-key"),
                }))
        r.check("[definitions] built-ins keep their meaning: M2M/Transfers files as before",
                lambda: assert_secret_files(o, "webhook-gateway", {"m2m": "m2m-webhook-secret", "transfers": "transfers-signature-token"},
                                            SECRETS_DIR))
        r.check("[definitions] no inline secret of a provider rendered with an existing Secret",
                lambda: assert_no_secret_literal(text, o, [LEAK_ACME]))

        def job_sees_definitions() -> None:
            job = one(o, "Job", TOPICS_JOB)
            dep = one(o, "Deployment", FULLNAME)
            jenv = env_map(container(job))
            expect(jenv.get("GATEWAY_PROVIDERS_FILE") == mounted_providers_file(job, TOPICS_PROVIDERS_CONFIGMAP),
                   f"Job GATEWAY_PROVIDERS_FILE={jenv.get('GATEWAY_PROVIDERS_FILE')!r} is not its mounted providers.yaml")
            expect(jenv["GATEWAY_PROVIDERS_FILE"] == deployment_env(o)["GATEWAY_PROVIDERS_FILE"], "Job and gateway paths differ")
            expect(providers_file(o, TOPICS_PROVIDERS_CONFIGMAP) == providers_file(o, PROVIDERS_CONFIGMAP),
                   "the Job's providers file differs from the gateway's")
            cm = one(o, "ConfigMap", TOPICS_PROVIDERS_CONFIGMAP)
            ann = cm["metadata"].get("annotations", {})
            expect(set(ann.get("helm.sh/hook", "").split(",")) == {"pre-install", "pre-upgrade"},
                   "the Job's ConfigMap is not a pre-install/pre-upgrade hook (it would not exist, or be stale, when the Job runs)")
            expect(int(ann["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"]),
                   "the Job's ConfigMap hook weight must be lower than the Job's")
            expect("before-hook-creation" in ann.get("helm.sh/hook-delete-policy", ""), "hook delete policy")
            release_cm = one(o, "ConfigMap", PROVIDERS_CONFIGMAP)
            expect("helm.sh/hook" not in release_cm["metadata"].get("annotations", {}),
                   "the gateway's ConfigMap is a hook (it would outlive the release)")
            # Everything else mounted alike: the same volumes but for the ConfigMap's name.
            def normalised(volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
                out = copy.deepcopy(volumes)
                for v in out:
                    if v.get("configMap", {}).get("name") in (PROVIDERS_CONFIGMAP, TOPICS_PROVIDERS_CONFIGMAP):
                        v["configMap"]["name"] = "<providers>"
                return out
            expect(normalised(pod_template(job)["volumes"]) == normalised(pod_template(dep)["volumes"]),
                   "Job volumes differ from the gateway's")
            expect(container(job)["volumeMounts"] == container(dep)["volumeMounts"], "Job mounts differ from the gateway's")

        r.check("[definitions] topics Job: same GATEWAY_PROVIDERS_FILE, a hook copy of the same file, same secret files",
                job_sees_definitions)

        def redrive_defaults() -> None:
            job = one(o, "Job", REDRIVE_JOB)
            expect(container(job)["args"] == ["redrive", "--from", "unrouted", "--json"], f"args {container(job)['args']}")
            expect(pod_template(job)["serviceAccountName"] == pod_template(one(o, "Deployment", FULLNAME))["serviceAccountName"],
                   "the default ServiceAccount is not the gateway's")

        r.check("[definitions] re-drive Job defaults: redrive --from unrouted --json, the gateway's ServiceAccount", redrive_defaults)

        def redrive_reads_release_file() -> None:
            assert_redrive_alike(o, PROVIDERS_CONFIGMAP)
            job = one(o, "Job", REDRIVE_JOB)
            expect(env_map(container(job))["GATEWAY_PROVIDERS_FILE"] == deployment_env(o)["GATEWAY_PROVIDERS_FILE"],
                   "the Job's providers file path is not the gateway's")
            names = {v["name"] for v in pod_template(job)["volumes"]}
            expect(names == {"providers"}, f"volumes {sorted(names)}: no secrets volume without a Kafka password")
            text_job = yaml.safe_dump(strip(job))
            for leak in ("ACME_WEBHOOK_SECRET", "LEDGER_SIGNING_KEY", "ledger-hmac", "m2m-webhook-secret"):
                expect(leak not in text_job, f"{leak} in the re-drive Job")

        r.check("[definitions] re-drive Job: the release's providers ConfigMap (not the topics hook copy), "
                "no provider's secret or variable", redrive_reads_release_file)

        def notes_paths() -> None:
            n = text["webhook-gateway/templates/NOTES.txt"]
            for needle in ("/webhooks/m2m", "/webhooks/transfers", "/webhooks/acme", "/webhooks/ledger", "providers show"):
                expect(needle in n, f"NOTES.txt lacks {needle!r}")

        r.check("[definitions] NOTES.txt lists the configured providers' paths", notes_paths)

        name = "[definitions] the gateway loads the rendered providers file (`webhook-gateway providers show`)"
        binary = gateway_binary()
        if binary is None:
            r.skip(name, "no built binary (cargo build, or set WEBHOOK_GATEWAY_BIN)")
        else:
            def binary_loads_file() -> None:
                work = Path(tempfile.mkdtemp(prefix="webhook-gateway-providers-"))
                try:
                    file = work / "providers.yaml"
                    file.write_text(one(o, "ConfigMap", PROVIDERS_CONFIGMAP)["data"]["providers.yaml"])
                    env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_PROVIDERS_FILE": str(file)}
                    out = subprocess.run([str(binary), "providers", "show"], env=env, capture_output=True, text=True, timeout=60)
                    expect(out.returncode == 0, f"{binary} exited {out.returncode}: {out.stderr.strip()}")
                    shown = {p["name"] for p in yaml.safe_load(out.stdout)["providers"]}
                    expect({"acme", "ledger"} <= shown, f"providers shown: {sorted(shown)}")
                finally:
                    shutil.rmtree(work, ignore_errors=True)

            r.check(f"{name} ({binary})", binary_loads_file)

        def only_configured_without_builtins() -> None:
            values = copy.deepcopy(SCENARIOS["definitions"])
            values["providers"]["m2m"] = {"enabled": False}
            values["providers"]["transfers"] = {"enabled": False}
            o2 = objects(render(values))
            for w in provider_secret_workloads(o2):
                env = env_map(container(w))
                expect("M2M_WEBHOOK_SECRET_FILE" not in env and "TRANSFERS_SIGNATURE_TOKEN_FILE" not in env,
                       f"{w['kind']}: a disabled built-in's file variable")
                paths = set(projected_items(w))
                expect(paths == {"providers/acme", "providers/ledger"}, f"{w['kind']}: files {sorted(paths)}")

        r.check("[definitions] built-ins disabled: only the configured providers' files", only_configured_without_builtins)

    if "definitions-inline" in objs_by:
        o, text = objs_by["definitions-inline"], rendered_by["definitions-inline"]

        def inline_definition_secret() -> None:
            s = one(o, "Secret", FULLNAME)
            data = {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
            expect(data == {"m2m-webhook-secret": "dev-m2m-secret", "transfers-signature-token": "dev-transfers-token",
                            "acme-webhook-secret": "whsec_ZGV2LWFjbWUtc2VjcmV0"}, f"Secret data {data}")
            assert_definition_secrets(o, {
                "acme": ("ACME_WEBHOOK_SECRET", FULLNAME, "acme-webhook-secret"),
                "ledger": ("LEDGER_SIGNING_KEY", "ledger-hmac", "ledger-webhook-secret"),
            })
            dep = one(o, "Deployment", FULLNAME)
            expect(re.fullmatch(r"[0-9a-f]{64}", dep["spec"]["template"]["metadata"]["annotations"].get("checksum/secret", "")),
                   "checksum/secret missing")

        r.check("[definitions-inline] the chart's Secret holds acme's inline secret, mounted as its file; ledger from its own Secret",
                inline_definition_secret)
        r.check("[definitions-inline] the inline value of a provider with its own Secret is not rendered",
                lambda: expect(LEAK_LEDGER not in "\n".join(text.values())
                               and base64.b64encode(LEAK_LEDGER.encode()).decode() not in "\n".join(text.values()),
                               "ledger's inline value rendered"))

    def no_definitions_no_file() -> None:
        for scenario in ("default", "all-features"):
            o = objs_by[scenario]
            expect(not find(o, "ConfigMap", PROVIDERS_CONFIGMAP) and not find(o, "ConfigMap", TOPICS_PROVIDERS_CONFIGMAP),
                   f"[{scenario}] a providers ConfigMap without definitions")
            dep = one(o, "Deployment", FULLNAME)
            expect("GATEWAY_PROVIDERS_FILE" not in deployment_env(o), f"[{scenario}] GATEWAY_PROVIDERS_FILE without definitions")
            expect("checksum/providers" not in dep["spec"]["template"]["metadata"]["annotations"], f"[{scenario}] checksum/providers")

    r.check("without definitions: no providers ConfigMap, no GATEWAY_PROVIDERS_FILE, no checksum/providers", no_definitions_no_file)

    # --- value-driven behaviour
    def grace_follows_values() -> None:
        dep = one(objects(render({"gateway": {"shutdownDelaySecs": 10, "shutdownGraceSecs": 60}})), "Deployment", FULLNAME)
        tgps = pod_template(dep)["terminationGracePeriodSeconds"]
        expect(tgps > 70, f"terminationGracePeriodSeconds {tgps} <= 10 + 60")

    r.check("terminationGracePeriodSeconds is computed from shutdownDelaySecs + shutdownGraceSecs", grace_follows_values)

    def checksum_rolls() -> None:
        def checksum(values: dict[str, Any]) -> str:
            dep = one(objects(render(values)), "Deployment", FULLNAME)
            return dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        expect(checksum({}) != checksum({"gateway": {"maxInflight": 2048}}), "config change keeps the checksum")
        expect(checksum({}) != checksum({"kafka": {"config": {"acks": "all"}}}), "kafka.config change keeps the checksum")
        expect(checksum({}) == checksum({}), "checksum is not stable")

    r.check("a config change changes checksum/config (rolls the pods)", checksum_rolls)

    def large_numbers() -> None:
        env = deployment_env(objects(render({"gateway": {"maxBodyBytes": 10000000, "publishTimeoutMs": 120000,
                                                         "maxBufferedBytes": 268435456},
                                             "kafka": {"config": {"message.max.bytes": 20000000}}})))
        expect(env["GATEWAY_MAX_BODY_BYTES"] == "10000000", f"GATEWAY_MAX_BODY_BYTES={env['GATEWAY_MAX_BODY_BYTES']}")
        expect(env["KAFKA_MESSAGE_MAX_BYTES"] == "20000000", f"KAFKA_MESSAGE_MAX_BYTES={env['KAFKA_MESSAGE_MAX_BYTES']}")
        expect(env["GATEWAY_MAX_BUFFERED_BYTES"] == "268435456", f"GATEWAY_MAX_BUFFERED_BYTES={env.get('GATEWAY_MAX_BUFFERED_BYTES')}")

    r.check("large numbers render as integers, not 1e+07", large_numbers)

    def disabled_provider() -> None:
        o = objects(render({"providers": {"transfers": {"enabled": False}}}))
        dep = one(o, "Deployment", FULLNAME)
        env = env_map(container(dep))
        expect("TRANSFERS_SIGNATURE_TOKEN_FILE" not in env and "M2M_WEBHOOK_SECRET_FILE" in env, "env")
        items = pod_template(dep)["volumes"][0]["projected"]["sources"][0]["secret"]["items"]
        expect([i["path"] for i in items] == ["m2m-webhook-secret"], f"items {items}")

    r.check("a disabled provider gets no *_FILE variable and no mounted key", disabled_provider)

    alert_checks(r)

    managed_name = "the chart's SASL_SSL settings (kafka.saslPassword, a CA bundle in extraVolumes) drive the topics Job and the gateway against a real SCRAM broker behind TLS"
    if binary is None:
        r.skip(managed_name, "no built binary (cargo build, or set WEBHOOK_GATEWAY_BIN)")
    else:
        r.check(f"{managed_name} ({binary})", lambda: on_managed_kafka(binary))

    for name, judge in later:
        r.check(name, judge)

    if args.counts:
        Path(args.counts).write_text(f"{r.passed} {r.failed}\n")
    else:
        print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
