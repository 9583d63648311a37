terraform {
  # 1.11 is the first release with write-only arguments (password_wo, secret_string_wo),
  # which keep the database password out of the state file.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 has every argument used here (password_wo, secret_string_wo, the ephemeral
      # aws_secretsmanager_random_password); scripts/validate-offline.sh checks against it.
      version = ">= 5.100, < 7.0"
    }
  }

  # Remote state: partial configuration, completed at init time with
  #   terraform init -backend-config=backend.hcl
  # (copy backend.hcl.example; the state bucket is created once by hand, see README.md).
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}
