#!/bin/bash
# Build the GPU run-worker image from the committed code and push it to ECR (dagster_mode = "ecs").
# Prints the tag to set as ecs_worker_image_tag before `terraform apply`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_env AWS_REGION FTM_ECR_REPOSITORY_URL
require_tool git
require_tool docker "install Docker with BuildKit"
require_aws_credentials

repo_root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || die "not inside the FTM git repository"
[ -z "$(git -C "$repo_root" status --porcelain)" ] || die "commit your changes first: the image tag is the commit"
tag=$(git -C "$repo_root" rev-parse --short=12 HEAD)
image="$FTM_ECR_REPOSITORY_URL:$tag"
registry=${FTM_ECR_REPOSITORY_URL%%/*}

aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$registry"
git -C "$repo_root" archive --format=tar HEAD \
  | docker build --platform linux/amd64 -f infra/docker/Dockerfile.gpu-worker -t "$image" -
docker push "$image"
echo "pushed $image"
echo "set ecs_worker_image_tag = \"$tag\" and run terraform apply"
