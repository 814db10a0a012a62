# The interface shared by every module (modules/README.md).
variable "tenant" {
  type        = string
  description = "The tenant's name (a DNS label)."
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$", var.tenant))
    error_message = "tenant must be a DNS label of at most 40 characters."
  }
}

variable "tier" {
  type    = string
  default = ""
}

variable "region" {
  type        = string
  description = "The OCI region, e.g. eu-frankfurt-1."
}

variable "labels" {
  type    = map(string)
  default = {}
}

variable "server" {
  type        = bool
  description = "Provision an OCI Database with PostgreSQL system for the silo `server` data layout."
  default     = false
}

variable "marker" {
  type    = string
  default = ""
}

# OCI specifics.
variable "compartment_id" {
  type        = string
  description = "The compartment the tenant's resources go in."
}

variable "tenancy_id" {
  type        = string
  description = "The tenancy (dynamic groups and policies live at its root)."
}

variable "name_prefix" {
  type    = string
  default = "paybill"
}

variable "oke_cluster_id" {
  type        = string
  description = "The OKE cluster whose workload identities get access (OKE workload identity)."
}

variable "service_account" {
  type    = string
  default = "default"
}

variable "postgres_version" {
  type    = string
  default = "15"
}

variable "db_shape" {
  type    = string
  default = "PostgreSQL.VM.Standard.E4.Flex.2.32GB"
}

variable "db_subnet_id" {
  type        = string
  description = "With server: the private subnet of the DB system."
  default     = ""
}
