#!/bin/bash
# ftm-prepare.service (root, at every boot, before the Dagster services):
#   1. read the database credentials and the LLM key from Secrets Manager with the instance role
#      and write them to /etc/ftm/secrets.env (root-only, mode 0600) for systemd EnvironmentFile=;
#   2. wait until the database accepts connections;
#   3. create the Dagster database next to the FTM one if it is missing.
# Secret values are never printed. A stopped database is waited for, with a clear log line; a
# missing LLM key is reported and the box starts without it (the app's offline extractive mode).
set -euo pipefail

BOX_ENV=${BOX_ENV:-/etc/ftm/box.env}
SECRETS_ENV=${SECRETS_ENV:-/etc/ftm/secrets.env}
WAIT_SECONDS=${FTM_PREPARE_WAIT_SECONDS:-30}

log() { echo "ftm-prepare: $*"; }
die() { echo "ftm-prepare: $*" >&2; exit 1; }

[ -r "$BOX_ENV" ] || die "missing $BOX_ENV (written by the user data)"
set -a
# shellcheck source=/dev/null
. "$BOX_ENV"
set +a
for var in AWS_REGION FTM_DB_SECRET_ARN FTM_LLM_SECRET_ARN FTM_DB_HOST FTM_DB_PORT FTM_DB_NAME DAGSTER_PG_DB PGSSLROOTCERT; do
  [ -n "${!var:-}" ] || die "$var is not set in $BOX_ENV"
done
[[ "$DAGSTER_PG_DB" =~ ^[a-z][a-z0-9_]*$ ]] || die "DAGSTER_PG_DB must be a lowercase identifier"

secret_value() {
  aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" \
    --query SecretString --output text 2>/dev/null
}

until db_secret=$(secret_value "$FTM_DB_SECRET_ARN"); do
  log "cannot read the database secret $FTM_DB_SECRET_ARN yet; retrying in ${WAIT_SECONDS}s"
  sleep "$WAIT_SECONDS"
done
llm_key=""
for attempt in 1 2 3; do
  if llm_key=$(secret_value "$FTM_LLM_SECRET_ARN") && [ -n "$llm_key" ]; then
    break
  fi
  llm_key=""
  if [ "$attempt" -lt 3 ]; then sleep "$WAIT_SECONDS"; fi
done
if [ -z "$llm_key" ]; then
  # The app then writes extractive summaries instead of LLM ones (its documented offline mode).
  log "WARNING: the LLM key secret $FTM_LLM_SECRET_ARN has no value: runs will use the offline extractive mode. Store the key with infra/scripts/put-llm-key.sh, then run infra/scripts/box.sh restart"
fi

# Build the env file in Python: JSON parsing and URL quoting, values never on a command line.
umask 077
tmp_env=$(mktemp "$SECRETS_ENV.XXXXXX")
trap 'rm -f "$tmp_env"' EXIT
DB_SECRET=$db_secret LLM_KEY=$llm_key python3 - "$tmp_env" <<'PY'
import json
import os
import sys
from urllib.parse import quote, urlencode

creds = json.loads(os.environ["DB_SECRET"])
user, password = creds["username"], creds["password"]
query = urlencode({"sslmode": "verify-full", "sslrootcert": os.environ["PGSSLROOTCERT"]})
url = (
    f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
    f"@{os.environ['FTM_DB_HOST']}:{os.environ['FTM_DB_PORT']}/{os.environ['FTM_DB_NAME']}?{query}"
)
values = {
    "DAGSTER_PG_USERNAME": user,
    "DAGSTER_PG_PASSWORD": password,
    "FTM_DATABASE_URL": url,
}
if os.environ["LLM_KEY"].strip():
    values["XAI_API_KEY"] = os.environ["LLM_KEY"].strip()
for name, value in values.items():
    if "'" in value or "\n" in value:
        raise SystemExit(f"ftm-prepare: {name} contains a quote or a newline; refusing to write it")
with open(sys.argv[1], "w", encoding="utf-8") as env_file:
    env_file.writelines(f"{name}='{value}'\n" for name, value in values.items())
PY
chmod 0600 "$tmp_env"
mv -f "$tmp_env" "$SECRETS_ENV"
trap - EXIT
log "wrote $SECRETS_ENV (mode 0600)"

set -a
# shellcheck source=/dev/null
. "$SECRETS_ENV"
set +a
export PGHOST=$FTM_DB_HOST PGPORT=$FTM_DB_PORT PGUSER=$DAGSTER_PG_USERNAME PGDATABASE=$FTM_DB_NAME
export PGPASSWORD=$DAGSTER_PG_PASSWORD # for psql below; an environment variable, never an argument
until pg_isready --timeout=5 >/dev/null; do
  log "database $FTM_DB_HOST:$FTM_DB_PORT is not accepting connections (stopped? run infra/scripts/db.sh start); retrying in ${WAIT_SECONDS}s"
  sleep "$WAIT_SECONDS"
done
if [ "$(psql -XtAc "SELECT 1 FROM pg_database WHERE datname = '$DAGSTER_PG_DB'")" != "1" ]; then
  psql -Xq -c "CREATE DATABASE \"$DAGSTER_PG_DB\""
  log "created database $DAGSTER_PG_DB"
fi
log "database ready"
