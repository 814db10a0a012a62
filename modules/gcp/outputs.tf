output "outputs" {
  value = merge({
    bucket     = google_storage_bucket.tenant.name
    bucket_url = google_storage_bucket.tenant.url
    key_id     = google_kms_crypto_key.tenant.id
    identity   = google_service_account.tenant.email
    }, var.server ? {
    db_host       = google_sql_database_instance.tenant[0].private_ip_address
    db_port       = "5432"
    db_admin_user = google_sql_user.admin[0].name
    db_sslmode    = "require"
  } : {})
}

output "sensitive_outputs" {
  value     = var.server ? { db_admin_password = random_password.db[0].result } : {}
  sensitive = true
}
