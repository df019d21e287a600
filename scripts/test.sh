#!/usr/bin/env bash
# The one test command. Installs what the suite lacks (skipping what is there),
# then runs every check: format, lints, unit tests, and the end-to-end tests
# through real HTTP and a real Kafka-protocol broker (tansu). Fails loudly
# when anything is missing: the real-broker tests are never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_VERSION=0.6.0
CARGO_AUDIT_VERSION=0.22.2
say() { printf '\n==> %s\n' "$*"; }

# System packages: a C toolchain and headers for librdkafka (built from source
# with TLS), curl for the tests that run printed commands as a user would,
# python3-venv for the chart checks' virtual environment, prometheus (the server and
# promtool) for the alert unit tests and the dashboard test against a real Prometheus,
# valgrind (callgrind) for the instruction-count guard, wrk for the e2e bench's
# headline rows (its smoke run included), stunnel4 and openssl for the managed-Kafka
# tests (TLS in front of an authenticating tansu, a certificate made per test), node
# and npm for the official AsyncAPI parser that checks the consumer contract and the
# JavaScript CloudEvents SDK.
missing=()
for pkg in build-essential pkg-config libssl-dev zlib1g-dev curl python3 prometheus valgrind wrk stunnel4 openssl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The chart checks create a virtual environment: Debian's python3 needs python3-venv.
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
    say "installing system packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The test broker (about 10 minutes to build, once per machine).
if ! tansu --version 2>/dev/null | grep -qx "tansu $TANSU_VERSION"; then
    say "installing tansu $TANSU_VERSION (a Kafka-compatible broker for the end-to-end tests)"
    cargo install --locked tansu --version "$TANSU_VERSION" --features dynostore,libsql
fi
tansu --version | grep -qx "tansu $TANSU_VERSION" || { echo "tansu $TANSU_VERSION is required and could not be installed" >&2; exit 1; }
{ promtool --version && prometheus --version; } >/dev/null 2>&1 || { echo "prometheus and promtool are required (Debian package prometheus)" >&2; exit 1; }
valgrind --version >/dev/null 2>&1 || { echo "valgrind is required for the instruction-count guard (Debian package valgrind)" >&2; exit 1; }
command -v wrk >/dev/null 2>&1 || { echo "wrk is required for the e2e bench's headline rows (Debian package wrk)" >&2; exit 1; }
command -v stunnel4 >/dev/null 2>&1 || { echo "stunnel4 is required for the managed-Kafka (SASL_SSL) tests (Debian package stunnel4)" >&2; exit 1; }
command -v openssl >/dev/null 2>&1 || { echo "openssl is required for the managed-Kafka tests' certificates (Debian package openssl)" >&2; exit 1; }

# The consumer contract's independent checks (scripts/contract): the official AsyncAPI
# parser and the JavaScript CloudEvents SDK (npm cloudevents), the exact npm tree of
# package-lock.json (install scripts off), and a virtual environment with jsonschema
# (validates every record the tests read back), confluent-kafka (docs/consuming.md's
# consumer example) and the Python CloudEvents SDK, every package pinned in requirements.txt.
# Each is reinstalled when its pin file changes. The SDKs' automatic readers must
# read the records as the gateway means them (tests/it/sdk_readers.rs).
CONTRACT_TOOLS=scripts/contract
CONTRACT_VENV=.venv-contract
ASYNCAPI_PARSER_VERSION=3.6.3
CLOUDEVENTS_JS_VERSION=10.0.0
CLOUDEVENTS_PY_VERSION=2.2.0
# npm cloudevents $CLOUDEVENTS_JS_VERSION supports Node.js 20 to 24 (its "engines").
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
((node_major >= 20)) || { echo "Node.js 20 or later is required (npm cloudevents $CLOUDEVENTS_JS_VERSION); found $(node --version 2>&1)" >&2; exit 1; }

