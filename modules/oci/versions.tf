# modules/oci - a tenant's resources on Oracle Cloud Infrastructure, with
# the interface every module in modules/ has (see modules/README.md).
terraform {
  required_version = ">= 1.6"
  required_providers {
    oci    = { source = "oracle/oci", version = "~> 6.0" }
    random = { source = "hashicorp/random", version = "~> 3.6" }
  }
}

provider "oci" {
  region = var.region
}
