#!/bin/bash
# Upload the committed code (git archive of HEAD) as the artifact the GPU box installs at boot.
# Uncommitted changes are not shipped. Then `box.sh restart` (or the next `box.sh start`) uses it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_env AWS_REGION FTM_OPS_BUCKET FTM_CODE_ARTIFACT_KEY
require_tool git
require_aws_credentials

repo_root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || die "not inside the FTM git repository"
commit=$(git -C "$repo_root" rev-parse HEAD)
if [ -n "$(git -C "$repo_root" status --porcelain)" ]; then
  echo "$SCRIPT_NAME: warning: uncommitted changes are not shipped; shipping commit $commit" >&2
fi

destination="s3://$FTM_OPS_BUCKET/$FTM_CODE_ARTIFACT_KEY"
git -C "$repo_root" archive --format=tar.gz HEAD \
  | aws s3 cp --region "$AWS_REGION" --only-show-errors --metadata "commit=$commit" - "$destination"
echo "shipped $commit to $destination"
