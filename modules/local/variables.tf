variable "tenant" {
  type        = string
  description = "The tenant's name (a DNS label)."
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.tenant))
    error_message = "tenant must be a DNS label."
  }
}

variable "tier" {
  type    = string
  default = ""
}

variable "region" {
  type    = string
  default = ""
}

variable "labels" {
  type    = map(string)
  default = {}
}

variable "base_dir" {
  type        = string
  description = "Where tenants' buckets (and servers) live: <base_dir>/<tenant>/."
  default     = "/var/lib/paybill/local-cloud"
}

variable "server" {
  type        = bool
  description = "Start a dedicated PostgreSQL server on loopback for the silo `server` data layout."
  default     = false
}

variable "marker" {
  type        = string
  description = "Any value; changing it changes the bucket's marker object (tests use it to make a change)."
  default     = ""
}

variable "delay_s" {
  type        = number
  description = "Seconds each apply and destroy spends in a local-exec (tests use it to kill a run half-way)."
  default     = 0
}

variable "pg_lib" {
  type        = string
  description = "With server: the absolute path of the project's hack/lib/postgres.sh, which starts and stops the server (a module is copied when installed, so it cannot find it by itself)."
  default     = ""
  validation {
    condition     = var.pg_lib == "" || startswith(var.pg_lib, "/")
    error_message = "pg_lib must be an absolute path."
  }
}

variable "destroy_blocker" {
  type        = string
  description = "Tests: while a file exists at this path, destroying the module fails (to exercise failed destroys); empty: off."
  default     = ""
}
