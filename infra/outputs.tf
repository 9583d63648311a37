# Names and addresses only: no output carries a password, a key or a secret value.

output "aws_region" {
  description = "Region of the deployment."
  value       = var.aws_region
}

output "box_asg_name" {
  description = "Auto Scaling group of the GPU box (scripts/box.sh start|stop)."
  value       = aws_autoscaling_group.box.name
}

output "db_instance_id" {
  description = "RDS instance identifier (scripts/db.sh start|stop)."
  value       = aws_db_instance.main.identifier
}

output "db_address" {
  description = "Private DNS name of the database (reachable from the box only)."
  value       = aws_db_instance.main.address
}

output "ops_bucket" {
  description = "Bucket of the code artifact, compute logs and flow logs."
  value       = aws_s3_bucket.ops.bucket
}

output "code_artifact_key" {
  description = "Key that scripts/ship-code.sh uploads and the box installs."
  value       = var.code_artifact_key
}

output "db_secret_arn" {
  description = "ARN (not the value) of the database credentials secret."
  value       = aws_secretsmanager_secret.db.arn
}

output "llm_secret_arn" {
  description = "ARN (not the value) of the LLM API key secret; fill it with scripts/put-llm-key.sh."
  value       = aws_secretsmanager_secret.llm.arn
}

output "ecr_repository_url" {
  description = "ECR repository of the GPU run-worker image (empty unless enable_ecs_workers)."
  value       = var.enable_ecs_workers ? aws_ecr_repository.worker[0].repository_url : ""
}

output "ecs_cluster_name" {
  description = "ECS cluster of the GPU workers (empty unless enable_ecs_workers)."
  value       = var.enable_ecs_workers ? aws_ecs_cluster.workers[0].name : ""
}
