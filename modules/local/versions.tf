# modules/local - the `local` cloud target: the same interface as the cloud
# modules (variables tenant, tier, region, labels; outputs `outputs` and
# `sensitive_outputs`, two maps of strings), on this machine only.
#
# Providers: hashicorp/local (hack/providers.sh builds it from its Go
# module) and tofu's built-in terraform_data. hashicorp/random and
# hashicorp/null cannot be built here (see hack/providers.sh), so random
# values come from terraform_data's ids (random UUIDs made at create time
# and kept in state) and commands run as terraform_data provisioners.
terraform {
  required_version = ">= 1.6"
  required_providers {
    local = { source = "hashicorp/local" }
  }
}
