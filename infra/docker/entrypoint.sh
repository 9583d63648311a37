#!/bin/sh
# Entry point of the GPU run-worker image. ECS injects DAGSTER_PG_USERNAME/PASSWORD and
# XAI_API_KEY from Secrets Manager; the app reads one database URL, built here so the password
# never appears in the task definition. Then run the command EcsRunLauncher passed.
set -eu

: "${FTM_DB_HOST:?FTM_DB_HOST is not set (task definition environment)}"
: "${FTM_DB_PORT:?FTM_DB_PORT is not set}"
: "${FTM_DB_NAME:?FTM_DB_NAME is not set}"
: "${DAGSTER_PG_USERNAME:?DAGSTER_PG_USERNAME is not set (task definition secrets)}"
: "${DAGSTER_PG_PASSWORD:?DAGSTER_PG_PASSWORD is not set (task definition secrets)}"

if [ -z "${FTM_DATABASE_URL:-}" ]; then
  FTM_DATABASE_URL=$(python - <<'PY'
import os
from urllib.parse import quote, urlencode

query = urlencode({"sslmode": os.environ.get("PGSSLMODE", "verify-full"),
                   "sslrootcert": os.environ.get("PGSSLROOTCERT", "/opt/ftm/rds-ca-bundle.pem")})
print(f"postgresql://{quote(os.environ['DAGSTER_PG_USERNAME'], safe='')}:"
      f"{quote(os.environ['DAGSTER_PG_PASSWORD'], safe='')}@{os.environ['FTM_DB_HOST']}:"
      f"{os.environ['FTM_DB_PORT']}/{os.environ['FTM_DB_NAME']}?{query}")
PY
)
  export FTM_DATABASE_URL
fi

exec "$@"
