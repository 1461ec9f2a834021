#!/usr/bin/env bash
# What the test suite needs beyond the Python packages, brought in or named: `make test` and
# .ci/run both call this, so the README's two commands are the whole set-up.
#   deploy/local/deps.sh          install what is missing where it can, else stop naming it
#   deploy/local/deps.sh --check  install nothing: list what is missing, exit 1 if anything is
#
# Needs: uv (from PyPI), Java 17+ and Maven (the Kafka broker runs from its Maven Central jars),
# PostgreSQL (review-api's tests), Prometheus' promtool (the alert rules), Chromium (the
# reviewer page's tests), helm (the chart tests; built with `go install`, since only package
# registries are reachable, not helm's release downloads). Debian packages are installed when
# this runs as root with apt-get; otherwise each missing tool is named with the command that
# installs it, and nothing else is tried.
set -euo pipefail

check_only=false
[[ "${1:-}" == "--check" ]] && check_only=true

# Keep in step with HELM_VERSION in tests/integration/chartkit.py.
HELM_VERSION=v3.22.0
export PATH="$HOME/.local/bin:$PATH"
if [[ -x /usr/local/go/bin/go ]]; then export PATH="$PATH:/usr/local/go/bin"; fi
if command -v go >/dev/null; then export PATH="$(go env GOPATH)/bin:$PATH"; fi

log() { echo "deps.sh: $*" >&2; }
missing=()

have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_chromium() { [[ -x /usr/bin/chromium ]] || command -v chromium >/dev/null; }

# --- uv: the one Python tool the Makefile needs before anything else.
if ! command -v uv >/dev/null; then
  if $check_only; then missing+=("uv: python3 -m pip install --user 'uv>=0.5'")
  else python3 -m pip install --quiet --user --root-user-action=ignore 'uv>=0.5'; fi
fi

# --- Java and Maven: not installed here (a JDK is a deliberate choice on a developer machine).
command -v java >/dev/null || missing+=("java (17+): apt-get install openjdk-17-jre-headless")
command -v mvn >/dev/null || missing+=("mvn: apt-get install maven")

# --- Debian packages: PostgreSQL, promtool, Chromium.
packages=()
have_postgres || packages+=(postgresql)
command -v promtool >/dev/null || packages+=(prometheus)
have_chromium || packages+=(chromium)
if ((${#packages[@]})); then
  if ! $check_only && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${packages[@]}" >/dev/null
  else
    missing+=("${packages[*]}: sudo apt-get install --no-install-recommends ${packages[*]}")
  fi
fi

# --- helm, built from source through the Go module proxy.
if ! command -v helm >/dev/null; then
  if ! $check_only && command -v go >/dev/null; then
    log "building helm $HELM_VERSION with go install (first run only)"
    # The -X flags are those of helm's own release builds: its version, and the Kubernetes
    # version (that of its client-go, 1.37) `helm template` assumes instead of 1.20.
    k8s="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
    k8s="$k8s -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
    k8s="$k8s -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
    k8s="$k8s -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37"
    go install -ldflags "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} $k8s" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  else
    missing+=("helm: go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} (needs Go), then put \$(go env GOPATH)/bin on PATH")
  fi
fi

if ((${#missing[@]})); then
  log "the test suite needs these; install them, then run it again:"
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  exit 1
fi
