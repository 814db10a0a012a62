output "outputs" {
  value = merge({
    bucket     = aws_s3_bucket.tenant.id
    bucket_url = "s3://${aws_s3_bucket.tenant.id}"
    key_id     = aws_kms_key.tenant.arn
    identity   = aws_iam_role.tenant.arn
    account    = data.aws_caller_identity.current.account_id
    }, var.server ? {
    db_host       = aws_db_instance.tenant[0].address
    db_port       = tostring(aws_db_instance.tenant[0].port)
    db_admin_user = aws_db_instance.tenant[0].username
    db_sslmode    = "require"
  } : {})
}

output "sensitive_outputs" {
  value     = var.server ? { db_admin_password = random_password.db[0].result } : {}
  sensitive = true
}
