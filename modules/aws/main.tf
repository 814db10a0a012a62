# Per tenant: a KMS key, an S3 bucket encrypted with it (versioned, no
# public access) for files and database snapshots, an IAM role the tenant's
# pods assume through IRSA with access to that bucket and key only, and with
# server = true an RDS PostgreSQL instance encrypted with the key.
locals {
  name = "${var.name_prefix}-${var.tenant}"
  tags = merge(var.labels, {
    "paybill.dev/tenant" = var.tenant
    "paybill.dev/tier"   = var.tier
    "paybill.dev/marker" = var.marker
  })
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "tenant" {
  description             = "paybill tenant ${var.tenant}"
  enable_key_rotation     = true
  deletion_window_in_days = 7
}

resource "aws_kms_alias" "tenant" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.tenant.key_id
}

resource "random_id" "bucket" {
  byte_length = 4
}

resource "aws_s3_bucket" "tenant" {
  bucket        = "${local.name}-${random_id.bucket.hex}"
  force_destroy = true
}

resource "aws_s3_bucket_versioning" "tenant" {
  bucket = aws_s3_bucket.tenant.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "tenant" {
  bucket = aws_s3_bucket.tenant.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.tenant.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "tenant" {
  bucket                  = aws_s3_bucket.tenant.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider_url}:sub"
      values   = ["system:serviceaccount:tenant-${var.tenant}:${var.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_provider_url}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "tenant" {
  name               = local.name
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

data "aws_iam_policy_document" "access" {
  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.tenant.arn]
  }
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.tenant.arn}/*"]
  }
  statement {
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [aws_kms_key.tenant.arn]
  }
}

resource "aws_iam_role_policy" "tenant" {
  name   = "tenant-data"
  role   = aws_iam_role.tenant.id
  policy = data.aws_iam_policy_document.access.json
}

resource "random_password" "db" {
  count   = var.server ? 1 : 0
  length  = 32
  special = false
}

resource "aws_db_instance" "tenant" {
  count                     = var.server ? 1 : 0
  identifier                = local.name
  engine                    = "postgres"
  engine_version            = var.postgres_version
  instance_class            = var.db_instance_class
  allocated_storage         = var.db_storage_gb
  db_name                   = "postgres"
  username                  = "paybill_admin"
  password                  = random_password.db[0].result
  storage_encrypted         = true
  kms_key_id                = aws_kms_key.tenant.arn
  db_subnet_group_name      = var.db_subnet_group
  vpc_security_group_ids    = var.db_security_group_ids
  publicly_accessible       = false
  backup_retention_period   = 7
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.name}-final"
  lifecycle {
    precondition {
      condition     = var.db_subnet_group != ""
      error_message = "server = true needs db_subnet_group."
    }
  }
}
