# Two secrets, both read at boot by the box's instance role and by nothing else:
#  - the database credentials, written by Terraform through a write-only argument (never in state);
#  - the LLM API key, created empty here and filled by scripts/put-llm-key.sh, so its value never
#    passes through Terraform at all.

resource "aws_secretsmanager_secret" "db" {
  name_prefix             = "${var.name}/database-"
  description             = "FTM database master credentials: JSON {username, password}"
  recovery_window_in_days = 7

  #checkov:skip=CKV2_AWS_57:Rotation is manual and coordinated: bump db_password_version (RDS and the secret change together), then restart the box. Automatic rotation would break the long-running Dagster processes.
  #checkov:skip=CKV_AWS_149:AWS-managed key (aws/secretsmanager): no key policy to maintain, no monthly key fee; access is limited by the IAM policy to the box role.
}

resource "aws_secretsmanager_secret_version" "db" {
  secret_id = aws_secretsmanager_secret.db.id
  secret_string_wo = jsonencode({
    username = var.db_username
    password = ephemeral.aws_secretsmanager_random_password.db.random_password
  })
  secret_string_wo_version = var.db_password_version
}

resource "aws_secretsmanager_secret" "llm" {
  name_prefix             = "${var.name}/xai-api-key-"
  description             = "FTM LLM API key (XAI_API_KEY), set with infra/scripts/put-llm-key.sh"
  recovery_window_in_days = 7

  #checkov:skip=CKV2_AWS_57:The key is issued by the LLM provider; rotate it there and store it again with scripts/put-llm-key.sh.
  #checkov:skip=CKV_AWS_149:AWS-managed key (aws/secretsmanager); access is limited by the IAM policy to the box role.
}
