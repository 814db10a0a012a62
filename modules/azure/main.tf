# Per tenant: a resource group, a Key Vault with a key, a storage account
# (blob versioning, no public access, encrypted with the key) and a
# container for files and database snapshots, a user-assigned managed
# identity federated with the tenant's ServiceAccount (workload identity)
# with data access to that account and key only, and with server = true a
# PostgreSQL flexible server on a private subnet.
locals {
  name = "${var.name_prefix}-${var.tenant}"
  # storage accounts: 3-24 lowercase letters and digits
  account = substr(replace("${var.name_prefix}${var.tenant}${random_string.suffix.result}", "-", ""), 0, 24)
  tags = merge(var.labels, {
    "paybill.dev-tenant" = var.tenant
    "paybill.dev-tier"   = var.tier
    "paybill.dev-marker" = var.marker
  })
}

data "azurerm_client_config" "current" {}

resource "random_string" "suffix" {
  length  = 4
  upper   = false
  special = false
}

resource "azurerm_resource_group" "tenant" {
  name     = local.name
  location = var.region
  tags     = local.tags
}

resource "azurerm_key_vault" "tenant" {
  name                       = substr("${local.name}-${random_string.suffix.result}", 0, 24)
  location                   = azurerm_resource_group.tenant.location
  resource_group_name        = azurerm_resource_group.tenant.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  purge_protection_enabled   = true
  soft_delete_retention_days = 7
  enable_rbac_authorization  = true
  tags                       = local.tags
}

resource "azurerm_key_vault_key" "tenant" {
  name         = "tenant-data"
  key_vault_id = azurerm_key_vault.tenant.id
  key_type     = "RSA"
  key_size     = 3072
  key_opts     = ["wrapKey", "unwrapKey"]
  rotation_policy {
    automatic {
      time_before_expiry = "P30D"
    }
    expire_after = "P365D"
  }
}

resource "azurerm_user_assigned_identity" "tenant" {
  name                = local.name
  location            = azurerm_resource_group.tenant.location
  resource_group_name = azurerm_resource_group.tenant.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "tenant" {
  name                = "tenant-${var.tenant}"
  resource_group_name = azurerm_resource_group.tenant.name
  parent_id           = azurerm_user_assigned_identity.tenant.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = var.oidc_issuer_url
  subject             = "system:serviceaccount:tenant-${var.tenant}:${var.service_account}"
}

resource "azurerm_role_assignment" "key" {
  scope                = azurerm_key_vault.tenant.id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_user_assigned_identity.tenant.principal_id
}

resource "azurerm_storage_account" "tenant" {
  name                            = local.account
  resource_group_name             = azurerm_resource_group.tenant.name
  location                        = azurerm_resource_group.tenant.location
  account_tier                    = "Standard"
  account_replication_type        = "ZRS"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  public_network_access_enabled   = false
  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.tenant.id]
  }
  customer_managed_key {
    key_vault_key_id          = azurerm_key_vault_key.tenant.versionless_id
    user_assigned_identity_id = azurerm_user_assigned_identity.tenant.id
  }
  blob_properties {
    versioning_enabled = true
  }
  tags       = local.tags
  depends_on = [azurerm_role_assignment.key]
}

resource "azurerm_storage_container" "tenant" {
  name                  = "tenant"
  storage_account_id    = azurerm_storage_account.tenant.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "blob" {
  scope                = azurerm_storage_account.tenant.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.tenant.principal_id
}

resource "random_password" "db" {
  count   = var.server ? 1 : 0
  length  = 32
  special = false
}

resource "azurerm_postgresql_flexible_server" "tenant" {
  count                         = var.server ? 1 : 0
  name                          = local.name
  resource_group_name           = azurerm_resource_group.tenant.name
  location                      = azurerm_resource_group.tenant.location
  version                       = var.postgres_version
  sku_name                      = var.db_sku
  storage_mb                    = var.db_storage_mb
  administrator_login           = "paybill_admin"
  administrator_password        = random_password.db[0].result
  delegated_subnet_id           = var.db_delegated_subnet_id
  private_dns_zone_id           = var.db_private_dns_zone_id
  public_network_access_enabled = false
  backup_retention_days         = 7
  tags                          = local.tags
  lifecycle {
    precondition {
      condition     = var.db_delegated_subnet_id != "" && var.db_private_dns_zone_id != ""
      error_message = "server = true needs db_delegated_subnet_id and db_private_dns_zone_id."
    }
  }
}
