#!/bin/bash
# Integration check without AWS: `terraform apply` of infra/ (single-box, then the ECS variant)
# against a moto server on 127.0.0.1, with the AWS provider from a local filesystem mirror
# (TF_PLUGIN_MIRROR, default /opt/tf-plugins). Proves that every resource, reference, policy
# document and template renders and applies; it does not prove AWS-side behaviour. Takes ~3 min
# (the provider polls RDS). Works on a copy of infra/ with a local state file.
# Two moto gaps are bridged in an override file used only here: AWS managed IAM policies are
# loaded (MOTO_IAM_LOAD_MANAGED_POLICIES) and the flow log goes to the bucket root, because moto
# does not accept a folder in an S3 log destination (AWS does).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
python=${FTM_PYTHON:-$repo_root/.venv/bin/python}
mirror=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
require_tool terraform "install Terraform >= 1.11"
[ -x "$python" ] || die "no Python at $python: set FTM_PYTHON to an interpreter with moto[server]"
"$python" -c "import moto.server" 2>/dev/null || die "$python lacks moto[server]: pip install 'moto[server]'"
[ -d "$mirror/registry.terraform.io/hashicorp/aws" ] || die "no AWS provider mirror under $mirror (set TF_PLUGIN_MIRROR)"

work=$(mktemp -d)
moto_pid=""
cleanup() {
  if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

MOTO_IAM_LOAD_MANAGED_POLICIES=true "$python" - "$work/moto-port" 2>"$work/moto.log" <<'PY' &
import sys
import time

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    handle.write(str(server.get_host_and_port()[1]))
while True:
    time.sleep(3600)
PY
moto_pid=$!
for _ in $(seq 1 100); do [ -s "$work/moto-port" ] && break; sleep 0.1; done
[ -s "$work/moto-port" ] || die "moto server did not start"

moto_port=$(cat "$work/moto-port")
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE="$work/terraformrc"
cat >"$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
RC

ami=$("$python" - <<'PY'
import boto3

boto3.client("s3").create_bucket(Bucket="example-transcripts")
print(boto3.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
PY
)

mkdir "$work/infra"
cp -R "$repo_root/infra"/. "$work/infra"
rm -rf "$work/infra/.terraform" "$work/infra/.terraform.lock.hcl" "$work/infra"/*.tfstate*
cat >"$work/infra/moto_override.tf" <<'TF'
terraform {
  backend "local" {}
}

provider "aws" {
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
}

resource "aws_flow_log" "main" {
  log_destination = aws_s3_bucket.ops.arn
}
TF
cat >"$work/infra/moto.tfvars" <<VARS
transcripts_bucket = "example-transcripts"
ami_id             = "$ami"
VARS
cat >"$work/infra/moto-ecs.tfvars" <<VARS
ecs_ami_id           = "$ami"
ecs_worker_image_tag = "moto"
VARS

tf() { terraform -chdir="$work/infra" "$@" -no-color; }
tf init -input=false >/dev/null
echo "apply (single box) ..."
tf apply -input=false -auto-approve -var-file=moto.tfvars >"$work/apply-box.log" \
  || { tail -n 40 "$work/apply-box.log"; die "apply of the single-box deployment failed"; }
echo "apply (ECS workers) ..."
tf apply -input=false -auto-approve -var-file=moto.tfvars -var-file=examples/ecs.tfvars -var-file=moto-ecs.tfvars \
  >"$work/apply-ecs.log" || { tail -n 40 "$work/apply-ecs.log"; die "apply of the ECS variant failed"; }
count=$(tf state list | wc -l)
echo "applied on moto: $count resources in state"

# The generated database password reached the secret, and nowhere else: not the state, not the
# launch templates' user data, not the outputs.
tf output -json >"$work/outputs.json"
"$python" - "$work/infra/terraform.tfstate" "$work/outputs.json" <<'PY'
import base64
import json
import sys

import boto3

state_text = open(sys.argv[1], encoding="utf-8").read()
outputs = json.load(open(sys.argv[2], encoding="utf-8"))
secret = json.loads(
    boto3.client("secretsmanager").get_secret_value(SecretId=outputs["db_secret_arn"]["value"])["SecretString"]
)
password = secret["password"]
assert len(password) == 40 and password.isalnum(), "expected a 40-character alphanumeric password"
assert password not in state_text, "the database password is in the Terraform state"
assert password not in json.dumps(outputs), "the database password is in an output"
ec2 = boto3.client("ec2")
for template in ec2.describe_launch_templates()["LaunchTemplates"]:
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
    for version in data["LaunchTemplateVersions"]:
        user_data = base64.b64decode(version["LaunchTemplateData"].get("UserData", "")).decode()
        assert password not in user_data, f"the password is in the user data of {template['LaunchTemplateName']}"
db = boto3.client("rds").describe_db_instances(DBInstanceIdentifier=outputs["db_instance_id"]["value"])
db = db["DBInstances"][0]
assert db["PubliclyAccessible"] is False and db["StorageEncrypted"] is True and db["DeletionProtection"] is True
print("password only in Secrets Manager; database private, encrypted, deletion-protected")
PY
