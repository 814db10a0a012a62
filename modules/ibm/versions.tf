# modules/ibm - a tenant's resources on IBM Cloud, with the interface every
# module in modules/ has (see modules/README.md).
terraform {
  required_version = ">= 1.6"
  required_providers {
    ibm    = { source = "IBM-Cloud/ibm", version = "~> 1.70" }
    random = { source = "hashicorp/random", version = "~> 3.6" }
  }
}

provider "ibm" {
  region = var.region
}
