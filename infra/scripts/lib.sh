# shellcheck shell=bash
# Helpers shared by infra/scripts/*.sh; sourced, never run. Every check fails with a message that
# says what is missing and how to provide it.

SCRIPT_NAME=$(basename "$0")

die() {
  echo "$SCRIPT_NAME: $*" >&2
  exit 1
}

# require_env VAR... : every named variable must be set and non-empty.
require_env() {
  local missing=() var
  for var in "$@"; do
    [ -n "${!var:-}" ] || missing+=("$var")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    die "missing environment variable(s): ${missing[*]}. Load them from Terraform's outputs with: eval \"\$(infra/scripts/tf-env.sh)\""
  fi
}

# require_tool NAME [HINT]
require_tool() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH${2:+ ($2)}"
}

require_aws_credentials() {
  require_tool aws "install the AWS CLI v2"
  aws sts get-caller-identity --query Account --output text >/dev/null 2>&1 \
    || die "no usable AWS credentials: set AWS_PROFILE, run 'aws sso login', or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
}

db_status() {
  aws rds describe-db-instances --region "$AWS_REGION" --db-instance-identifier "$FTM_DB_INSTANCE_ID" \
    --query 'DBInstances[0].DBInstanceStatus' --output text
}

box_desired_capacity() {
  aws autoscaling describe-auto-scaling-groups --region "$AWS_REGION" --auto-scaling-group-names "$FTM_BOX_ASG" \
    --query 'AutoScalingGroups[0].DesiredCapacity' --output text
}

box_instance_ids() {
  aws autoscaling describe-auto-scaling-groups --region "$AWS_REGION" --auto-scaling-group-names "$FTM_BOX_ASG" \
    --query 'AutoScalingGroups[0].Instances[].InstanceId' --output text
}

box_in_service_instance() {
  aws autoscaling describe-auto-scaling-groups --region "$AWS_REGION" --auto-scaling-group-names "$FTM_BOX_ASG" \
    --query "AutoScalingGroups[0].Instances[?LifecycleState=='InService'] | [0].InstanceId" --output text
}

# Prints the id of the box's running instance, or fails with a hint.
running_box_instance() {
  local instance
  instance=$(box_in_service_instance)
  if [ -z "$instance" ] || [ "$instance" = "None" ]; then
    die "no running GPU box: run infra/scripts/box.sh start"
  fi
  echo "$instance"
}
