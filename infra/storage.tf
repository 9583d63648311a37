# The ops bucket: Dagster compute logs, the code artifact shipped by scripts/ship-code.sh, and
# VPC flow logs. The transcripts bucket is yours and stays outside Terraform (read-only here).

resource "aws_s3_bucket" "ops" {
  bucket_prefix = "${var.name}-ops-"

  #checkov:skip=CKV_AWS_18:Server access logging would need a second bucket; CloudTrail data events can be turned on account-wide if required.
  #checkov:skip=CKV_AWS_144:Cross-region replication is not needed: compute logs and flow logs are disposable, the code artifact is rebuilt from git.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications.
}

resource "aws_s3_bucket_public_access_block" "ops" {
  bucket                  = aws_s3_bucket.ops.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "ops" {
  bucket = aws_s3_bucket.ops.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ops" {
  bucket = aws_s3_bucket.ops.id

  rule {
    apply_server_side_encryption_by_default {
      # AWS-managed aws/s3 key: the box role needs no KMS grant.
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "ops" {
  bucket = aws_s3_bucket.ops.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "ops" {
  bucket = aws_s3_bucket.ops.id

  rule {
    id     = "expire-compute-logs"
    status = "Enabled"

    filter {
      prefix = "${var.compute_log_prefix}/"
    }

    expiration {
      days = var.compute_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  rule {
    id     = "expire-flow-logs"
    status = "Enabled"

    filter {
      prefix = "vpc-flow-logs/"
    }

    expiration {
      days = var.compute_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  rule {
    id     = "old-artifact-versions"
    status = "Enabled"

    filter {
      prefix = "artifacts/"
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.ops]
}

data "aws_iam_policy_document" "ops_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.ops.arn,
      "${aws_s3_bucket.ops.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "FlowLogsDeliveryWrite"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.ops.arn}/vpc-flow-logs/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "FlowLogsDeliveryCheck"
    actions   = ["s3:GetBucketAcl", "s3:ListBucket"]
    resources = [aws_s3_bucket.ops.arn]

    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "ops" {
  bucket = aws_s3_bucket.ops.id
  policy = data.aws_iam_policy_document.ops_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.ops]
}
