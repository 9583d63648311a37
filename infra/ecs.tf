# Outgrowing one box (enable_ecs_workers = true, dagster_mode = "ecs"):
# the box keeps the webserver and daemon; dagster_aws.ecs.EcsRunLauncher starts every run as an
# ECS task on its own GPU instance (spot, scaled from zero by the capacity provider). A backfill
# with a multi-run policy (FTM_FIRMS_PER_RUN firms per run) then spreads over several GPUs, each
# run loading the model once; all of them share the RDS database. See infra/README.md.

locals {
  ecs_task_family = "${var.name}-gpu-run"
  ecs_image       = var.enable_ecs_workers ? "${aws_ecr_repository.worker[0].repository_url}:${var.ecs_worker_image_tag}" : ""
}

resource "aws_ecr_repository" "worker" {
  count = var.enable_ecs_workers ? 1 : 0

  name                 = "${var.name}-gpu-worker"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}

resource "aws_ecs_cluster" "workers" {
  count = var.enable_ecs_workers ? 1 : 0

  name = "${var.name}-workers"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "ecs_runs" {
  count = var.enable_ecs_workers ? 1 : 0

  name              = "/ecs/${local.ecs_task_family}"
  retention_in_days = 365

  #checkov:skip=CKV_AWS_158:CloudWatch Logs' default encryption (AWS-owned key); run logs hold no secret values, and a CMK would add a key policy and a monthly fee.
}

# --- GPU container instances ---------------------------------------------------------------

data "aws_ssm_parameter" "ecs_gpu_ami" {
  count = var.enable_ecs_workers && var.ecs_ami_id == "" ? 1 : 0

  name = var.ecs_ami_ssm_parameter
}

resource "aws_iam_role" "ecs_instance" {
  count = var.enable_ecs_workers ? 1 : 0

  name_prefix        = "${var.name}-ecs-node-"
  description        = "FTM ECS GPU container instances"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "ecs_instance" {
  for_each = var.enable_ecs_workers ? toset([
    "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
  ]) : toset([])

  role       = aws_iam_role.ecs_instance[0].name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "ecs_instance" {
  count = var.enable_ecs_workers ? 1 : 0

  name_prefix = "${var.name}-ecs-node-"
  role        = aws_iam_role.ecs_instance[0].name
}

resource "aws_security_group" "ecs_worker" {
  count = var.enable_ecs_workers ? 1 : 0

  name_prefix = "${var.name}-ecs-worker-"
  description = "FTM ECS GPU workers: no inbound, HTTPS out, Postgres to the database only"
  vpc_id      = aws_vpc.main.id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "ecs_worker_https" {
  count = var.enable_ecs_workers ? 1 : 0

  security_group_id = aws_security_group.ecs_worker[0].id
  description       = "HTTPS: ECR, ECS, S3, Secrets Manager, LLM API"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "ecs_worker_to_db" {
  count = var.enable_ecs_workers ? 1 : 0

  security_group_id            = aws_security_group.ecs_worker[0].id
  description                  = "PostgreSQL to the FTM database"
  ip_protocol                  = "tcp"
  from_port                    = local.postgres_port
  to_port                      = local.postgres_port
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_ecs_worker" {
  count = var.enable_ecs_workers ? 1 : 0

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the ECS GPU workers"
  ip_protocol                  = "tcp"
  from_port                    = local.postgres_port
  to_port                      = local.postgres_port
  referenced_security_group_id = aws_security_group.ecs_worker[0].id
}

resource "aws_launch_template" "ecs_gpu" {
  count = var.enable_ecs_workers ? 1 : 0

  name_prefix            = "${var.name}-ecs-gpu-"
  description            = "FTM ECS GPU worker (spot)"
  image_id               = var.ecs_ami_id != "" ? var.ecs_ami_id : data.aws_ssm_parameter.ecs_gpu_ami[0].insecure_value
  instance_type          = var.ecs_gpu_instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data = base64encode(templatefile("${path.module}/templates/ecs_user_data.sh.tftpl", {
    cluster_name = aws_ecs_cluster.workers[0].name
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.ecs_instance[0].arn
  }

  instance_market_options {
    market_type = "spot"

    spot_options {
      spot_instance_type             = "one-time"
      instance_interruption_behavior = "terminate"
      max_price                      = var.spot_max_price != "" ? var.spot_max_price : null
    }
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1 # containers use the task role, never the instance role
    instance_metadata_tags      = "disabled"
  }

  network_interfaces {
    associate_public_ip_address = true
    delete_on_termination       = true
    security_groups             = [aws_security_group.ecs_worker[0].id]
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = 100
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  #checkov:skip=CKV_AWS_88:Outbound internet without a NAT gateway; the security group admits no inbound traffic.
}

resource "aws_autoscaling_group" "ecs_gpu" {
  count = var.enable_ecs_workers ? 1 : 0

  name                  = "${var.name}-ecs-gpu"
  min_size              = 0
  max_size              = var.ecs_gpu_max_workers
  vpc_zone_identifier   = aws_subnet.public[*].id
  protect_from_scale_in = true # ECS managed termination protection: never kill a busy worker

  launch_template {
    id      = aws_launch_template.ecs_gpu[0].id
    version = aws_launch_template.ecs_gpu[0].latest_version
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-ecs-gpu" })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity] # the capacity provider scales it
  }
}

resource "aws_ecs_capacity_provider" "gpu" {
  count = var.enable_ecs_workers ? 1 : 0

  name = "${var.name}-gpu"

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.ecs_gpu[0].arn
    managed_termination_protection = "ENABLED"

    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "workers" {
  count = var.enable_ecs_workers ? 1 : 0

  cluster_name       = aws_ecs_cluster.workers[0].name
  capacity_providers = [aws_ecs_capacity_provider.gpu[0].name]

  # RunTask without a launch type uses this strategy, so dagster.ecs.yaml needs only the cluster.
  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.gpu[0].name
    weight            = 1
  }
}

# --- The run task ------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Pulls the image, writes the log stream and injects the two secrets into the container.
resource "aws_iam_role" "ecs_task_execution" {
  count = var.enable_ecs_workers ? 1 : 0

  name_prefix        = "${var.name}-ecs-exec-"
  description        = "FTM run task execution: ECR pull, logs, the two secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "ecs_task_execution" {
  count = var.enable_ecs_workers ? 1 : 0

  role       = aws_iam_role.ecs_task_execution[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "ecs_task_execution" {
  statement {
    sid     = "InjectOwnSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.db.arn,
      aws_secretsmanager_secret.llm.arn,
    ]
  }
}

resource "aws_iam_role_policy" "ecs_task_execution" {
  count = var.enable_ecs_workers ? 1 : 0

  name   = "ftm-secrets"
  role   = aws_iam_role.ecs_task_execution[0].id
  policy = data.aws_iam_policy_document.ecs_task_execution.json
}

# What the run itself may do: the same S3 scope as the box, nothing else.
resource "aws_iam_role" "ecs_task" {
  count = var.enable_ecs_workers ? 1 : 0

  name_prefix        = "${var.name}-ecs-run-"
  description        = "FTM run task: transcripts read, compute logs write"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "ecs_task" {
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
}

resource "aws_iam_role_policy" "ecs_task" {
  count = var.enable_ecs_workers ? 1 : 0

  name   = "ftm-run"
  role   = aws_iam_role.ecs_task[0].id
  policy = data.aws_iam_policy_document.ecs_task.json
}

resource "aws_ecs_task_definition" "run" {
  count = var.enable_ecs_workers ? 1 : 0

  family                   = local.ecs_task_family
  requires_compatibilities = ["EC2"]
  network_mode             = "bridge"
  memory                   = tostring(var.ecs_worker_memory_mib) # hard limit of the task
  execution_role_arn       = aws_iam_role.ecs_task_execution[0].arn
  task_role_arn            = aws_iam_role.ecs_task[0].arn

  container_definitions = jsonencode([
    {
      # EcsRunLauncher overrides the command of the container named here (dagster.ecs.yaml).
      name              = "run"
      image             = local.ecs_image
      essential         = true
      memoryReservation = var.ecs_worker_memory_mib
      stopTimeout       = 110 # SIGTERM on spot draining, then time to roll back the current firm
      resourceRequirements = [
        { type = "GPU", value = "1" },
      ]
      environment = [
        { name = "AWS_REGION", value = var.aws_region },
        { name = "DAGSTER_PG_HOST", value = aws_db_instance.main.address },
        { name = "DAGSTER_PG_PORT", value = tostring(local.postgres_port) },
        { name = "DAGSTER_PG_DB", value = var.dagster_db_name },
        { name = "FTM_DB_HOST", value = aws_db_instance.main.address },
        { name = "FTM_DB_PORT", value = tostring(local.postgres_port) },
        { name = "FTM_DB_NAME", value = var.db_name },
        { name = "PGSSLMODE", value = "verify-full" },
        { name = "PGSSLROOTCERT", value = "/opt/ftm/rds-ca-bundle.pem" },
        { name = "FTM_TRANSCRIPTS_URI", value = "s3://${var.transcripts_bucket}/${var.transcripts_prefix}" },
        { name = "DAGSTER_COMPUTE_LOG_BUCKET", value = aws_s3_bucket.ops.bucket },
        { name = "DAGSTER_COMPUTE_LOG_PREFIX", value = var.compute_log_prefix },
        { name = "FTM_FIRMS_PER_RUN", value = tostring(var.firms_per_run) },
      ]
      secrets = [
        { name = "DAGSTER_PG_USERNAME", valueFrom = "${aws_secretsmanager_secret.db.arn}:username::" },
        { name = "DAGSTER_PG_PASSWORD", valueFrom = "${aws_secretsmanager_secret.db.arn}:password::" },
        { name = "XAI_API_KEY", valueFrom = aws_secretsmanager_secret.llm.arn },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.ecs_runs[0].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "run"
        }
      }
    }
  ])

  lifecycle {
    precondition {
      condition     = var.ecs_worker_image_tag != ""
      error_message = "Set ecs_worker_image_tag to the tag that infra/scripts/push-worker-image.sh pushed."
    }
  }
}