# npm_tree DIR WHAT: DIR's exact npm tree (its package-lock.json, install scripts
# off), installed again whenever the lock file changes.
npm_tree() {
    if ! cmp -s "$1/package-lock.json" "$1/node_modules/.installed-from" 2>/dev/null; then
        say "installing $2 (npm ci in $1)"
        npm ci --prefix "$1" --ignore-scripts --no-audit --no-fund
        cp "$1/package-lock.json" "$1/node_modules/.installed-from"
    fi
}
# venv_from DIR VENV WHAT: a virtual environment with DIR/requirements.txt's
# pinned packages, installed again whenever the pin file changes.
venv_from() {
    if ! cmp -s "$1/requirements.txt" "$2/.installed-from" 2>/dev/null; then
        say "installing $3 into $2 ($1/requirements.txt)"
        [ -x "$2/bin/python" ] || python3 -m venv "$2"
        "$2/bin/pip" install -q --disable-pip-version-check -r "$1/requirements.txt"
        cp "$1/requirements.txt" "$2/.installed-from"
    fi
}
# npm_version DIR PACKAGE: the version installed in DIR/node_modules.
npm_version() { node -p "require('./$1/node_modules/$2/package.json').version" 2>/dev/null; }

npm_tree "$CONTRACT_TOOLS" "@asyncapi/parser $ASYNCAPI_PARSER_VERSION and cloudevents $CLOUDEVENTS_JS_VERSION"
[ "$(npm_version "$CONTRACT_TOOLS" @asyncapi/parser)" = "$ASYNCAPI_PARSER_VERSION" ] \
    || { echo "@asyncapi/parser $ASYNCAPI_PARSER_VERSION is required in $CONTRACT_TOOLS/node_modules and could not be installed" >&2; exit 1; }
[ "$(npm_version "$CONTRACT_TOOLS" cloudevents)" = "$CLOUDEVENTS_JS_VERSION" ] \
    || { echo "cloudevents $CLOUDEVENTS_JS_VERSION (npm) is required in $CONTRACT_TOOLS/node_modules and could not be installed" >&2; exit 1; }
venv_from "$CONTRACT_TOOLS" "$CONTRACT_VENV" "the contract's Python tools"
"$CONTRACT_VENV/bin/python" -c 'import jsonschema, rfc3339_validator, confluent_kafka' \
    || { echo "jsonschema, rfc3339-validator and confluent-kafka are required in $CONTRACT_VENV and could not be installed" >&2; exit 1; }
"$CONTRACT_VENV/bin/python" - "$CLOUDEVENTS_PY_VERSION" <<'PY' \
    || { echo "cloudevents $CLOUDEVENTS_PY_VERSION (PyPI) with its Kafka binding is required in $CONTRACT_VENV and could not be installed" >&2; exit 1; }
import sys
from importlib.metadata import version
from cloudevents.core.bindings.kafka import from_kafka_event
sys.exit(version("cloudevents") != sys.argv[1])
PY

# The senders' own SDKs as independent signers (tests/it/senders.rs), pinned in
# scripts/senders/requirements.txt and package-lock.json: what a sender's SDK
# signs, its preset must accept.
SENDERS_TOOLS=scripts/senders
SENDERS_VENV=.venv-senders
TWILIO_JS_VERSION=6.3.1
venv_from "$SENDERS_TOOLS" "$SENDERS_VENV" "the senders' SDKs"
"$SENDERS_VENV/bin/python" -c 'import slack_sdk.signature, nacl.signing, cryptography' \
    || { echo "slack_sdk, PyNaCl and cryptography are required in $SENDERS_VENV and could not be installed" >&2; exit 1; }
npm_tree "$SENDERS_TOOLS" "twilio $TWILIO_JS_VERSION"
[ "$(npm_version "$SENDERS_TOOLS" twilio)" = "$TWILIO_JS_VERSION" ] \
    || { echo "twilio $TWILIO_JS_VERSION (npm) is required in $SENDERS_TOOLS/node_modules and could not be installed" >&2; exit 1; }

