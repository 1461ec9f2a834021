#!/usr/bin/env bash
# Copy into the chart the files it renders from the rest of the repository: Helm reads only files
# inside a chart, so the policy file and the Prometheus alert rules are kept there as copies.
#   deploy/helm/sync-files.sh           copy (what `make helm` does first)
#   deploy/helm/sync-files.sh --check   exit 1 when a copy is stale (the chart test checks this too)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
chart="$root/deploy/helm/hitl-gate"
check=false
[[ "${1:-}" == "--check" ]] && check=true

# source -> copy; a missing source removes the copy (the chart then renders its placeholder).
pairs=(
  "policy/default.yaml:files/policy.yaml"
  "deploy/prometheus/alerts.yml:files/alerts.yml"
)
stale=0
for pair in "${pairs[@]}"; do
  src="$root/${pair%%:*}" dst="$chart/${pair#*:}"
  if [[ -f "$src" ]]; then
    if ! cmp -s "$src" "$dst"; then
      if $check; then echo "stale: ${pair#*:} differs from ${pair%%:*}" >&2; stale=1
      else mkdir -p "$(dirname "$dst")"; cp "$src" "$dst"; echo "copied ${pair%%:*} -> deploy/helm/hitl-gate/${pair#*:}"; fi
    fi
  elif [[ -e "$dst" ]]; then
    if $check; then echo "stale: ${pair#*:} exists but ${pair%%:*} does not" >&2; stale=1
    else rm -f "$dst"; echo "removed deploy/helm/hitl-gate/${pair#*:} (no ${pair%%:*})"; fi
  fi
done
if ((stale)); then echo "run deploy/helm/sync-files.sh (or make helm)" >&2; exit 1; fi
