#!/bin/bash
# Store the LLM API key (XAI_API_KEY) in its Secrets Manager secret. The key is read from stdin
# (typed without echo, or piped), never taken as an argument, and never written to the repository,
# to Terraform or to a log. The box reads it at its next boot (box.sh restart to apply now).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_env AWS_REGION FTM_LLM_SECRET_ARN
require_aws_credentials

if [ -t 0 ]; then
  read -rsp "LLM API key (input hidden): " key
  echo
else
  IFS= read -r key || true
fi
[ -n "$key" ] || die "empty key: nothing stored"

umask 077
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf '%s' "$key" >"$tmp"
unset key
aws secretsmanager put-secret-value --region "$AWS_REGION" --secret-id "$FTM_LLM_SECRET_ARN" \
  --secret-string "file://$tmp" --query VersionId --output text >/dev/null
echo "stored a new version of $FTM_LLM_SECRET_ARN"
