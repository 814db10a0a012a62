# The interface shared by every module (modules/README.md).
variable "tenant" {
  type        = string
  description = "The tenant's name (a DNS label)."
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$", var.tenant))
    error_message = "tenant must be a DNS label starting with a letter, at most 20 characters (service account ids are short)."
  }
}

variable "tier" {
  type    = string
  default = ""
}

variable "region" {
  type        = string
  description = "The Google Cloud region, e.g. europe-west1."
}

variable "labels" {
  type    = map(string)
  default = {}
}

variable "server" {
  type        = bool
  description = "Provision a Cloud SQL for PostgreSQL instance for the silo `server` data layout."
  default     = false
}

variable "marker" {
  type    = string
  default = ""
}

# Google Cloud specifics.
variable "project" {
  type = string
}

variable "name_prefix" {
  type    = string
  default = "paybill"
}

variable "service_account" {
  type        = string
  description = "The Kubernetes ServiceAccount in tenant-<tenant> bound to the tenant's Google service account (workload identity)."
  default     = "default"
}

variable "postgres_version" {
  type    = string
  default = "POSTGRES_15"
}

variable "db_tier" {
  type    = string
  default = "db-custom-1-3840"
}

variable "db_network" {
  type        = string
  description = "With server: the VPC self link the instance gets a private IP in."
  default     = ""
}
