output "outputs" {
  value = merge({
    bucket     = ibm_cos_bucket.tenant.bucket_name
    bucket_url = "cos://${var.region}/${ibm_cos_bucket.tenant.bucket_name}"
    key_id     = ibm_kms_key.tenant.crn
    identity   = ibm_iam_trusted_profile.tenant.id
    }, var.server ? {
    db_host       = data.ibm_database_connection.tenant[0].postgres[0].hosts[0].hostname
    db_port       = tostring(data.ibm_database_connection.tenant[0].postgres[0].hosts[0].port)
    db_admin_user = "admin"
    db_sslmode    = "require"
  } : {})
}

output "sensitive_outputs" {
  value     = var.server ? { db_admin_password = random_password.db[0].result } : {}
  sensitive = true
}
