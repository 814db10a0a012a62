# Per tenant: a Key Protect instance and root key, a Cloud Object Storage
# instance and bucket (versioned, private endpoint, encrypted with the key)
# for files and database snapshots, a trusted profile the tenant's pods
# assume (a compute resource link to its ServiceAccount) with access to that
# bucket and key only, and with server = true a Databases for PostgreSQL
# deployment encrypted with the key.
locals {
  name = "${var.name_prefix}-${var.tenant}"
  tags = concat(
    [for k, v in var.labels : "${k}:${v}"],
    ["paybill-tenant:${var.tenant}", "paybill-tier:${var.tier}", "paybill-marker:${var.marker}"]
  )
}

resource "ibm_resource_instance" "kms" {
  name              = "${local.name}-kms"
  service           = "kms"
  plan              = "tiered-pricing"
  location          = var.region
  resource_group_id = var.resource_group_id
  tags              = local.tags
}

resource "ibm_kms_key" "tenant" {
  instance_id  = ibm_resource_instance.kms.guid
  key_name     = "tenant-data"
  standard_key = false
  force_delete = true
}

resource "ibm_resource_instance" "cos" {
  name              = "${local.name}-cos"
  service           = "cloud-object-storage"
  plan              = "standard"
  location          = "global"
  resource_group_id = var.resource_group_id
  tags              = local.tags
}

resource "ibm_iam_authorization_policy" "cos_kms" {
  source_service_name         = "cloud-object-storage"
  source_resource_instance_id = ibm_resource_instance.cos.guid
  target_service_name         = "kms"
  target_resource_instance_id = ibm_resource_instance.kms.guid
  roles                       = ["Reader"]
}

resource "random_id" "suffix" {
  byte_length = 4
}

resource "ibm_cos_bucket" "tenant" {
  bucket_name          = "${local.name}-${random_id.suffix.hex}"
  resource_instance_id = ibm_resource_instance.cos.id
  region_location      = var.region
  storage_class        = "smart"
  endpoint_type        = "private"
  kms_key_crn          = ibm_kms_key.tenant.crn
  force_delete         = true
  object_versioning {
    enable = true
  }
  depends_on = [ibm_iam_authorization_policy.cos_kms]
}

resource "ibm_iam_trusted_profile" "tenant" {
  name        = local.name
  description = "paybill tenant ${var.tenant}: its pods"
}

resource "ibm_iam_trusted_profile_link" "tenant" {
  profile_id = ibm_iam_trusted_profile.tenant.id
  cr_type    = "IKS_SA"
  name       = "tenant-${var.tenant}"
  link {
    crn       = var.cluster_crn
    namespace = "tenant-${var.tenant}"
    name      = var.service_account
  }
}

resource "ibm_iam_trusted_profile_policy" "bucket" {
  profile_id = ibm_iam_trusted_profile.tenant.id
  roles      = ["Object Writer", "Object Reader"]
  resources {
    service              = "cloud-object-storage"
    resource_instance_id = ibm_resource_instance.cos.guid
    resource_type        = "bucket"
    resource             = ibm_cos_bucket.tenant.bucket_name
  }
}

resource "ibm_iam_trusted_profile_policy" "key" {
  profile_id = ibm_iam_trusted_profile.tenant.id
  roles      = ["Reader"]
  resources {
    service              = "kms"
    resource_instance_id = ibm_resource_instance.kms.guid
  }
}

resource "random_password" "db" {
  count   = var.server ? 1 : 0
  length  = 32
  special = false
}

resource "ibm_iam_authorization_policy" "db_kms" {
  count                       = var.server ? 1 : 0
  source_service_name         = "databases-for-postgresql"
  target_service_name         = "kms"
  target_resource_instance_id = ibm_resource_instance.kms.guid
  roles                       = ["Reader"]
}

resource "ibm_database" "tenant" {
  count                     = var.server ? 1 : 0
  name                      = "${local.name}-pg"
  service                   = "databases-for-postgresql"
  plan                      = var.db_plan
  location                  = var.region
  version                   = var.postgres_version
  resource_group_id         = var.resource_group_id
  adminpassword             = random_password.db[0].result
  service_endpoints         = "private"
  key_protect_key           = ibm_kms_key.tenant.crn
  backup_encryption_key_crn = ibm_kms_key.tenant.crn
  tags                      = local.tags
  depends_on                = [ibm_iam_authorization_policy.db_kms]
}

data "ibm_database_connection" "tenant" {
  count         = var.server ? 1 : 0
  deployment_id = ibm_database.tenant[0].id
  user_id       = "admin"
  user_type     = "database"
  endpoint_type = "private"
}
