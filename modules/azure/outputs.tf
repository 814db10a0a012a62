output "outputs" {
  value = merge({
    bucket     = "${azurerm_storage_account.tenant.name}/${azurerm_storage_container.tenant.name}"
    bucket_url = "${azurerm_storage_account.tenant.primary_blob_endpoint}${azurerm_storage_container.tenant.name}"
    key_id     = azurerm_key_vault_key.tenant.versionless_id
    identity   = azurerm_user_assigned_identity.tenant.client_id
    }, var.server ? {
    db_host       = azurerm_postgresql_flexible_server.tenant[0].fqdn
    db_port       = "5432"
    db_admin_user = azurerm_postgresql_flexible_server.tenant[0].administrator_login
    db_sslmode    = "require"
  } : {})
}

output "sensitive_outputs" {
  value     = var.server ? { db_admin_password = random_password.db[0].result } : {}
  sensitive = true
}