# The e2e bench's peer (benches/e2e/node: Express and kafkajs, pinned in its
# package-lock.json), which the bench's smoke run drives beside the gateway.
PEER_TOOLS=benches/e2e/node
npm_tree "$PEER_TOOLS" "express and kafkajs for the bench's Node handler"
node -e "require('./$PEER_TOOLS/node_modules/express'); require('./$PEER_TOOLS/node_modules/kafkajs')" \
    || { echo "express and kafkajs are required in $PEER_TOOLS/node_modules and could not be installed" >&2; exit 1; }

# The dependency audit (about 10 minutes to build, once per machine).
audit_version() { cargo audit --version 2>/dev/null | awk '{print $NF}'; }
if [ "$(audit_version)" != "$CARGO_AUDIT_VERSION" ]; then
    say "installing cargo-audit $CARGO_AUDIT_VERSION (checks Cargo.lock against the RustSec advisory database)"
    cargo install --locked cargo-audit --version "$CARGO_AUDIT_VERSION"
fi
[ "$(audit_version)" = "$CARGO_AUDIT_VERSION" ] || { echo "cargo-audit $CARGO_AUDIT_VERSION is required and could not be installed" >&2; exit 1; }

# Known-vulnerable dependencies fail the suite, before the long test run. These
# machines cannot fetch the live RustSec database: audit against the snapshot
# next to the checkout (SECURITY.md: the live check). Accepted advisories, each
# with its reason, are in .cargo/audit.toml. Warnings (unmaintained, unsound)
# fail too: each is either fixed or accepted there with a reason.
ADVISORY_DB="$(cd .. && pwd)/shared/advisory-db"
[ -d "$ADVISORY_DB/crates" ] || { echo "the RustSec advisory database snapshot is missing: $ADVISORY_DB/crates" >&2; exit 1; }
audit() { cargo audit --db "$ADVISORY_DB" --no-fetch --stale --deny warnings "$@"; }
say "dependency audit (RustSec snapshot: $ADVISORY_DB)"
# First prove it can fail (a misplaced or empty snapshot would pass anything):
# a copy of the lock pinning bytes 1.11.0 must fail on RUSTSEC-2026-0007.
scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
sed '/^name = "bytes"$/{n;s/^version = .*/version = "1.11.0"/}' Cargo.lock >"$scratch/Cargo.lock"
if out="$(audit --file "$scratch/Cargo.lock" 2>&1)" || ! grep -q RUSTSEC-2026-0007 <<<"$out"; then
    echo "the audit did not fail a lock pinning bytes 1.11.0 (RUSTSEC-2026-0007): is $ADVISORY_DB complete?" >&2; exit 1
fi
audit

say "format"
cargo fmt --check

say "lints"
cargo clippy --locked --all-targets -- -D warnings

say "tests (unit, end to end with tansu, broker faults, hostile input, the consumer contract)"
# Every record the tests read back is kept here, with its gateway's contract.
records="$scratch/contract-records"
mkdir "$records"
# The tests that need a real part (tansu, Prometheus, stunnel4, npm, the Python
# tools) are #[ignore]d for plain `cargo test`: here they run too, and fail
# loudly when a part is missing.
CONTRACT_RECORDS_DIR="$records" cargo test --locked --no-fail-fast -- --include-ignored

say "contract: every record the tests read back validates against its gateway's contract (jsonschema, draft-07)"
"$CONTRACT_VENV/bin/python" "$CONTRACT_TOOLS/validate_records.py" "$records"

say "benchmarks, built in the test profile and run once in smoke mode (figures: cargo bench)"
cargo test --locked --benches

say "instruction-count guard: verify + normalize + record under callgrind, within 10 % of benches/instructions.baseline"
cargo bench --locked --bench instructions

say "deploy: Dockerfile lint, Helm chart lint, render and schema checks"
# The binary the tests built loads the chart's rendered providers file: named
# here, a missing binary fails that check instead of skipping it.
WEBHOOK_GATEWAY_BIN="$PWD/target/debug/webhook-gateway" bash deploy/check.sh
