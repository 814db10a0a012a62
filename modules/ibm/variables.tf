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
  description = "The IBM Cloud region, e.g. eu-de."
}

variable "labels" {
  type    = map(string)
  default = {}
}

variable "server" {
  type        = bool
  description = "Provision an IBM Cloud Databases for PostgreSQL deployment for the silo `server` data layout."
  default     = false
}

variable "marker" {
  type    = string
  default = ""
}

# IBM Cloud specifics.
variable "resource_group_id" {
  type = string
}

variable "name_prefix" {
  type    = string
  default = "paybill"
}

variable "cluster_issuer_url" {
  type        = string
  description = "The cluster's service account token issuer (IKS/ROKS), for the trusted profile's compute resource link."
}

variable "cluster_crn" {
  type        = string
  description = "The CRN of the cluster whose pods assume the tenant's trusted profile."
}

variable "service_account" {
  type    = string
  default = "default"
}

variable "postgres_version" {
  type    = string
  default = "15"
}

variable "db_plan" {
  type    = string
  default = "standard"
}
