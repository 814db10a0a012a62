# modules/aws - a tenant's resources on AWS, with the interface every module
# in modules/ has (see modules/README.md).
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws    = { source = "hashicorp/aws", version = "~> 5.0" }
    random = { source = "hashicorp/random", version = "~> 3.6" }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}
