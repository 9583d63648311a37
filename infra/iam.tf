# The GPU box's instance role. Least privilege:
#   - list and read the transcripts prefix only;
#   - write (and read back, for the UI) Dagster compute logs under their prefix only;
#   - read the one code artifact object;
#   - read exactly the two secrets;
#   - SSM Session Manager (the AWS-managed core policy) for the UI tunnel and a shell, no SSH.
# In dagster_mode = "ecs" it may also launch, watch and stop the run task definition.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "box" {
  name_prefix        = "${var.name}-box-"
  description        = "FTM GPU box: transcripts read, compute logs write, two secrets read, SSM"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_instance_profile" "box" {
  name_prefix = "${var.name}-box-"
  role        = aws_iam_role.box.name
}

resource "aws_iam_role_policy_attachment" "box_ssm" {
  role       = aws_iam_role.box.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "box" {
  statement {
    sid       = "ListTranscriptsPrefix"
    actions   = ["s3:ListBucket"]
    resources = [local.transcripts_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.transcripts_prefix, "${var.transcripts_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadTranscripts"
    actions   = ["s3:GetObject"]
    resources = [local.transcripts_objects_arn]
  }

  statement {
    sid       = "WriteComputeLogs"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = [local.compute_logs_arn]
  }

  statement {
    sid       = "ListComputeLogsPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.ops.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.compute_log_prefix, "${var.compute_log_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadCodeArtifact"
    actions   = ["s3:GetObject"]
    resources = [local.code_artifact_arn]
  }

  statement {
    sid     = "ReadOwnSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.db.arn,
      aws_secretsmanager_secret.llm.arn,
    ]
  }

  # dagster_aws.ecs.EcsRunLauncher, only when the box schedules runs onto ECS GPU workers.
  dynamic "statement" {
    for_each = var.enable_ecs_workers ? [1] : []

    content {
      sid       = "LaunchRunTasks"
      actions   = ["ecs:RunTask"]
      resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task-definition/${local.ecs_task_family}:*"]

      condition {
        test     = "ArnEquals"
        variable = "ecs:cluster"
        values   = [aws_ecs_cluster.workers[0].arn]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_ecs_workers ? [1] : []

    content {
      sid       = "WatchAndStopRunTasks"
      actions   = ["ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"]
      resources = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task/${aws_ecs_cluster.workers[0].name}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_ecs_workers ? [1] : []

    content {
      # DescribeTaskDefinition supports no resource-level permissions (AWS service authorization reference).
      sid       = "DescribeRunTaskDefinition"
      actions   = ["ecs:DescribeTaskDefinition"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_ecs_workers ? [1] : []

    content {
      sid     = "PassRunTaskRoles"
      actions = ["iam:PassRole"]
      resources = [
        aws_iam_role.ecs_task[0].arn,
        aws_iam_role.ecs_task_execution[0].arn,
      ]

      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ecs-tasks.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_ecs_workers ? [1] : []

    content {
      sid       = "ReadRunTaskLogs"
      actions   = ["logs:GetLogEvents"]
      resources = ["${aws_cloudwatch_log_group.ecs_runs[0].arn}:*"]
    }
  }
}

resource "aws_iam_role_policy" "box" {
  name   = "ftm-box"
  role   = aws_iam_role.box.id
  policy = data.aws_iam_policy_document.box.json
}
