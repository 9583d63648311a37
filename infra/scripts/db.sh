#!/bin/bash
# Start, stop or show the FTM database.
#   infra/scripts/db.sh start     start and wait until it is available (~5-10 min)
#   infra/scripts/db.sh stop      stop it (refuses while the GPU box is up; --force to insist)
#   infra/scripts/db.sh status
# A stopped RDS instance bills only storage and backups. AWS starts it again by itself after
# 7 days: run `db.sh stop` again if the pause is longer.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $SCRIPT_NAME start|stop [--force]|status" >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1
force=${2:-}

require_env AWS_REGION FTM_DB_INSTANCE_ID
require_aws_credentials

case "$action" in
  start)
    status=$(db_status)
    if [ "$status" = "stopped" ]; then
      aws rds start-db-instance --region "$AWS_REGION" --db-instance-identifier "$FTM_DB_INSTANCE_ID" >/dev/null
      echo "starting $FTM_DB_INSTANCE_ID ..."
    elif [ "$status" != "available" ] && [ "$status" != "starting" ]; then
      die "database $FTM_DB_INSTANCE_ID is '$status'; wait until it is stopped or available"
    fi
    aws rds wait db-instance-available --region "$AWS_REGION" --db-instance-identifier "$FTM_DB_INSTANCE_ID"
    echo "database $FTM_DB_INSTANCE_ID is available"
    ;;
  stop)
    require_env FTM_BOX_ASG
    if [ "$force" != "--force" ] && [ "$(box_desired_capacity)" != "0" ]; then
      die "the GPU box is up: run infra/scripts/box.sh stop first (or pass --force to stop the database under it)"
    fi
    status=$(db_status)
    if [ "$status" = "available" ]; then
      aws rds stop-db-instance --region "$AWS_REGION" --db-instance-identifier "$FTM_DB_INSTANCE_ID" >/dev/null
      echo "stopping $FTM_DB_INSTANCE_ID ..."
    elif [ "$status" != "stopping" ] && [ "$status" != "stopped" ]; then
      die "database $FTM_DB_INSTANCE_ID is '$status'; it can be stopped only when available"
    fi
    while [ "$(db_status)" != "stopped" ]; do sleep 20; done
    echo "database $FTM_DB_INSTANCE_ID is stopped (storage is still billed; AWS restarts it after 7 days)"
    ;;
  status)
    echo "database $FTM_DB_INSTANCE_ID: $(db_status)"
    ;;
  *)
    usage
    ;;
esac
