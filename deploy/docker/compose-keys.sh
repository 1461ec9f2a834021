#!/usr/bin/env bash
# Signing keys for docker-compose.yml (docs/operations.md, Signed events): a fresh Ed25519 key
# pair per writing service from `hitl-keys new`, as the env files the compose services read:
#   <dir>/review-api.env, feedback.env, router.env   that service's private key and key id
#   <dir>/public.env                                  every service: the public keys it trusts
# <dir> defaults to .local/compose-keys (git-ignored, outside the image build context). Keys
# already there are kept: remove the directory for new ones.
#
#   make compose-keys && docker compose up -d --build
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-.local/compose-keys}

if [[ -e "$dir/public.env" ]]; then
  echo "compose-keys: keeping the keys in $dir (remove it for new ones)"
  exit 0
fi
umask 077  # private keys: readable by their owner only
mkdir -p "$dir"
public=$(mktemp "$dir/public.env.XXXXXX")
for pair in review-api:DECISIONS feedback:SCORER_MODELS router:ROUTER_THRESHOLDS; do
  service=${pair%%:*}
  topic=${pair#*:}
  keys=$(${HITL_KEYS:-uv run --locked hitl-keys} new --kid "compose-$service")
  grep '^HITL_SIGNING_KEY' <<<"$keys" >"$dir/$service.env"
  # The JSON entry single-quoted: compose takes single-quoted env file values literally.
  printf "HITL_%s_VERIFY_KEYS='%s'\n" "$topic" "$(grep '^{' <<<"$keys")" >>"$public"
done
chmod 644 "$public"  # public keys
mv "$public" "$dir/public.env"
echo "compose-keys: wrote $dir (review-api.env, feedback.env, router.env, public.env)"
