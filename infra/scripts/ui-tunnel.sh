#!/bin/bash
# Open the Dagster UI of the GPU box on http://localhost:${FTM_UI_LOCAL_PORT:-3000} through an
# SSM port-forwarding session: no inbound port, no SSH key. Ctrl-C closes the tunnel.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

local_port=${FTM_UI_LOCAL_PORT:-3000}

require_env AWS_REGION FTM_BOX_ASG
require_tool session-manager-plugin "install the AWS Session Manager plugin"
require_aws_credentials

instance=$(running_box_instance)

echo "Dagster UI: http://localhost:$local_port (Ctrl-C to close)"
exec aws ssm start-session --region "$AWS_REGION" --target "$instance" \
  --document-name AWS-StartPortForwardingSession \
  --parameters "portNumber=3000,localPortNumber=$local_port"
