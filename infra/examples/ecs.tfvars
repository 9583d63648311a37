# Outgrowing one box: the GPU box keeps the Dagster webserver and daemon, and ECS GPU workers run
# the backfill chunks. Used as: terraform apply -var-file=terraform.tfvars -var-file=examples/ecs.tfvars
# (CI also scans this variant with checkov: --var-file infra/examples/ecs.tfvars).
enable_ecs_workers    = true
dagster_mode          = "ecs"
instance_type         = "t3.large" # the box no longer needs a GPU
ecs_gpu_instance_type = "g4dn.xlarge"
ecs_gpu_max_workers   = 4         # = concurrency.pools.default_limit in infra/dagster/dagster.ecs.yaml
ecs_worker_image_tag  = "0000000" # replace with the commit that scripts/push-worker-image.sh pushed
firms_per_run         = 250
