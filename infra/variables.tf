# ---------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------
variable "aws_region" {
  description = "AWS region for every resource."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix for resource names (lowercase letters, digits and dashes)."
  type        = string
  default     = "ftm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 characters: lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags added to every resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "CIDR block of the VPC created for FTM."
  type        = string
  default     = "10.42.0.0/16"
}

variable "availability_zone_suffixes" {
  description = "Zones used, as letters after the region name (RDS needs two; more zones give the spot box more capacity pools)."
  type        = list(string)
  default     = ["a", "b"]

  validation {
    condition     = length(var.availability_zone_suffixes) >= 2 && alltrue([for s in var.availability_zone_suffixes : can(regex("^[a-z]$", s))])
    error_message = "Give at least two zone letters, e.g. [\"a\", \"b\"]."
  }
}

variable "ui_allowed_cidrs" {
  description = <<-EOT
    CIDRs allowed to reach the Dagster UI (port 3000) directly. Empty (the default) means the UI
    listens on 127.0.0.1 only and is reached through SSM port forwarding (scripts/ui-tunnel.sh).
    The UI has no login, so never open it to the internet.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for cidr in var.ui_allowed_cidrs : can(cidrhost(cidr, 0)) && !contains(["0.0.0.0/0", "::/0"], cidr)
    ])
    error_message = "ui_allowed_cidrs must be valid CIDRs and must not contain 0.0.0.0/0 or ::/0."
  }
}

# ---------------------------------------------------------------------------------------------
# GPU box (Dagster webserver + daemon + in-process runs)
# ---------------------------------------------------------------------------------------------
variable "instance_type" {
  description = "Instance type of the GPU box."
  type        = string
  default     = "g4dn.2xlarge"
}

variable "ami_id" {
  description = "AMI of the GPU box. Empty: the latest AWS Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) from ami_ssm_parameter."
  type        = string
  default     = ""
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter that names the default AMI (used when ami_id is empty)."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"
}

variable "root_volume_size_gb" {
  description = "Root volume of the GPU box (the DLAMI image itself takes most of 100 GB; the venv and caches need ~15 GB)."
  type        = number
  default     = 150
}

variable "spot_max_price" {
  description = "Maximum hourly spot price in USD as a string; empty means the on-demand price caps it (AWS default)."
  type        = string
  default     = ""
}

variable "box_desired_capacity" {
  description = "GPU boxes running right after the first apply (0 or 1). Later, scripts/box.sh start|stop owns this number; Terraform ignores drift."
  type        = number
  default     = 1

  validation {
    condition     = contains([0, 1], var.box_desired_capacity)
    error_message = "box_desired_capacity must be 0 or 1."
  }
}

variable "dagster_mode" {
  description = "single-box: runs execute in-process on the GPU box (infra/dagster/dagster.single-box.yaml). ecs: the box only schedules and ECS GPU tasks execute runs (dagster.ecs.yaml; needs enable_ecs_workers)."
  type        = string
  default     = "single-box"

  validation {
    condition     = contains(["single-box", "ecs"], var.dagster_mode)
    error_message = "dagster_mode must be single-box or ecs."
  }
}

variable "torch_version" {
  description = "PyTorch version installed on the box before the project."
  type        = string
  default     = "2.13.0"
}

variable "torch_index_url" {
  description = "Package index of the CUDA build of PyTorch (must match a CUDA version the AMI's driver supports)."
  type        = string
  default     = "https://download.pytorch.org/whl/cu128"
}

variable "code_artifact_key" {
  description = "Key, in the ops bucket, of the source tarball that scripts/ship-code.sh uploads and the box installs."
  type        = string
  default     = "artifacts/ftm-src.tar.gz"
}

variable "firms_per_run" {
  description = "Chunk size of the multi-run backfill policy (env FTM_FIRMS_PER_RUN); 0 keeps one run per quarter (single-run policy)."
  type        = number
  default     = 0
}

# ---------------------------------------------------------------------------------------------
# Database (RDS PostgreSQL; pgvector is created by the app's migrations)
# ---------------------------------------------------------------------------------------------
variable "db_engine_version" {
  description = "RDS PostgreSQL engine version (major, or major.minor). pgvector ships with RDS PostgreSQL 15.2+."
  type        = string
  default     = "17"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.large"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the database."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 200
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (1-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35 (0 would turn automated backups off)."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database until this is set to false and applied."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot on destroy (keep false unless the data is disposable)."
  type        = bool
  default     = false
}

variable "db_username" {
  description = "Master user of the database (used by the app and by Dagster)."
  type        = string
  default     = "ftm_admin"
}

variable "db_password_version" {
  description = "Bump to generate a new database password: it is written to RDS and Secrets Manager only (never to state). Restart the box afterwards."
  type        = number
  default     = 1
}

variable "db_name" {
  description = "Database of the FTM tables."
  type        = string
  default     = "ftm"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be a lowercase identifier."
  }
}

variable "dagster_db_name" {
  description = "Database of Dagster's run, event and schedule storage (created on the same instance at boot)."
  type        = string
  default     = "dagster"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.dagster_db_name))
    error_message = "dagster_db_name must be a lowercase identifier."
  }
}

# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------
variable "transcripts_bucket" {
  description = "Existing S3 bucket holding the earnings-call transcripts (read-only for FTM)."
  type        = string
}

variable "transcripts_prefix" {
  description = "Prefix (folder, no leading or trailing slash) of the transcripts in transcripts_bucket."
  type        = string
  default     = "transcripts"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.transcripts_prefix))
    error_message = "transcripts_prefix must be a non-empty key prefix without leading or trailing slash."
  }
}

variable "compute_log_prefix" {
  description = "Prefix of Dagster's step logs in the ops bucket."
  type        = string
  default     = "dagster-compute-logs"
}

variable "compute_log_retention_days" {
  description = "Days before compute logs (and flow logs) expire from the ops bucket."
  type        = number
  default     = 90
}

# ---------------------------------------------------------------------------------------------
# Outgrowing one box: ECS GPU workers (dagster_mode = "ecs")
# ---------------------------------------------------------------------------------------------
variable "enable_ecs_workers" {
  description = "Create the ECS cluster, GPU capacity provider, ECR repository and run task definition."
  type        = bool
  default     = false
}

variable "ecs_gpu_instance_type" {
  description = "Instance type of the ECS GPU workers (one run per GPU)."
  type        = string
  default     = "g4dn.xlarge"
}

variable "ecs_gpu_max_workers" {
  description = "Most GPU workers at once. Keep equal to concurrency.pools.default_limit in infra/dagster/dagster.ecs.yaml."
  type        = number
  default     = 4
}

variable "ecs_ami_id" {
  description = "AMI of the ECS GPU workers. Empty: the ECS-optimized GPU AMI from ecs_ami_ssm_parameter."
  type        = string
  default     = ""
}

variable "ecs_ami_ssm_parameter" {
  description = "Public SSM parameter of the ECS-optimized GPU AMI."
  type        = string
  default     = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
}

variable "ecs_worker_image_tag" {
  description = "Tag of the run-worker image in the ECR repository (the git commit that scripts/push-worker-image.sh pushed). Required when enable_ecs_workers is true."
  type        = string
  default     = ""
}

variable "ecs_worker_memory_mib" {
  description = "Memory reserved for one run task."
  type        = number
  default     = 14336
}
