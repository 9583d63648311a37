# The GPU box: an Auto Scaling group of at most one spot instance built from a launch template.
#   start: scripts/box.sh start  (desired capacity 1)     stop: scripts/box.sh stop  (0)
# A spot interruption terminates the instance; the group then launches a fresh one, which
# bootstraps itself, marks the lost run failed and lets the sensor or retry job resume the quarter.
# The box holds no state: Dagster storage is in RDS, step logs in S3.

data "aws_ssm_parameter" "box_ami" {
  count = var.ami_id == "" ? 1 : 0

  name = var.ami_ssm_parameter
}

locals {
  box_ami_id = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.box_ami[0].insecure_value

  # Non-secret settings for the box; rendered into /etc/ftm/box.env by user data.
  box_user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    aws_region          = var.aws_region
    ops_bucket          = aws_s3_bucket.ops.bucket
    code_artifact_key   = var.code_artifact_key
    db_secret_arn       = aws_secretsmanager_secret.db.arn
    llm_secret_arn      = aws_secretsmanager_secret.llm.arn
    db_host             = aws_db_instance.main.address
    db_port             = local.postgres_port
    db_name             = var.db_name
    dagster_db_name     = var.dagster_db_name
    transcripts_uri     = "s3://${var.transcripts_bucket}/${var.transcripts_prefix}"
    compute_log_bucket  = aws_s3_bucket.ops.bucket
    compute_log_prefix  = var.compute_log_prefix
    torch_version       = var.torch_version
    torch_index_url     = var.torch_index_url
    dagster_mode        = var.dagster_mode
    webserver_host      = length(var.ui_allowed_cidrs) > 0 ? "0.0.0.0" : "127.0.0.1"
    firms_per_run       = var.firms_per_run
    ecs_cluster         = var.enable_ecs_workers ? aws_ecs_cluster.workers[0].name : ""
    ecs_task_definition = var.enable_ecs_workers ? aws_ecs_task_definition.run[0].family : ""
  })
}

data "aws_ami" "box" {
  owners = ["amazon", "self"]

  filter {
    name   = "image-id"
    values = [local.box_ami_id]
  }
}

resource "aws_launch_template" "box" {
  name_prefix            = "${var.name}-box-"
  description            = "FTM GPU box (spot): Dagster webserver, daemon and in-process runs"
  image_id               = local.box_ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data              = base64encode(local.box_user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.box.arn
  }

  instance_market_options {
    market_type = "spot"

    spot_options {
      # One-time requests are what Auto Scaling expects; it replaces an interrupted instance itself.
      spot_instance_type             = "one-time"
      instance_interruption_behavior = "terminate"
      max_price                      = var.spot_max_price != "" ? var.spot_max_price : null
    }
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  network_interfaces {
    # Outbound internet without a NAT gateway (which would bill ~$33/month even while stopped).
    # The security group has no inbound rule unless ui_allowed_cidrs is set.
    associate_public_ip_address = true
    delete_on_termination       = true
    security_groups             = [aws_security_group.box.id]
  }

  block_device_mappings {
    device_name = data.aws_ami.box.root_device_name

    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-box" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${var.name}-box" })
  }

  #checkov:skip=CKV_AWS_88:The box needs outbound internet and a public IP is the NAT-free way to get it; its security group admits no inbound traffic (SSM is outbound-initiated).
}

resource "aws_autoscaling_group" "box" {
  name                = "${var.name}-box"
  min_size            = 0
  max_size            = 1
  desired_capacity    = var.box_desired_capacity
  vpc_zone_identifier = aws_subnet.public[*].id
  health_check_type   = "EC2"
  # Give user data (CUDA torch install) time before the group judges the instance.
  health_check_grace_period = 900

  launch_template {
    id      = aws_launch_template.box.id
    version = aws_launch_template.box.latest_version
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-box"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.tags

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # scripts/box.sh owns the running count after the first apply.
    ignore_changes = [desired_capacity]
  }

  depends_on = [aws_iam_role_policy.box, aws_vpc_security_group_ingress_rule.db_from_box]
}
