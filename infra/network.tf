# One VPC: public subnets for the GPU box (outbound only: PyPI, S3, Secrets Manager, SSM, the LLM
# API; no inbound rule unless ui_allowed_cidrs is set), private subnets without any route out for RDS.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${var.name}-vpc" }
}

# Strip the default security group of its allow-all rules (nothing uses it).
resource "aws_default_security_group" "main" {
  vpc_id = aws_vpc.main.id
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name}-igw" }
}

resource "aws_subnet" "public" {
  count = local.az_count

  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, count.index)
  # The launch template asks for a public IP on the box only; nothing else gets one.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${local.azs[count.index]}" }
}

resource "aws_subnet" "database" {
  count = local.az_count

  vpc_id                  = aws_vpc.main.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, 100 + count.index)
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-db-${local.azs[count.index]}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${var.name}-public" }
}

resource "aws_route_table_association" "public" {
  count = local.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# The database subnets keep the VPC's main route table: local routes only, no way out.

# VPC flow logs go to the ops bucket (cheap S3 delivery, expired with the compute logs).
resource "aws_flow_log" "main" {
  vpc_id               = aws_vpc.main.id
  traffic_type         = "ALL"
  log_destination_type = "s3"
  log_destination      = "${aws_s3_bucket.ops.arn}/vpc-flow-logs/"

  depends_on = [aws_s3_bucket_policy.ops]
}

# ---------------------------------------------------------------------------------------------
# Security groups
# ---------------------------------------------------------------------------------------------
resource "aws_security_group" "box" {
  name_prefix = "${var.name}-box-"
  description = "FTM GPU box: no inbound (SSM), HTTPS/HTTP out, Postgres to the database only"
  vpc_id      = aws_vpc.main.id

  lifecycle {
    create_before_destroy = true
  }

  tags = { Name = "${var.name}-box" }
}

resource "aws_vpc_security_group_egress_rule" "box_https" {
  security_group_id = aws_security_group.box.id
  description       = "HTTPS: PyPI, PyTorch wheels, S3, Secrets Manager, SSM, LLM API"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "box_http" {
  security_group_id = aws_security_group.box.id
  description       = "HTTP: Ubuntu apt mirrors (packages are signed)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "box_to_db" {
  security_group_id            = aws_security_group.box.id
  description                  = "PostgreSQL to the FTM database"
  ip_protocol                  = "tcp"
  from_port                    = local.postgres_port
  to_port                      = local.postgres_port
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_ingress_rule" "box_ui" {
  for_each = toset(var.ui_allowed_cidrs)

  security_group_id = aws_security_group.box.id
  description       = "Dagster UI from an allow-listed network"
  ip_protocol       = "tcp"
  from_port         = local.dagster_ui_port
  to_port           = local.dagster_ui_port
  cidr_ipv4         = each.value
}

resource "aws_security_group" "db" {
  name_prefix = "${var.name}-db-"
  description = "FTM database: PostgreSQL from the GPU box (and ECS GPU workers) only"
  vpc_id      = aws_vpc.main.id

  lifecycle {
    create_before_destroy = true
  }

  tags = { Name = "${var.name}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_box" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the GPU box"
  ip_protocol                  = "tcp"
  from_port                    = local.postgres_port
  to_port                      = local.postgres_port
  referenced_security_group_id = aws_security_group.box.id
}
