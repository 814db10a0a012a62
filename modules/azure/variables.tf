# The interface shared by every module (modules/README.md).
variable "tenant" {
  type        = string
  description = "The tenant's name (a DNS label)."
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$", var.tenant))
    error_message = "tenant must be a DNS label of at most 20 characters (storage account names are short)."
  }
}

variable "tier" {
  type    = string
  default = ""
}

variable "region" {
  type        = string
  description = "The Azure location, e.g. westeurope."
}

variable "labels" {
  type    = map(string)
  default = {}
}

variable "server" {
  type        = bool
  description = "Provision an Azure Database for PostgreSQL flexible server for the silo `server` data layout."
  default     = false
}

variable "marker" {
  type    = string
  default = ""
}

# Azure specifics.
variable "subscription_id" {
  type = string
}

variable "name_prefix" {
  type    = string
  default = "paybill"
}

variable "oidc_issuer_url" {
  type        = string
  description = "The AKS cluster's OIDC issuer URL (workload identity)."
}

variable "service_account" {
  type    = string
  default = "default"
}

variable "postgres_version" {
  type    = string
  default = "15"
}

variable "db_sku" {
  type    = string
  default = "B_Standard_B1ms"
}

variable "db_storage_mb" {
  type    = number
  default = 32768
}

variable "db_delegated_subnet_id" {
  type        = string
  description = "With server: the subnet delegated to PostgreSQL flexible servers (private access)."
  default     = ""
}

variable "db_private_dns_zone_id" {
  type    = string
  default = ""
}
