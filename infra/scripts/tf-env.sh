#!/bin/bash
# Print `export` lines for the other scripts from Terraform's outputs (names and ARNs only):
#   eval "$(infra/scripts/tf-env.sh)"
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_tool terraform "install Terraform >= 1.11"
require_tool python3
infra_dir=$(cd "$(dirname "$0")/.." && pwd)
outputs=$(terraform -chdir="$infra_dir" output -json) \
  || die "terraform output failed: run 'terraform init -backend-config=backend.hcl' and 'terraform apply' in $infra_dir first"

python3 - "$outputs" <<'PY'
import json
import shlex
import sys

outputs = json.loads(sys.argv[1])
names = {
    "AWS_REGION": "aws_region",
    "FTM_BOX_ASG": "box_asg_name",
    "FTM_DB_INSTANCE_ID": "db_instance_id",
    "FTM_OPS_BUCKET": "ops_bucket",
    "FTM_CODE_ARTIFACT_KEY": "code_artifact_key",
    "FTM_LLM_SECRET_ARN": "llm_secret_arn",
    "FTM_ECR_REPOSITORY_URL": "ecr_repository_url",
}
missing = [output for output in names.values() if output not in outputs]
if missing:
    sys.exit(f"tf-env.sh: Terraform outputs missing: {', '.join(missing)} (run terraform apply)")
for env_name, output in names.items():
    print(f"export {env_name}={shlex.quote(str(outputs[output]['value']))}")
PY
