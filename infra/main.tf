data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

# Zones pinned by name, so the subnets never move when AWS adds a zone.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for suffix in var.availability_zone_suffixes : "${var.aws_region}${suffix}"]
  }
}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  azs        = data.aws_availability_zones.selected.names
  az_count   = length(var.availability_zone_suffixes)

  tags = merge(var.tags, {
    Project   = "ftm"
    ManagedBy = "terraform"
  })

  # S3 ARNs the box may touch; IAM policies below are built only from these.
  transcripts_bucket_arn  = "arn:${local.partition}:s3:::${var.transcripts_bucket}"
  transcripts_objects_arn = "arn:${local.partition}:s3:::${var.transcripts_bucket}/${var.transcripts_prefix}/*"
  compute_logs_arn        = "${aws_s3_bucket.ops.arn}/${var.compute_log_prefix}/*"
  code_artifact_arn       = "${aws_s3_bucket.ops.arn}/${var.code_artifact_key}"

  dagster_ui_port = 3000
  postgres_port   = 5432
}
