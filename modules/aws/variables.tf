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
  description = "The AWS region, e.g. eu-west-1."
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "labels" {
  type    = map(string)
  default = {}
}

variable "server" {
  type        = bool
  description = "Provision a PostgreSQL server (RDS) for the silo `server` data layout."
  default     = false
}

variable "marker" {
  type        = string
  description = "Any value; kept as a tag (tests use it to make a change)."
  default     = ""
}

# AWS specifics.
variable "name_prefix" {
  type    = string
  default = "paybill"
}

variable "oidc_provider_arn" {
  type        = string
  description = "The cluster's IAM OIDC provider (IRSA), e.g. arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC."
}

variable "oidc_provider_url" {
  type        = string
  description = "The same provider's URL without https://, e.g. oidc.eks.eu-west-1.amazonaws.com/id/ABC."
}

variable "service_account" {
  type        = string
  description = "The ServiceAccount in tenant-<tenant> whose pods assume the tenant's role."
  default     = "default"
}

variable "postgres_version" {
  type    = string
  default = "15"
}

variable "db_instance_class" {
  type    = string
  default = "db.t4g.small"
}

variable "db_storage_gb" {
  type    = number
  default = 20
}

variable "db_subnet_group" {
  type        = string
  description = "With server: the DB subnet group (private subnets the cluster reaches)."
  default     = ""
}

variable "db_security_group_ids" {
  type    = list(string)
  default = []
}
