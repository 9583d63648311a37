#!/bin/bash
# Start, stop or reach the GPU box (an Auto Scaling group of at most one spot instance).
#   infra/scripts/box.sh start     launch it (the database must be available: db.sh start)
#   infra/scripts/box.sh stop      terminate it and wait; runs in flight get SIGTERM and fail
#                                  cleanly, the next start marks leftovers failed
#   infra/scripts/box.sh restart   replace the instance (picks up newly shipped code)
#   infra/scripts/box.sh status
#   infra/scripts/box.sh shell     SSM shell on it (needs the session-manager-plugin)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $SCRIPT_NAME start|stop|restart|status|shell" >&2; exit 2; }
[ $# -eq 1 ] || usage
action=$1

require_env AWS_REGION FTM_BOX_ASG FTM_DB_INSTANCE_ID
require_aws_credentials

set_capacity() {
  aws autoscaling set-desired-capacity --region "$AWS_REGION" \
    --auto-scaling-group-name "$FTM_BOX_ASG" --desired-capacity "$1"
}

case "$action" in
  start)
    status=$(db_status)
    [ "$status" = "available" ] || die "database $FTM_DB_INSTANCE_ID is '$status': run infra/scripts/db.sh start first"
    set_capacity 1
    echo "GPU box requested. A fresh instance installs CUDA torch and the project (~10 min),"
    echo "then starts Dagster. Watch it with: $SCRIPT_NAME shell, then journalctl -fu ftm-prepare -u dagster-daemon"
    ;;
  stop)
    set_capacity 0
    echo "stopping the GPU box ..."
    while [ -n "$(box_instance_ids)" ]; do sleep 15; done
    echo "GPU box terminated (nothing of it is billed any more)"
    ;;
  restart)
    instance=$(running_box_instance)
    aws autoscaling terminate-instance-in-auto-scaling-group --region "$AWS_REGION" \
      --instance-id "$instance" --no-should-decrement-desired-capacity >/dev/null
    echo "replacing $instance; the new box installs the code last shipped with ship-code.sh"
    ;;
  status)
    echo "GPU box desired: $(box_desired_capacity); instances: $(box_instance_ids)"
    ;;
  shell)
    require_tool session-manager-plugin "install the AWS Session Manager plugin"
    instance=$(running_box_instance)
    exec aws ssm start-session --region "$AWS_REGION" --target "$instance"
    ;;
  *)
    usage
    ;;
esac
