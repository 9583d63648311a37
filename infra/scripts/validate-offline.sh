#!/bin/bash
# Offline Terraform checks, no provider download: `terraform fmt -check` and `terraform validate`
# of infra/ against the AWS provider in a local filesystem mirror (TF_PLUGIN_MIRROR, default
# /opt/tf-plugins, laid out as registry.terraform.io/hashicorp/aws/<version>/<os_arch>/).
# Works on a copy, so infra/ gets no .terraform/ directory or lock file.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_tool terraform "install Terraform >= 1.11"
mirror=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
[ -d "$mirror/registry.terraform.io/hashicorp/aws" ] \
  || die "no AWS provider under $mirror/registry.terraform.io/hashicorp/aws: set TF_PLUGIN_MIRROR to a provider mirror (terraform providers mirror <dir> on a connected machine)"

infra_dir=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$infra_dir"/. "$work"
rm -rf "$work/.terraform" "$work/.terraform.lock.hcl"
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
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

terraform -chdir="$infra_dir" fmt -check -recursive
terraform -chdir="$work" init -backend=false -input=false -no-color >/dev/null
terraform -chdir="$work" validate -no-color
