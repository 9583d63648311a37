# RDS PostgreSQL: the FTM tables (pgvector) and Dagster's storage, in two databases of one
# instance. Private subnets, no public address, encrypted, backed up, protected from deletion.

resource "aws_db_subnet_group" "main" {
  name_prefix = "${var.name}-db-"
  description = "FTM database subnets (no route out of the VPC)"
  subnet_ids  = aws_subnet.database[*].id
}

resource "aws_db_parameter_group" "main" {
  name_prefix = "${var.name}-pg${local.db_major_version}-"
  description = "FTM PostgreSQL ${local.db_major_version}: TLS only, slow-query and DDL logging"
  family      = "postgres${local.db_major_version}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "5000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  db_major_version = split(".", var.db_engine_version)[0]
}

# Generated at apply time (Secrets Manager GetRandomPassword) and handed only to write-only
# arguments: it reaches RDS and the secret but never the plan or the state. Letters and digits
# only, so it is safe in a libpq URL. Bump var.db_password_version to rotate.
ephemeral "aws_secretsmanager_random_password" "db" {
  password_length            = 40
  exclude_punctuation        = true
  require_each_included_type = true
}

resource "aws_db_instance" "main" {
  identifier     = "${var.name}-db"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  db_name             = var.db_name
  username            = var.db_username
  password_wo         = ephemeral.aws_secretsmanager_random_password.db.random_password
  password_wo_version = var.db_password_version

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  port                   = local.postgres_port
  parameter_group_name   = aws_db_parameter_group.main.name

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = var.db_skip_final_snapshot
  final_snapshot_identifier = "${var.name}-db-final"
  delete_automated_backups  = false

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn

  #checkov:skip=CKV_AWS_157:Single-AZ on purpose: a research database that is stopped between bursts; Multi-AZ doubles the hourly cost and backups cover recovery.
  #checkov:skip=CKV_AWS_354:Performance Insights uses the AWS-managed KMS key (no key policy to run, no monthly key fee).

  tags = { Name = "${var.name}-db" }
}

# Enhanced Monitoring (OS metrics every 60 s, a few cents a month in CloudWatch Logs).
data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name_prefix        = "${var.name}-rds-mon-"
  description        = "RDS Enhanced Monitoring for the FTM database"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
